"""The fast paths of the static figures (issue 16 item 9) give the pixels and bytes of the
former code: each is checked against what matplotlib or the former function does."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from zonesblanches.maps import figures

WORDS = st.text(
    alphabet=st.sampled_from("aàbcdeéèfghijklmnopqrstuvwxyzWM0123456789×;:,.()'« »-/"),
    min_size=1,
    max_size=40,
)


def _figure_text(text: str, wrap: bool):
    fig = Figure(figsize=(figures.A4_LANDSCAPE_CM[0] * figures.CM, 3))
    FigureCanvasAgg(fig)
    artist = fig.text(0.01, 0.012, text, fontsize=7, va="bottom", wrap=wrap)
    return fig, artist


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(WORDS, min_size=1, max_size=50), min_size=1, max_size=3))
def test_wrap_left_off_only_where_matplotlib_would_not_wrap(lines):
    """Where :func:`figures._wrap_if_too_wide` leaves wrapping off, matplotlib's own wrapping
    (the former ``wrap=True``) keeps the text as it is; where it turns it on, the text is
    matplotlib's to wrap, as before."""
    text = figures._wrap("\n".join(" ".join(words) for words in lines), figures.SOURCE_CHARS)
    fig, artist = _figure_text(text, wrap=False)
    turned_on = figures._wrap_if_too_wide(artist)
    assert artist.get_wrap() is turned_on
    _, former = _figure_text(text, wrap=True)
    former._renderer = former.get_figure().canvas.get_renderer()  # as Text.draw sets it
    if not turned_on:
        assert former._get_wrapped_text() == text


def test_wrap_left_off_draws_the_same_pixels():
    """The method line of a figure, and one too long for the page: same pixels as with
    ``wrap=True``."""
    method = figures._wrap(
        "Sources : contours IGN, Etalab (Licence Ouverte 2.0) ; services : sources citées dans "
        "le rapport ; réalisation : zonesblanches.\nTemps estimés à vol d'oiseau (en voiture) : "
        "distance en ligne droite × 1,3 (détour) à 50 km/h, sans réseau routier.",
        figures.SOURCE_CHARS,
    )
    too_long = "MWMWMWMW " * 40
    for text, expect_on in ((method, False), (too_long, True)):
        pixels = []
        for former in (True, False):
            fig, artist = _figure_text(text, wrap=former)
            if not former:
                assert figures._wrap_if_too_wide(artist) is expect_on
            fig.canvas.draw()
            pixels.append(np.asarray(fig.canvas.buffer_rgba()).copy())
        assert np.array_equal(pixels[0], pixels[1])

