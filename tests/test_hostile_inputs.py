"""Hostile and broken inputs, as a user's files arrive (issue 16).

Each case builds its input as a real file, runs the command line (or the reader it reaches) on
CA Valenciennes Métropole offline, and checks four things: the exit code, a French message and
no traceback, the row accounting (every input row used or in a rejects file with its reason), and
that nothing unsafe is written (no live formula in a CSV or XLSX cell, no user file overwritten).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from zonesblanches.cli import main

T = ["--territoire", "245901160"]  # CA Valenciennes Métropole (35 communes)
ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "tests" / "data" / "carreaux" / "carreaux_200m_test.csv"
GRID_CELLS, GRID_PEOPLE = 9, 1440  # cells of the test grid inside the EPCI, and their `ind`

HEADER = ["id", "nom", "categorie", "commune", "code_insee", "lon", "lat"]
GOOD_ROWS = [
    [
        "G-1",
        "Garage solidaire de Valenciennes",
        "garage_solidaire",
        "Valenciennes",
        "59606",
        "3.51838",
        "50.35437",
    ],
    ["G-2", "Atelier vélo d'Anzin", "atelier_velo", "Anzin", "59014", "3.503759", "50.370772"],
    ["G-3", "Auto-école sociale", "auto_ecole_sociale", "Valenciennes", "59606", "", ""],
]

PAYLOADS = {
    "hyperlink": '=HYPERLINK("http://evil.example/x","cliquez")',
    "dde": "+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=2+2",
}
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
NOT_FRENCH = re.compile(
    r"Traceback|\w+Error\b|\w+Exception\b|\[Errno|No such file|Permission denied|"
    r"Is a directory|Not a directory"
)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _run(argv, capsys) -> tuple[int, str, str]:
    """Run the command line in process; any exception that escapes is a user-facing traceback."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    except BaseException as exc:  # noqa: BLE001 - what the user would see as a traceback
        pytest.fail(f"traceback pour l'utilisateur : {type(exc).__name__}: {exc}")
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _french_error(err: str) -> str:
    """The error line: starts with « Erreur : », no Python exception name, no English OS text."""
    lines = [line for line in err.splitlines() if line.startswith("Erreur")]
    assert lines, f"pas de message d'erreur en français : {err!r}"
    assert not NOT_FRENCH.search(err), err
    return lines[0]


def _write_csv(path: Path, rows, header=HEADER, delimiter=",", encoding="utf-8") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)  # \r\n: cells holding a CR get quoted
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_cells(path: Path):
    data = path.read_text(encoding="utf-8-sig")
    delimiter = (
        ";" if data.split("\n", 1)[0].count(";") > data.split("\n", 1)[0].count(",") else ","
    )
    for row in csv.reader(io.StringIO(data, newline=""), delimiter=delimiter):
        yield from row


def _assert_safe(folder: Path) -> list[str]:
    """No CSV or XLSX cell under ``folder`` can run as a formula; returns every text cell."""
    import openpyxl

    seen: list[str] = []
    for path in sorted(folder.rglob("*.csv")):
        for cell in _csv_cells(path):
            seen.append(cell)
            if cell.startswith(DANGEROUS):
                assert _is_number(cell), f"{path.name} : cellule dangereuse {cell!r}"
    for path in sorted(folder.rglob("*.xlsx")):
        book = openpyxl.load_workbook(path)  # formulas stay formulas (not data_only)
        for ws in book.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{path.name}/{ws.title} : formule {cell.value!r}"
                    if isinstance(cell.value, str):
                        seen.append(cell.value)
                        assert not cell.value.startswith(DANGEROUS), (
                            f"{path.name}/{ws.title}!{cell.coordinate} : {cell.value!r}"
                        )
    return seen


def _services_read(out: str) -> int:
    match = re.search(r"Services : (\d+) (?:services? )?lus?", out)
    assert match, out
    return int(match.group(1))


def _rejected(folder: Path, name: str = "rejets.csv") -> pd.DataFrame:
    header = (folder / name).read_text(encoding="utf-8-sig").split("\n", 1)[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    return pd.read_csv(folder / name, sep=sep, dtype=str, keep_default_na=False)


def _accounts(out: str, folder: Path, n_rows: int) -> pd.DataFrame:
    """Every data row of the services file is used or rejected (with line, field, reason)."""
    rejects = _rejected(folder)
    assert _services_read(out) + len(rejects) == n_rows, (out, rejects)
    assert rejects["motif"].str.len().gt(0).all()
    return rejects


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def no_write_as_root(monkeypatch):
    """Make ``folder`` refuse writes even to root (which ignores permission bits)."""

    def deny(folder: Path):
        os.chmod(folder, 0o555)
        if os.geteuid() != 0:
            return
        real_open = os.open

        def guarded(path, flags, *args, **kwargs):
            target = Path(os.fsdecode(path)).absolute()
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and folder in target.parents:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", guarded)
        import builtins
        import io as io_module

        real_io_open = io_module.open

        def guarded_io(file, mode="r", *args, **kwargs):
            writing = isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax+")
            if writing and folder in Path(os.fsdecode(file)).absolute().parents:
                raise PermissionError(13, "Permission denied", str(file))
            return real_io_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(io_module, "open", guarded_io)
        monkeypatch.setattr(builtins, "open", guarded_io)

    return deny


@pytest.fixture
def unreadable(monkeypatch):
    """Make ``path`` unreadable, even to root."""

    def deny(path: Path):
        os.chmod(path, 0)
        if os.geteuid() != 0:
            return
        import builtins
        import io as io_module

        real_io_open = io_module.open

        def guarded(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and Path(os.fsdecode(file)).absolute() == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_io_open(file, *args, **kwargs)

        monkeypatch.setattr(io_module, "open", guarded)
        monkeypatch.setattr(builtins, "open", guarded)

    return deny


# ----------------------------------------------------------------------------------------------
# 1. Formula injection in CSV and XLSX
# ----------------------------------------------------------------------------------------------


def _hostile_rows() -> list[list[str]]:
    rows = [list(r) for r in GOOD_ROWS]
    places = [
        ("Valenciennes", "59606", "3.51838", "50.35437"),
        ("Anzin", "59014", "3.503759", "50.370772"),
    ]
    for i, payload in enumerate(PAYLOADS.values()):
        commune, code, lon, lat = places[i % 2]
        rows.append([payload, payload, "garage_solidaire", commune, code, lon, lat])
    # a rejected row: its hostile values go to rejets.csv
    rows.append(["R-1", PAYLOADS["hyperlink"], PAYLOADS["dde"], "Valenciennes", "59606", "", ""])
    return rows


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """One full analysis (map, report, XLSX, GeoPackage) on a file of formula payloads."""
    import _pytest.monkeypatch

    mp = _pytest.monkeypatch.MonkeyPatch()
    mp.setenv("ZONESBLANCHES_HORS_LIGNE", "1")
    mp.setenv("ZONESBLANCHES_CACHE", str(tmp_path_factory.mktemp("cache")))
    tmp = tmp_path_factory.mktemp("hostile")
    rows = _hostile_rows()
    services = _write_csv(tmp / "services.csv", rows)
    out = tmp / "out"
    try:
        code = main(
            [
                "analyse",
                *T,
                "--services",
                str(services),
                "--sortie",
                str(out),
                "--mode",
                "voiture:10",
            ]
        )
    finally:
        mp.undo()
    return code, out, len(rows)


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_formula_payload_is_neutralised(hostile_run, name):
    code, out, n_rows = hostile_run
    assert code == 0
    seen = _assert_safe(out)
    payload = PAYLOADS[name].strip()
    # nothing lost: the payload is still there, as text behind a quote
    assert any(cell == "'" + payload or cell == "'" + PAYLOADS[name] for cell in seen), payload


def test_formula_run_accounts_for_every_row(hostile_run):
    code, out, n_rows = hostile_run
    assert code == 0
    rejects = _rejected(out)
    assert len(rejects) == 1 and rejects["ligne"].tolist() == ["11"]
    services = pd.read_excel(out / "diagnostic.xlsx", sheet_name="Services", dtype=str)
    assert len(services) + len(rejects) == n_rows


def test_numbers_stay_numbers_after_neutralisation(hostile_run):
    import openpyxl

    code, out, _ = hostile_run
    _assert_safe(out)
    ws = openpyxl.load_workbook(out / "diagnostic.xlsx")["Communes"]
    header = [c.value for c in ws[1]]
    col = header.index("population") + 1
    values = [ws.cell(row=r, column=col).value for r in range(2, ws.max_row + 1)]
    assert values and all(isinstance(v, int) for v in values)
    communes = pd.read_csv(out / "communes.csv", dtype={"code_insee": str})
    assert communes["population"].dtype.kind == "i"


def test_scenario_tables_are_neutralised(tmp_path, capsys):
    services = _write_csv(tmp_path / "s.csv", _hostile_rows())
    code, out, err = _run(
        [
            "scenario",
            *T,
            "--services",
            services,
            "--retirer",
            PAYLOADS["hyperlink"],
            "--ajouter",
            "garage_solidaire:59014",
            "--mode",
            "voiture:10",
            "--sans-carte",
            "--sortie",
            tmp_path / "out",
        ],
        capsys,
    )
    assert code == 0, err
    _assert_safe(tmp_path / "out")


def test_suggested_sites_are_neutralised(tmp_path, capsys):
    services = _write_csv(tmp_path / "s.csv", GOOD_ROWS)
    premises = _write_csv(
        tmp_path / "locaux.csv",
        [
            [
                PAYLOADS["hyperlink"],
                PAYLOADS["at"],
                "garage_solidaire",
                "Anzin",
                "59014",
                "3.503759",
                "50.370772",
            ]
        ],
    )
    code, out, err = _run(
        [
            "suggerer",
            *T,
            "--services",
            services,
            "--categorie",
            "garage_solidaire",
            "--candidats",
            "fichier",
            "--locaux",
            premises,
            "--seuil",
            "5",
            "--methode",
            "glouton",
            "--sans-carte",
            "--sortie",
            tmp_path / "out",
        ],
        capsys,
    )
    assert code == 0, err
    _assert_safe(tmp_path / "out")


# ----------------------------------------------------------------------------------------------
# 2. Carreaux with bad values
# ----------------------------------------------------------------------------------------------


def _grid_with(tmp_path: Path, column: str, value: str, line: int = 3) -> Path:
    """The test grid with one cell's ``column`` set to ``value`` (``line`` as a spreadsheet
    shows it; line 3 is a 55-inhabitant cell inside the EPCI)."""
    lines = GRID.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path = tmp_path / "carreaux.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _grid_totals(out: str) -> tuple[int, int]:
    match = re.search(r"(\d+) carreaux habités, ([\d\s\u202f]+) habitants", out)
    assert match, out
    return int(match.group(1)), int(re.sub(r"\D", "", match.group(2)))


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        pytest.param("ind", "", "ind", id="ind-vide"),
        pytest.param("ind", "nan", "ind", id="ind-nan"),
        pytest.param("ind", "beaucoup", "ind", id="ind-texte"),
        pytest.param("ind", "-40", "ind", id="ind-negatif"),
        pytest.param("idcar_200m", "CRS3035RES200mN30474ooE3857800", "idcar", id="idcar-illisible"),
    ],
)
def test_bad_grid_value_is_rejected_with_reason(tmp_path, capsys, column, value, reason):
    grid = _grid_with(tmp_path, column, value)
    out_dir = tmp_path / "out"
    code, out, err = _run(
        [
            "analyse",
            *T,
            "--carreaux",
            grid,
            "--mode",
            "marche:30",
            "--sans-carte",
            "--sortie",
            out_dir,
        ],
        capsys,
    )
    assert code == 0, err
    assert "nan" not in out.lower()
    cells, people = _grid_totals(out)
    assert (cells, people) == (GRID_CELLS - 1, GRID_PEOPLE - 55)
    rejects = _rejected(out_dir, "rejets_carreaux.csv")
    assert rejects["ligne"].tolist() == ["3"]
    assert reason in rejects["champ"].iloc[0] and rejects["motif"].iloc[0]
    # accounting: rows read = kept + rejected + outside the territory, printed
    match = re.search(
        r"(\d+) lignes? lues?, (\d+) carreaux? retenus?, (\d+) rejetée?s?, (\d+) hors du territoire",
        out,
    )
    assert match, out
    read, kept, rejected, outside = map(int, match.groups())
    assert read == 20 and kept == cells and rejected == 1 and kept + rejected + outside == read
    communes = pd.read_csv(out_dir / "communes.csv")
    assert communes["population"].sum() == people
    _assert_safe(out_dir)


# ----------------------------------------------------------------------------------------------
# 3. Interrupted runs, re-runs and the manifest
# ----------------------------------------------------------------------------------------------


def test_interrupt_is_french_exit_130_no_manifest(tmp_path, capsys, monkeypatch):
    import zonesblanches.api as api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "diagnostic", interrupted)
    out_dir = tmp_path / "out"
    code, out, err = _run(["analyse", *T, "--sans-carte", "--sortie", out_dir], capsys)
    assert code == 130
    assert "interrompu" in _french_error(err).lower()
    assert not (out_dir / "manifeste.json").exists()


def test_swallowed_sigint_still_ends_the_command(tmp_path, capsys, monkeypatch):
    """A real SIGINT whose KeyboardInterrupt some library swallows (as C code that clears
    the errors of a Python call it made does: the flaky « exit 0 » of issue 17) still ends
    the command at its next step: 130, the French message, no manifest; the process's own
    SIGINT handler is back afterwards."""
    import zonesblanches.api as api

    real = api.diagnostic
    swallowed = []

    def swallowing(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGINT)  # the handler runs here, in the main thread
            sum(range(1000))  # and its KeyboardInterrupt ends inside this try
        except BaseException as exc:  # noqa: BLE001 - the library's bare « except »
            swallowed.append(type(exc))
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "diagnostic", swallowing)
    before = signal.getsignal(signal.SIGINT)
    out_dir = tmp_path / "out"
    code, out, err = _run(["analyse", *T, "--sans-carte", "--sortie", out_dir], capsys)
    assert swallowed == [KeyboardInterrupt]
    assert code == 130
    assert "interrompu" in _french_error(err).lower()
    assert not (out_dir / "manifeste.json").exists()
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("lines", [1, 2])
def test_real_sigint_in_a_subprocess(tmp_path, lines):
    """Ctrl-C in the demo's first seconds, right after its first or second line."""
    out_dir = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ZONESBLANCHES_HORS_LIGNE": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from zonesblanches.cli import main; sys.exit(main(sys.argv[1:]))",
            "demo",
            "--sortie",
            str(out_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first = proc.stdout.readline()  # « === Vue régionale … »: inside the command
    assert "Vue régionale" in first
    for _ in range(lines - 1):
        proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrompu" in _french_error(err).lower()
    assert not (out_dir / "manifeste.json").exists()
    assert not list(out_dir.rglob("*.part")) and not list(out_dir.rglob("*.tmp*"))


# A library that swallows the KeyboardInterrupt of a Ctrl-C arriving while it is imported (as
# pyarrow's Cython code can): the finder raises a real SIGINT when pandas is first imported and
# its bare « except » eats the KeyboardInterrupt, then the import goes on normally.
_SWALLOWED_DURING_IMPORT = """
import importlib.abc, signal, sys

class Swallowing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            sys.meta_path.remove(self)
            try:
                signal.raise_signal(signal.SIGINT)
                sum(range(1000))
            except BaseException as exc:
                print("avale:", type(exc).__name__, file=sys.stderr)
        return None

sys.meta_path.insert(0, Swallowing())
from zonesblanches.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigint_swallowed_while_the_libraries_import_still_ends_the_command():
    """The command's modules import the heavy libraries (pandas, pyarrow, GeoPandas) only
    inside ``main``, where Ctrl-C is remembered: a SIGINT swallowed while they import still
    ends the command (130, French message). Before, ``import zonesblanches.cli`` imported them
    eagerly, the interrupt was lost and ``sources`` printed its table and exited 0."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ZONESBLANCHES_HORS_LIGNE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _SWALLOWED_DURING_IMPORT, "sources"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "avale: KeyboardInterrupt" in proc.stderr  # the interrupt came and was swallowed
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "interrompu" in _french_error(proc.stderr).lower()


def test_importing_the_command_imports_no_heavy_library():
    """What runs before ``main`` installs its Ctrl-C handler stays small: no pandas, NumPy,
    pyarrow or GeoPandas (their C code can swallow an interrupt, and they take seconds)."""
    code = (
        "import sys, zonesblanches.cli; "
        "print(sorted({'pandas', 'numpy', 'pyarrow', 'geopandas', 'scipy'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_manifest_lists_every_file_with_size_and_hash(tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, out, err = _run(["analyse", *T, "--sans-carte", "--sortie", out_dir], capsys)
    assert code == 0
    manifest = json.loads((out_dir / "manifeste.json").read_text(encoding="utf-8"))
    for key in ("version", "debut", "fin", "parametres", "fichiers"):
        assert key in manifest
    assert manifest["parametres"]["territoire"] == "245901160"
    listed = {f["nom"]: f for f in manifest["fichiers"]}
    on_disk = {
        p.relative_to(out_dir).as_posix()
        for p in out_dir.rglob("*")
        if p.is_file() and p.name != "manifeste.json"
    }
    assert set(listed) == on_disk
    for name, entry in listed.items():
        assert entry["taille_octets"] == (out_dir / name).stat().st_size
        assert entry["sha256"] == _digest(out_dir / name)


def test_rerun_removes_the_previous_runs_own_files(tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert _run(["analyse", *T, "--mode", "voiture:10", "--sortie", out_dir], capsys)[0] == 0
    assert (out_dir / "carte.html").exists() and (out_dir / "figures").is_dir()
    notes = out_dir / "mes_notes.txt"  # the user's own file: never touched
    notes.write_text("à garder", encoding="utf-8")
    assert _run(["analyse", *T, "--sans-carte", "--sortie", out_dir], capsys)[0] == 0
    assert not (out_dir / "carte.html").exists() and not (out_dir / "figures").exists()
    assert not (out_dir / "diagnostic.xlsx").exists()
    assert notes.read_text(encoding="utf-8") == "à garder"
    manifest = json.loads((out_dir / "manifeste.json").read_text(encoding="utf-8"))
    assert "carte.html" not in {f["nom"] for f in manifest["fichiers"]}


def test_outputs_of_unknown_origin_are_not_overwritten(tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    mine = out_dir / "communes.csv"
    mine.write_text("mon tableau\n", encoding="utf-8")
    code, out, err = _run(["analyse", *T, "--sans-carte", "--sortie", out_dir], capsys)
    assert code == 2
    assert "--ecraser" in _french_error(err)
    assert mine.read_text(encoding="utf-8") == "mon tableau\n"
    code, out, err = _run(["analyse", *T, "--sans-carte", "--ecraser", "--sortie", out_dir], capsys)
    assert code == 0 and (out_dir / "manifeste.json").exists()


# ----------------------------------------------------------------------------------------------
# 4. OS errors
# ----------------------------------------------------------------------------------------------


def test_unreadable_services_file(tmp_path, capsys, unreadable):
    services = _write_csv(tmp_path / "s.csv", GOOD_ROWS)
    unreadable(services.absolute())
    code, out, err = _run(
        ["analyse", *T, "--services", services, "--sortie", tmp_path / "o"], capsys
    )
    assert code == 2
    assert "droit" in _french_error(err) or "lire" in _french_error(err)


def test_output_folder_is_a_file(tmp_path, capsys):
    target = tmp_path / "resultat.txt"
    target.write_text("à moi", encoding="utf-8")
    code, out, err = _run(["analyse", *T, "--sans-carte", "--sortie", target], capsys)
    assert code == 2
    assert "dossier" in _french_error(err)
    assert target.read_text(encoding="utf-8") == "à moi"
    assert "Territoire" not in out  # refused before anything is read or computed


def test_output_folder_is_dev_null(tmp_path, capsys):
    code, out, err = _run(["analyse", *T, "--sans-carte", "--sortie", "/dev/null"], capsys)
    assert code == 2
    assert "dossier" in _french_error(err)


def test_read_only_output_folder_refused_before_computing(tmp_path, capsys, no_write_as_root):
    out_dir = tmp_path / "lecture_seule"
    out_dir.mkdir()
    no_write_as_root(out_dir.absolute())
    code, out, err = _run(["analyse", *T, "--sans-carte", "--sortie", out_dir], capsys)
    assert code == 2
    assert "écrire" in _french_error(err)
    assert "Résultats" not in out  # checked before computing
    assert not list(out_dir.iterdir())


def test_existing_file_named_figures(tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "figures").write_text("pas un dossier", encoding="utf-8")
    code, out, err = _run(["analyse", *T, "--mode", "voiture:10", "--sortie", out_dir], capsys)
    assert code == 2
    assert "figures" in _french_error(err)
    assert (out_dir / "figures").read_text(encoding="utf-8") == "pas un dossier"


def test_services_dev_zero(tmp_path, capsys):
    code, out, err = _run(
        ["analyse", *T, "--services", "/dev/zero", "--sortie", tmp_path / "o"], capsys
    )
    assert code == 2
    assert "fichier ordinaire" in _french_error(err)


def test_services_file_over_the_size_cap(tmp_path, capsys):
    from zonesblanches.geodata._tables import MAX_SERVICES_BYTES

    big = tmp_path / "enorme.csv"
    with open(big, "wb") as f:  # sparse: costs no disk
        f.write(",".join(HEADER).encode() + b"\n")
        f.truncate(MAX_SERVICES_BYTES + 1)
    code, out, err = _run(["analyse", *T, "--services", big, "--sortie", tmp_path / "o"], capsys)
    assert code == 2
    assert "Mo" in _french_error(err)


def test_services_file_missing(tmp_path, capsys):
    code, out, err = _run(
        ["analyse", *T, "--services", tmp_path / "absent.csv", "--sortie", tmp_path / "o"], capsys
    )
    assert code == 2
    assert "introuvable" in _french_error(err)


def test_services_path_is_a_folder(tmp_path, capsys):
    code, out, err = _run(
        ["analyse", *T, "--services", tmp_path, "--sortie", tmp_path / "o"], capsys
    )
    assert code == 2
    assert "dossier" in _french_error(err)


# ----------------------------------------------------------------------------------------------
# 5. An input inside the output folder
# ----------------------------------------------------------------------------------------------


def test_input_inside_the_output_folder_is_refused(tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    services = _write_csv(out_dir / "communes.csv", GOOD_ROWS)
    before = _digest(services)
    code, out, err = _run(["analyse", *T, "--services", services, "--sortie", out_dir], capsys)
    assert code == 2
    assert "--sortie" in _french_error(err)
    assert _digest(services) == before


def test_grid_inside_the_output_folder_is_refused(tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    grid = out_dir / "carreaux.csv"
    grid.write_bytes(GRID.read_bytes())
    code, out, err = _run(
        ["analyse", *T, "--carreaux", grid, "--sans-carte", "--sortie", out_dir], capsys
    )
    assert code == 2
    assert "--sortie" in _french_error(err)
    assert grid.read_bytes() == GRID.read_bytes()


# ----------------------------------------------------------------------------------------------
# 6. The CSV field limit
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(2, id="tot"),
        pytest.param(80, id="tard"),
    ],
)
def test_cell_over_the_csv_field_limit(tmp_path, capsys, line):
    rows = [list(GOOD_ROWS[i % 3]) for i in range(100)]
    for i, row in enumerate(rows):
        row[0] = f"S-{i}"
    rows[line - 2][1] = "x" * 140_000  # a 140,000-character name
    services = _write_csv(tmp_path / "s.csv", rows)
    out_dir = tmp_path / "out"
    code, out, err = _run(
        ["analyse", *T, "--services", services, "--sans-carte", "--sortie", out_dir], capsys
    )
    assert code == 0, err
    rejects = _accounts(out, out_dir, len(rows))
    assert _services_read(out) >= 99
    if len(rejects):
        assert rejects["ligne"].tolist() == [str(line)]
    _assert_safe(out_dir)


def test_api_long_cell_is_not_a_csv_error(tmp_path):
    from zonesblanches.geodata.services import read_services

    rows = [list(GOOD_ROWS[0]), list(GOOD_ROWS[1])]
    rows[0][1] = "y" * 200_000
    lu = read_services(_write_csv(tmp_path / "s.csv", rows))
    assert len(lu.services) + len(lu.rejects) == 2


# ----------------------------------------------------------------------------------------------
# 7. Misleading messages
# ----------------------------------------------------------------------------------------------


def _xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


def test_xlsx_data_on_second_sheet(tmp_path, capsys):
    book = _xlsx(tmp_path / "s.xlsx", {"Notes": [], "Services": [HEADER, *GOOD_ROWS]})
    code, out, err = _run(["analyse", *T, "--services", book, "--sortie", tmp_path / "o"], capsys)
    assert code == 2
    message = _french_error(err)
    assert "Services" in message and "--feuille" in message
    out_dir = tmp_path / "o2"
    code, out, err = _run(
        [
            "analyse",
            *T,
            "--services",
            book,
            "--feuille",
            "Services",
            "--sans-carte",
            "--sortie",
            out_dir,
        ],
        capsys,
    )
    assert code == 0, err
    _accounts(out, out_dir, len(GOOD_ROWS))


def test_utf16_csv_is_read(tmp_path, capsys):
    services = _write_csv(tmp_path / "s.txt", GOOD_ROWS, delimiter="\t", encoding="utf-16")
    out_dir = tmp_path / "out"
    code, out, err = _run(
        ["analyse", *T, "--services", services, "--sans-carte", "--sortie", out_dir], capsys
    )
    assert code == 0, err
    _accounts(out, out_dir, len(GOOD_ROWS))
    assert _services_read(out) == len(GOOD_ROWS)


def test_zip_passed_as_xlsx(tmp_path, capsys):
    path = tmp_path / "services.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("services.csv", "id,nom\n1,a\n")
    code, out, err = _run(["analyse", *T, "--services", path, "--sortie", tmp_path / "o"], capsys)
    assert code == 2
    assert "zip" in _french_error(err)


def test_xlsx_formulas_without_cached_values(tmp_path, capsys):
    rows = [list(r) for r in GOOD_ROWS]
    rows[0][1] = '=CONCATENATE("Garage ","solidaire")'
    book = _xlsx(tmp_path / "s.xlsx", {"Services": [HEADER, *rows]})
    out_dir = tmp_path / "out"
    code, out, err = _run(
        ["analyse", *T, "--services", book, "--sans-carte", "--sortie", out_dir], capsys
    )
    assert code == 0, err
    rejects = _accounts(out, out_dir, len(rows))
    assert rejects["ligne"].tolist() == ["2"]
    assert "formule" in rejects["motif"].iloc[0] and "CONCATENATE" in rejects["motif"].iloc[0]
    _assert_safe(out_dir)


def test_stray_cp1252_byte_in_utf8(tmp_path, capsys):
    from zonesblanches.geodata.services import read_services

    rows = [list(r) for r in GOOD_ROWS]
    rows[1][1] = "Atelier vélo d'Anzin"
    path = _write_csv(tmp_path / "s.csv", rows)
    data = path.read_bytes().replace("Auto-école".encode(), "Auto-école".encode("cp1252"))
    path.write_bytes(data)
    lu = read_services(path)
    names = set(lu.services["nom"])
    assert "Atelier vélo d'Anzin" in names  # valid UTF-8 rows are not mangled
    assert "Auto-école sociale" in names
    assert any("ligne 4" in w for w in lu.warnings), lu.warnings
    out_dir = tmp_path / "out"
    code, out, err = _run(
        ["analyse", *T, "--services", path, "--sans-carte", "--sortie", out_dir], capsys
    )
    assert code == 0 and "ligne 4" in out
    _accounts(out, out_dir, len(rows))


def test_category_absent_from_the_file(tmp_path, capsys):
    services = _write_csv(tmp_path / "s.csv", GOOD_ROWS)
    out_dir = tmp_path / "out"
    code, out, err = _run(
        [
            "analyse",
            *T,
            "--services",
            services,
            "--categorie",
            "plateforme_mobilite",
            "--categorie",
            "garage_solidaire",
            "--sans-carte",
            "--sortie",
            out_dir,
        ],
        capsys,
    )
    assert code == 0, err
    warning = [line for line in out.splitlines() if "⚠" in line and "aucun service" in line.lower()]
    assert warning and "plateforme" in warning[0].lower()
    _accounts(out, out_dir, len(GOOD_ROWS))


def test_services_csv_passed_as_qpv(tmp_path, capsys):
    services = _write_csv(tmp_path / "s.csv", GOOD_ROWS, delimiter=";", encoding="cp1252")
    code, out, err = _run(
        ["analyse", *T, "--qpv", services, "--sans-carte", "--sortie", tmp_path / "o"], capsys
    )
    assert code == 2
    message = _french_error(err)
    assert "QPV" in message and "services" in message.lower()


def test_services_utf8_csv_passed_as_qpv(tmp_path, capsys):
    services = _write_csv(tmp_path / "s.csv", GOOD_ROWS)
    code, out, err = _run(
        ["analyse", *T, "--qpv", services, "--sans-carte", "--sortie", tmp_path / "o"], capsys
    )
    assert code == 2
    assert "QPV" in _french_error(err)


# ----------------------------------------------------------------------------------------------
# 8. Declared commune against coordinates
# ----------------------------------------------------------------------------------------------


def test_declared_commune_differs_from_coordinates(tmp_path, capsys):
    rows = [
        [
            "L-1",
            "Garage déclaré à Lille",
            "garage_solidaire",
            "Lille",
            "59350",
            "3.503759",
            "50.370772",
        ],  # Anzin's point
        [
            "V-1",
            "Atelier déclaré à Valenciennes",
            "atelier_velo",
            "Valenciennes",
            "59606",
            "2.3522",
            "48.8566",
        ],  # Paris
        GOOD_ROWS[0],
    ]
    services = _write_csv(tmp_path / "s.csv", rows)
    out_dir = tmp_path / "out"
    code, out, err = _run(
        ["analyse", *T, "--services", services, "--sans-carte", "--sortie", out_dir], capsys
    )
    assert code == 0, err
    warnings = [line for line in out.splitlines() if "⚠" in line]
    lille = [w for w in warnings if "ligne 2" in w and "Lille" in w and "Anzin" in w]
    paris = [w for w in warnings if "ligne 3" in w and "Valenciennes" in w and "km" in w]
    assert lille and paris, warnings
    _accounts(out, out_dir, len(rows))


def test_consistent_commune_and_coordinates_are_not_flagged(tmp_path):
    from zonesblanches.geodata.services import read_services

    lu = read_services(_write_csv(tmp_path / "s.csv", GOOD_ROWS))
    assert len(lu.services) == 3 and lu.rejects.empty
    assert not any("déclaré" in w for w in lu.warnings)


# ----------------------------------------------------------------------------------------------
# 10. Bicycle one-ways, 11. simplified GraphML
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "forward", "backward"),
    [
        pytest.param(
            {"oneway": "yes", "oneway:bicycle": "-1"},
            False,
            True,
            id="yes+-1",
        ),
        pytest.param(
            {"oneway": "-1", "oneway:bicycle": "yes"},
            True,
            False,
            id="-1+yes",
        ),
        pytest.param(
            {"junction": "roundabout", "oneway:bicycle": "-1"},
            False,
            True,
            id="roundabout+-1",
        ),
        pytest.param({"oneway": "yes", "oneway:bicycle": "no"}, True, True, id="yes+no"),
    ],
)
def test_bicycle_oneway_leaves_exactly_the_stated_direction(tags, forward, backward):
    from zonesblanches.geodata.osm_rules import evaluate_ways

    access = evaluate_ways(pd.DataFrame([{"highway": "residential", **tags}]), "velo")
    assert (bool(access.forward[0]), bool(access.backward[0])) == (forward, backward)


def test_simplified_graphml_with_access_tags_is_warned(tmp_path):
    from zonesblanches.geodata.osm import load_networks

    source = ROOT / "tests" / "data" / "osm" / "maisons-laffitte-osmnx122.graphml"
    text = source.read_text(encoding="utf-8")
    assert '<data key="d3">True</data>' in text and 'attr.name="access"' in text
    with pytest.warns(UserWarning, match="simplifié"):
        load_networks(source, ["marche"], cache=False, progress=False)
