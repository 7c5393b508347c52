"""The figures' PNG files: the file written for Word or PDF (:func:`save_figure`) and the
reduced copy the report embeds (:func:`screen_png`). Same inputs, same bytes: no software or
date chunk, fixed compression."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CM = 1 / 2.54
"""One centimetre in inches (matplotlib's figure sizes): the figures are sized in cm."""

PNG_COMPRESS_LEVEL = 3
"""zlib level of the figures' PNG files (Pillow's default: 6). Measured on the region's maps and
a 300 dpi EPCI map (issue 17): RGB at level 3 is written in about half the time of the former
RGBA at level 6 (region map at 150 dpi: 82 against 153 ms, 825 against 885 kB; EPCI map at
300 dpi: 180 against 470 ms, 549 against 519 kB); RGB at level 6 would save a fifth of the
time only (122 and 374 ms)."""


def save_figure(fig: Figure, path: str | Path, dpi: int, pixels: list | None = None) -> Path:
    """Write ``fig`` as a PNG at ``path``; with ``pixels``, append to it the figure's pixels as
    written (an RGB array, height × width × 3): the report embeds a reduced copy without
    decoding the file it has just written.

    matplotlib draws the figure as ``savefig`` does (same resolution, white background, same
    pixels); Pillow then writes it as an RGB PNG (the figures are opaque: an alpha channel of
    255 everywhere only made the file larger and slower to write) at
    :data:`PNG_COMPRESS_LEVEL`, with the resolution (``pHYs``) and without any software or date
    chunk, so the same inputs give the same bytes. A figure that is not opaque everywhere keeps
    its alpha channel.
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # the canvas savefig would borrow, kept after it
    fig.savefig(io.BytesIO(), format="rgba", dpi=dpi, facecolor="white")
    rgba = np.asarray(fig.canvas.buffer_rgba())  # what savefig drew (and copied)
    opaque = bool((rgba[:, :, 3] == 255).all())
    rgb = np.ascontiguousarray(rgba[:, :, :3])
    image = Image.fromarray(rgb if opaque else np.ascontiguousarray(rgba))
    image.save(path, format="png", dpi=(dpi, dpi), compress_level=PNG_COMPRESS_LEVEL)
    if pixels is not None:
        pixels.append(rgb)
    return path


SCREEN_FIGURE_WIDTH = 1800
"""Widest figure embedded in the report, in pixels (150 dpi figures, 1,635 px, are kept as they
are; 300 dpi ones are halved): the report is read on a screen, Word gets ``figures/*.png``."""


def screen_png(path: Path | np.ndarray) -> bytes:
    """The figure ``path`` (or its pixels as written, an RGB array) as the report embeds it: at
    most :data:`SCREEN_FIGURE_WIDTH` pixels wide, in 256 colours (palette PNG).

    The full-resolution figure stays in ``figures/`` for Word; the embedded copy is 3 to 4
    times smaller (a map in flat classes loses nothing visible), so the report keeps its 6 MB
    budget with a dozen maps, at 150 or 300 dpi. Pillow (matplotlib's own image library)
    resamples and quantizes (fast octree); same file, same bytes.
    """
    from PIL import Image

    if isinstance(path, np.ndarray):  # what the file holds, without decoding it again
        rgb = Image.fromarray(path)
    else:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    if rgb.width > SCREEN_FIGURE_WIDTH:
        # 300 dpi figures are exactly halved: reduce() averages 2 × 2 blocks (no ringing).
        factor = -(-rgb.width // SCREEN_FIGURE_WIDTH)
        rgb = rgb.reduce(factor)
    buffer = io.BytesIO()
    # Fast octree: 0.04 s a figure against 0.40 s for median cut with optimize=True (ten
    # figures: 3.6 s of a 20 s run), a smaller file, and no visible difference on flat classes.
    rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG")
    return buffer.getvalue()
