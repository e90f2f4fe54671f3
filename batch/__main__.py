# SPDX-License-Identifier: GPL-2.0-or-later
"""``python -m batch``: see :mod:`batch.cli`."""

from __future__ import annotations

import sys

if __name__ == "__main__":  # Dask's worker processes import this module again: only the command runs it
    from .cli import main

    sys.exit(main())
