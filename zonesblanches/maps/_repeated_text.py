"""One text drawn at many positions (the glyph of each service on a static map), with the pixels
of one ``ax.text`` per position.

A static map of the region with 1,000 services drew about 330 glyph texts, each a
:class:`~matplotlib.text.Text` laid out and shaped again (``Text._get_layout`` then the
renderer's ``font._layout``): about 0.5 s of each map's 2.5 s (issue 17, outputs ≤ 5 s). The
text is the same at every position, so :class:`RepeatedText` lays it out and shapes it once and
only renders its glyphs at each position, as matplotlib's Agg renderer does for one text.
Tested pixel for pixel against one ``ax.text`` per position (``tests/test_figures_speed.py``).

Shaping once uses two private members of matplotlib's Agg renderer (``_prepare_font`` and
``_draw_text_glyphs_and_boxes``, the two halves of its ``draw_text``); on another renderer, or
if they change, each position goes through the public ``draw_text`` (same pixels, slower).
"""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.text import Text


class RepeatedText(Text):
    """The text ``text`` at each of ``xs``, ``ys`` (in its transform's coordinates, data by
    default), drawn as ``ax.text(x, y, text, **kwargs)`` for each, in that order.

    Add it with :func:`add_repeated_text`. Path effects, a bounding box patch and TeX fall
    back to :class:`~matplotlib.text.Text`'s own drawing at each position.
    """

    def __init__(self, xs, ys, text: str, **kwargs) -> None:
        xs = np.asarray(xs, dtype=float).ravel()
        ys = np.asarray(ys, dtype=float).ravel()
        if xs.shape != ys.shape:
            raise ValueError("xs and ys must have the same length")
        super().__init__(xs[0] if len(xs) else 0.0, ys[0] if len(ys) else 0.0, text=text, **kwargs)
        self._positions = np.column_stack([xs, ys])

    @property
    def positions(self) -> np.ndarray:
        """The positions (n × 2), in the order drawn."""
        return self._positions.copy()

    def draw(self, renderer) -> None:
        if renderer is not None:
            self._renderer = renderer
        if not self.get_visible() or self.get_text() == "" or not len(self._positions):
            return
        if self.get_path_effects() or self.get_usetex() or self._bbox_patch:
            self._draw_one_by_one(renderer)
            return
        renderer.open_group("text", self.get_gid())
        _, info, _ = self._get_layout(renderer)  # independent of the position
        anchors = self.get_transform().transform(self._positions)
        _, canvash = renderer.get_canvas_width_height()
        gc = renderer.new_gc()
        gc.set_foreground(mcolors.to_rgba(self.get_color()), isRGBA=True)
        gc.set_alpha(self.get_alpha())
        gc.set_url(self._url)
        gc.set_antialiased(self._antialiased)
        gc.set_snap(self.get_snap())
        self._set_gc_clip(gc)
        angle = self.get_rotation()
        mtext = self if len(info) == 1 else None
        lines = []
        for line, _, (dx, dy) in info:
            clean_line, ismath = self._preprocess_math(line)
            glyphs = self._shaped(renderer, clean_line, ismath, mtext)
            lines.append((clean_line, ismath, dx, dy, glyphs))
        for posx, posy in anchors:
            if not (np.isfinite(posx) and np.isfinite(posy)):
                continue  # as Text.draw: nothing drawn there
            for clean_line, ismath, dx, dy, glyphs in lines:
                x, y = dx + posx, dy + posy
                if renderer.flipy():
                    y = canvash - y
                if glyphs is None:
                    renderer.draw_text(
                        gc,
                        x,
                        y,
                        clean_line,
                        self._fontproperties,
                        angle,
                        ismath=ismath,
                        mtext=mtext,
                    )
                else:
                    renderer._draw_text_glyphs_and_boxes(gc, x, y, angle, glyphs, [])
        gc.restore()
        renderer.close_group("text")
        self.stale = False

    def _shaped(self, renderer, line: str, ismath, mtext) -> list | None:
        """The glyphs of ``line`` as the Agg renderer's ``draw_text`` lays them out (position
        independent), or None where that is not how this renderer draws it."""
        if ismath or not hasattr(renderer, "_draw_text_glyphs_and_boxes"):
            return None
        try:
            from matplotlib.backends.backend_agg import get_hinting_flag

            prop = self._fontproperties
            font = renderer._prepare_font(prop)
            items = font._layout(
                line,
                flags=get_hinting_flag(),
                features=mtext.get_fontfeatures() if mtext is not None else None,
                language=mtext.get_language() if mtext is not None else None,
            )
            size = prop.get_size_in_points()
            return [(it.ft_object, size, it.glyph_index, 0, 1, it.x, it.y) for it in items]
        except (AttributeError, TypeError, ImportError):  # another matplotlib: public path
            return None

    def _draw_one_by_one(self, renderer) -> None:
        x, y = self._x, self._y
        try:
            for px, py in self._positions:
                self._x, self._y = px, py
                Text.draw(self, renderer)
        finally:
            self._x, self._y = x, y


def add_repeated_text(ax, xs, ys, text: str, **kwargs) -> RepeatedText | None:
    """Add ``text`` at each of ``xs``, ``ys`` to ``ax`` as ``ax.text`` would add one text per
    position (same defaults, same clipping); None when there is no position."""
    if not len(xs):
        return None
    kwargs = {
        "verticalalignment": "baseline",
        "horizontalalignment": "left",
        "transform": ax.transData,
        "clip_on": False,
        **kwargs,
    }
    artist = RepeatedText(xs, ys, text, **kwargs)
    if artist.get_clip_path() is None:
        artist.set_clip_path(ax.patch)
    ax.add_artist(artist)
    return artist
