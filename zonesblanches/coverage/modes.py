"""Moved to :mod:`zonesblanches.modes` (shared vocabulary at the package root); this name stays
for code written before the move. Import from :mod:`zonesblanches.modes`."""

from zonesblanches.modes import MODES, Mode, mode_code

__all__ = ["MODES", "Mode", "mode_code"]
