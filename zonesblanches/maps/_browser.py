"""Open a page in headless Chromium and report what happened (developer tool, used by the tests
and ``scripts/bench_maps.py``).

It drives Debian's ``chromium`` through the DevTools protocol (Python package
``websocket-client``, in the ``test`` extra): no browser download, no network. The report says
which requests the page made, the console errors and uncaught exceptions, whether a dialog
(``alert``) opened, how long the page took to be ready, and gives a screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from zonesblanches.errors import ZonesBlanchesError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """Path of a Chromium executable, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What happened while a page was opened."""

    url: str
    ready: bool = False
    ready_seconds: float = float("nan")
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    checks: dict = field(default_factory=dict)
    screenshot: bytes = b""

    @property
    def external_requests(self) -> list[str]:
        """Requests other than the page itself and inline ``data:`` URLs."""
        return [u for u in self.requests if u != self.url and not u.startswith("data:")]


class Browser:
    """A headless Chromium driven over the DevTools protocol (context manager)."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900):
        try:
            import websocket  # noqa: F401
        except ImportError:
            raise ZonesBlanchesError(
                "Le paquet « websocket-client » est nécessaire pour piloter Chromium "
                "(pip install websocket-client)."
            ) from None
        self.executable = executable or find_chromium()
        if not self.executable:
            raise ZonesBlanchesError("Chromium est introuvable (apt-get install chromium).")
        self.width, self.height = width, height
        self._proc = None
        self._dir = None
        self._ws = None
        self._next = 0
        self.events: list[dict] = []

    def __enter__(self) -> Browser:
        import websocket

        self._dir = tempfile.TemporaryDirectory(prefix="zb-chromium-", ignore_cleanup_errors=True)
        args = [
            self.executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--mute-audio",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={self._dir.name}",
            f"--window-size={self.width},{self.height}",
            "about:blank",
        ]
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        port_file = Path(self._dir.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.__exit__(None, None, None)
                raise ZonesBlanchesError("Chromium n'a pas démarré.")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
        )
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.call(method)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        return self

    def __exit__(self, *exc) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):  # closing anyway
                self._ws.close()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._dir is not None:
            self._dir.cleanup()

    # -- protocol ---------------------------------------------------------------------------

    def _recv(self) -> dict:
        msg = json.loads(self._ws.recv())
        if "method" in msg:
            self.events.append(msg)
            if msg["method"] == "Page.javascriptDialogOpening":
                # Never leave a dialog open: it would block the page. It is recorded above.
                self._send("Page.handleJavaScriptDialog", accept=True)
        return msg

    def _send(self, method: str, **params) -> int:
        self._next += 1
        self._ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        return self._next

    def call(self, method: str, **params) -> dict:
        """Send a command and wait for its answer (recording events meanwhile)."""
        ident = self._send(method, **params)
        while True:
            msg = self._recv()
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str):
        """Value of a JavaScript expression in the page (JSON-serialisable)."""
        res = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"].get("text", "JS error"))
        return res.get("result", {}).get("value")

    def wait_events(self, seconds: float) -> None:
        """Keep reading events for ``seconds`` (lets late requests or errors show up)."""
        end = time.monotonic() + seconds
        self._ws.settimeout(0.1)
        try:
            while time.monotonic() < end:
                with contextlib.suppress(Exception):  # websocket timeout: nothing pending
                    self._recv()
        finally:
            self._ws.settimeout(30)

    # -- high level -------------------------------------------------------------------------

    def open(self, path: str | Path, ready: str = "window.zbMapReady === true", timeout=30.0):
        """Open a local file and wait until ``ready`` is true; return a :class:`PageReport`."""
        url = Path(path).resolve().as_uri()
        self.events.clear()
        t0 = time.perf_counter()
        self.call("Page.navigate", url=url)
        report = PageReport(url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(f"Boolean({ready})"):
                report.ready = True
                report.ready_seconds = time.perf_counter() - t0
                break
            time.sleep(0.02)
        self.wait_events(0.3)
        self.collect(report)
        return report

    def collect(self, report: PageReport) -> PageReport:
        """Fill ``report`` from the events seen so far."""
        for ev in self.events:
            method, params = ev["method"], ev.get("params", {})
            if method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if url not in report.requests:
                    report.requests.append(url)
            elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "assert",
            ):
                report.console_errors.append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                det = params.get("exceptionDetails", {})
                report.console_errors.append(
                    det.get("exception", {}).get("description") or det.get("text", "exception")
                )
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                report.console_errors.append(params["entry"].get("text", ""))
            elif method == "Page.javascriptDialogOpening":
                report.dialogs.append(f"{params.get('type')}: {params.get('message')}")
        return report

    def screenshot(self) -> bytes:
        """PNG of the viewport."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        return base64.b64decode(data)
