# SPDX-License-Identifier: GPL-2.0-or-later
"""Processing provider ``landslides``: detect, evaluate against an inventory, export training tiles."""
