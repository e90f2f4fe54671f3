# SPDX-License-Identifier: GPL-2.0-or-later
"""The typed request and report of ``landslides:detect``, shared by the algorithm and the dock.

Processing speaks in parameter and output names; they are spelled here once (:class:`DetectNames`,
which the algorithm takes its class constants from). The dock fills a :class:`DetectRequest` and
reads a :class:`DetectReport`; neither it nor anything else writes ``"THRESHOLD"`` or
``"POLYGON_COUNT"`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WARNING_SEPARATOR = "\n"  # between the warnings in the WARNINGS output (a warning is one line)


class DetectNames:
    """Parameter and output names of ``landslides:detect``."""

    INPUT = "INPUT"
    MODEL = "MODEL"
    BANDS = "BANDS"
    THRESHOLD = "THRESHOLD"
    MIN_AREA = "MIN_AREA"
    MASK = "MASK"
    EXTENT = "EXTENT"
    DSM = "DSM"
    CLASS = "CLASS"
    DEVICE = "DEVICE"
    PRECISION = "PRECISION"
    THREADS = "THREADS"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BATCH_SIZE = "BATCH_SIZE"
    TTA = "TTA"
    RESAMPLE = "RESAMPLE"
    SIMPLIFY = "SIMPLIFY"
    OUTPUT = "OUTPUT"
    PROBABILITY = "PROBABILITY"
    POLYGON_COUNT = "POLYGON_COUNT"
    TOTAL_AREA_M2 = "TOTAL_AREA_M2"
    EXECUTION_PROVIDER = "EXECUTION_PROVIDER"
    PROVIDER_REASON = "PROVIDER_REASON"
    PRECISION_USED = "PRECISION_USED"
    PRECISION_REASON = "PRECISION_REASON"
    ELAPSED_S = "ELAPSED_S"
    WARNINGS = "WARNINGS"


N = DetectNames


@dataclass
class DetectRequest:
    """One run of ``landslides:detect``; ``None`` leaves a setting to the model or the algorithm."""

    raster: str  # a raster file (GDAL source) or a layer id
    model: str = ""  # "" = the shipped model
    threshold: float | None = None  # None: the model's calibrated threshold
    min_area: float | None = None  # None: the model's calibrated minimum area
    device: str = "auto"
    batch_size: int = 0
    tta: bool = False
    tile_size: int | None = None
    overlap: int | None = None
    extent: Any = None  # a QgsReferencedRectangle (reprojected by the algorithm) or None
    mask: Any = None  # polygons to search inside (a layer, a feature source definition) or None
    class_name: str | None = None  # the class mapped (name or number); None: 'landslide'
    dsm: str | None = None  # an elevation raster (file or layer id) for elevation channels and slope
    output: str | None = None
    probability: str | None = None

    def parameters(self) -> dict[str, Any]:
        """The Processing parameters (THRESHOLD and MIN_AREA are always there: None = the model's)."""
        params: dict[str, Any] = {
            N.INPUT: self.raster,
            N.MODEL: self.model,
            N.THRESHOLD: self.threshold,
            N.MIN_AREA: self.min_area,
            N.DEVICE: self.device,
            N.BATCH_SIZE: self.batch_size,
            N.TTA: self.tta,
        }
        optional = {
            N.TILE_SIZE: self.tile_size,
            N.OVERLAP: self.overlap,
            N.EXTENT: self.extent,
            N.MASK: self.mask,
            N.CLASS: self.class_name,
            N.DSM: self.dsm,
            N.OUTPUT: self.output,
            N.PROBABILITY: self.probability,
        }
        params.update({key: value for key, value in optional.items() if value is not None})
        return params


def _number(results: dict[str, Any], key: str) -> float:
    try:
        return float(results.get(key) or 0.0)
    except (TypeError, ValueError):
        return 0.0


@dataclass
class DetectReport:
    """What a run of ``landslides:detect`` found and how it ran (its outputs, typed)."""

    polygon_count: int = 0
    total_area_m2: float = 0.0
    provider: str = ""
    provider_reason: str = ""
    precision: str = ""
    precision_reason: str = ""
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)  # for the analyst: the message bar, the log
    output: str = ""  # the polygons (a file path or a layer id)
    probability: str | None = None

    @classmethod
    def from_results(cls, results: dict[str, Any]) -> DetectReport:
        warnings = str(results.get(N.WARNINGS) or "")
        return cls(
            polygon_count=int(_number(results, N.POLYGON_COUNT)),
            total_area_m2=_number(results, N.TOTAL_AREA_M2),
            provider=str(results.get(N.EXECUTION_PROVIDER) or ""),
            provider_reason=str(results.get(N.PROVIDER_REASON) or ""),
            precision=str(results.get(N.PRECISION_USED) or ""),
            precision_reason=str(results.get(N.PRECISION_REASON) or ""),
            elapsed_s=_number(results, N.ELAPSED_S),
            warnings=[w for w in warnings.split(WARNING_SEPARATOR) if w.strip()],
            output=str(results.get(N.OUTPUT) or ""),
            probability=str(results[N.PROBABILITY]) if results.get(N.PROBABILITY) else None,
        )

    def results(self) -> dict[str, Any]:
        """The algorithm's results (what ``processAlgorithm`` returns)."""
        return {
            N.OUTPUT: self.output,
            N.PROBABILITY: self.probability,
            N.POLYGON_COUNT: self.polygon_count,
            N.TOTAL_AREA_M2: self.total_area_m2,
            N.EXECUTION_PROVIDER: self.provider,
            N.PROVIDER_REASON: self.provider_reason,
            N.PRECISION_USED: self.precision,
            N.PRECISION_REASON: self.precision_reason,
            N.ELAPSED_S: self.elapsed_s,
            N.WARNINGS: WARNING_SEPARATOR.join(w.replace("\n", " ") for w in self.warnings),
        }
