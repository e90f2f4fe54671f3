# SPDX-License-Identifier: GPL-2.0-or-later
"""A small self-contained HTML report of evaluation metrics (no external CSS, JS or images)."""

from __future__ import annotations

import datetime
import html
import os
from collections.abc import Mapping
from typing import Any

from .atomic import atomic_output

_LABELS = {
    "iou": "IoU (pixels)",
    "precision": "Precision (pixels)",
    "recall": "Recall (pixels)",
    "f1": "F1 (pixels)",
    "tp": "True positive pixels",
    "fp": "False positive pixels",
    "fn": "False negative pixels",
    "tn": "True negative pixels",
    "objects_predicted": "Predicted landslides",
    "objects_reference": "Reference landslides",
    "objects_matched": "Matched landslides",
    "object_precision": "Precision (objects)",
    "object_recall": "Recall (objects)",
    "object_f1": "F1 (objects)",
    "object_iou_threshold": "Object match IoU threshold",
}

_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}th{background:#f0f0f0}"
    "td.v{text-align:right;font-variant-numeric:tabular-nums}.small{color:#666;font-size:90%}"
)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:.4f}"
    return str(value)


def render_html_report(
    metrics: Mapping[str, Any], title: str, details: Mapping[str, Any] | None = None
) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(_LABELS.get(key, key))}</th>"
        f"<td class='v'>{html.escape(_format(value))}</td></tr>"
        for key, value in metrics.items()
        if not isinstance(value, (dict, list))
    )
    extra = ""
    if details:
        extra = (
            "<h2>Inputs</h2><table>"
            + "".join(
                f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                for k, v in details.items()
            )
            + "</table>"
        )
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{rows}</table>{extra}"
        f"<p class='small'>Generated {stamp} by Landslide Detector.</p></body></html>"
    )


def write_html_report(
    path: str | os.PathLike[str],
    metrics: Mapping[str, Any],
    title: str,
    details: Mapping[str, Any] | None = None,
) -> str:
    """Write the report to ``path`` atomically and return the path."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(render_html_report(metrics, title, details))
    return str(path)
