# SPDX-License-Identifier: GPL-2.0-or-later
"""A short, readable model card for the dock, built from the model's ONNX metadata (ModelInfo)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from ..core.resources import MODEL_CARD, SHIPPED_MODEL  # noqa: F401 - the dock imports them from here
from .i18n import tr

_METRIC_ORDER = ("iou", "f1", "precision", "recall")
_METRIC_WORDS = {"iou": "IoU", "f1": "F1"}


def is_shipped(path: str | Path) -> bool:
    try:
        return Path(path).resolve() == SHIPPED_MODEL.resolve()
    except OSError:
        return False


def load_info(path: str | Path) -> Any:
    """The ModelInfo of ``path`` (raises the core's error when the file is not a usable model)."""
    from ..core.model_info import load_model_info  # imports onnxruntime only when needed

    return load_model_info(str(path))


def _network(info: Any) -> str:
    network = str(getattr(info, "network", "") or tr("unknown"))
    variant = str(getattr(info, "variant", "") or "")
    width = int(getattr(info, "width", 0) or 0)
    text = network if not variant or variant == network else f"{network} ({variant})"
    return tr("{}, width {}").format(text, width) if width else text


def _training_data(info: Any) -> str:
    sources = getattr(info, "training_data", None) or []
    parts = []
    for source in sources:
        name = str(source.get("name", "")) if isinstance(source, dict) else str(source)
        licence = str(source.get("licence", "")) if isinstance(source, dict) else ""
        parts.append(f"{name} ({licence})" if licence else name)
    return "; ".join(parts) or tr("not recorded")


def _metrics(info: Any) -> str:
    metrics = dict(getattr(info, "metrics", None) or {})
    if not metrics:
        return tr("not recorded")
    keys = [k for k in _METRIC_ORDER if k in metrics] + sorted(k for k in metrics if k not in _METRIC_ORDER)
    shown = []
    for key in keys:
        value = metrics[key]
        label = " ".join(_METRIC_WORDS.get(word, word) for word in key.split("_"))
        shown.append(f"{label} {value:.2f}" if isinstance(value, (int, float)) else f"{label} {value}")
    return ", ".join(shown)


def card_rows(info: Any) -> list[tuple[str, str]]:
    """(label, value) pairs: network, training data, resolution, validation metrics, tiling, bands."""
    gsd = float(getattr(info, "gsd_m", 0.0) or 0.0)
    bands = getattr(info, "bands", []) or []
    names = getattr(info, "band_names", []) or []
    band_text = ", ".join(f"{b} ({n})" if n else str(b) for b, n in zip(bands, [*names, *[""] * len(bands)]))
    tiles = tr("{} px, overlap {} px").format(getattr(info, "tile_size", "?"), getattr(info, "overlap", "?"))
    calibrated = tr("threshold {:.2f}, minimum area {:g} m²").format(
        float(getattr(info, "threshold", 0.5) or 0.5), float(getattr(info, "min_area_m2", 0.0) or 0.0)
    )
    return [
        (tr("Network"), _network(info)),
        (tr("Trained on"), _training_data(info)),
        (tr("Resolution"), tr("{:g} m/pixel").format(gsd) if gsd > 0 else tr("not recorded")),
        (tr("Validation"), _metrics(info)),
        (tr("Calibrated"), calibrated),
        (tr("Tiles"), tiles),
        (tr("Bands"), band_text or "?"),
        (tr("Licence"), _licence(info)),
    ]


def _licence(info: Any) -> str:
    """The licence's first clause (the whole text is in the tooltip and the model card)."""
    text = str(getattr(info, "weights_licence", "") or tr("not recorded"))
    first = text.split(";")[0].strip()
    return first if first == text.strip() else f"{first}; …"


def licence_text(info: Any) -> str:
    return str(getattr(info, "weights_licence", "") or "")


def card_html(info: Any, card: Path | None = None) -> str:
    """The card as a small table; ``card`` links the full model card (the shipped model has one)."""
    rows = "".join(
        f"<tr><td><b>{escape(label)}</b>&nbsp;</td><td>{escape(value)}</td></tr>"
        for label, value in card_rows(info)
    )
    link = ""
    if card is not None and card.is_file():
        link = f"<br><a href='{escape(card.as_uri())}'>{escape(tr('Full model card'))}</a>"
    return f"<table cellspacing='0' cellpadding='1'>{rows}</table>{link}"


def error_html(message: str) -> str:
    title = escape(tr("This model cannot be used:"))
    return f"<span style='color:#b00000'><b>{title}</b> {escape(message)}</span>"
