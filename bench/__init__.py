# SPDX-License-Identifier: GPL-2.0-or-later
"""``make bench``: throughput, scaling and memory of the landslide detector (measures, never asserts)."""
