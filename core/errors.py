# SPDX-License-Identifier: GPL-2.0-or-later
"""Errors raised by the core. Every message names the problem and how to fix it."""

from __future__ import annotations


class DetectionError(Exception):
    """Bad input or an environment problem; the message is meant for the analyst."""


class DetectionCanceled(DetectionError):  # noqa: N818 - the public API name
    """The user canceled; no output file is left behind."""

    def __init__(self, message: str = "Detection canceled by the user; no output was written.") -> None:
        super().__init__(message)
