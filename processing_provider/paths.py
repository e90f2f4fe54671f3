# SPDX-License-Identifier: GPL-2.0-or-later
"""Files the algorithms ship with (named once, in :mod:`core.resources`)."""

from __future__ import annotations

from ..core.resources import ICON_PATH, SHIPPED_MODEL

DEFAULT_MODEL_PATH = SHIPPED_MODEL

__all__ = ["DEFAULT_MODEL_PATH", "ICON_PATH"]
