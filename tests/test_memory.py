"""Giving freed memory back to the system (glibc): the command line's switch and its guard."""

from __future__ import annotations

import pytest

from zonesblanches import _memory


def test_the_users_own_threshold_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert _memory.fix_mmap_threshold() is False


def test_threshold_is_fixed_and_heap_trimmed_with_glibc(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    if _memory._glibc() is None:
        pytest.skip("pas de glibc sur cette machine : les deux fonctions ne font rien")
    assert _memory.fix_mmap_threshold() is True
    _memory.trim()


def test_without_glibc_nothing_happens(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(_memory, "_glibc", lambda: None)
    assert _memory.fix_mmap_threshold() is False
    _memory.trim()
