# SPDX-License-Identifier: GPL-2.0-or-later
"""Write resources/detect_and_evaluate.model3: a model-builder graph chaining detect -> evaluate.

Built in code (not drawn by hand) so it is reviewable and rebuilt after parameter changes:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/build_model3.py [--output PATH]

Run it from the command line (the plugin must be enabled for qgis_process, see the README):

    qgis_process.bin run resources/detect_and_evaluate.model3 -- orthophoto=ortho.tif \
        inventory=inventory.gpkg detect:Landslides=landslides.gpkg evaluate:Report=report.html
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "resources" / "detect_and_evaluate.model3"
SPDX_HEADER = "<!-- SPDX-License-Identifier: GPL-2.0-or-later -->\n"


def _static_defaults(child) -> None:
    """Give unconnected inputs their default, as the model designer does when a child is added."""
    from qgis.core import QgsApplication, QgsProcessingModelChildParameterSource

    algorithm = QgsApplication.processingRegistry().algorithmById(child.algorithmId())
    for definition in algorithm.parameterDefinitions():
        if definition.isDestination() or definition.name() in child.parameterSources():
            continue
        if definition.defaultValue() is not None:
            source = QgsProcessingModelChildParameterSource.fromStaticValue(definition.defaultValue())
            child.addParameterSources(definition.name(), [source])


def build_model():
    """The graph; needs a QgsApplication with the ``landslides`` provider registered."""
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterFile,
        QgsProcessingParameterRasterLayer,
        QgsProcessingParameterVectorLayer,
    )
    from qgis.PyQt.QtCore import QPointF

    model = QgsProcessingModelAlgorithm("Detect and evaluate landslides", "Landslides", "detect_and_evaluate")
    model.setHelpContent(
        {
            "ALG_DESC": "Detects landslides in an orthophoto and scores them against a reference "
            "inventory (pixel and object IoU, precision, recall, F1) in an HTML report.",
            "orthophoto": "Post-event orthophoto (RGB raster).",
            "inventory": "Reference landslide polygons for the same area.",
            "model": "ONNX model; empty uses the model shipped with the plugin.",
        }
    )

    inputs = [
        (QgsProcessingParameterRasterLayer("orthophoto", "Orthophoto"), QPointF(120, 80)),
        (
            QgsProcessingParameterVectorLayer(
                "inventory", "Reference inventory", types=[QgsProcessing.TypeVectorPolygon]
            ),
            QPointF(120, 260),
        ),
        # Optional without default: detect then falls back to its own default, the shipped model.
        (
            QgsProcessingParameterFile("model", "ONNX model", extension="onnx", optional=True),
            QPointF(120, 170),
        ),
    ]
    for definition, position in inputs:
        component = QgsProcessingModelParameter(definition.name())
        component.setPosition(position)
        model.addModelParameter(definition, component)

    detect = QgsProcessingModelChildAlgorithm("landslides:detect")
    detect.setChildId("detect")
    detect.setDescription("Detect landslides")
    detect.setPosition(QPointF(400, 120))
    from_input = QgsProcessingModelChildParameterSource.fromModelParameter
    detect.addParameterSources("INPUT", [from_input("orthophoto")])
    detect.addParameterSources("MODEL", [from_input("model")])
    landslides = QgsProcessingModelOutput("Landslides", "Landslides")
    landslides.setChildId("detect")
    landslides.setChildOutputName("OUTPUT")
    landslides.setPosition(QPointF(620, 60))
    detect.setModelOutputs({"Landslides": landslides})
    _static_defaults(detect)
    model.addChildAlgorithm(detect)

    evaluate = QgsProcessingModelChildAlgorithm("landslides:evaluate")
    evaluate.setChildId("evaluate")
    evaluate.setDescription("Evaluate against inventory")
    evaluate.setPosition(QPointF(400, 300))
    evaluate.addParameterSources(
        "PREDICTION", [QgsProcessingModelChildParameterSource.fromChildOutput("detect", "OUTPUT")]
    )
    evaluate.addParameterSources("INVENTORY", [from_input("inventory")])
    report = QgsProcessingModelOutput("Report", "Report")
    report.setChildId("evaluate")
    report.setChildOutputName("REPORT")
    report.setPosition(QPointF(640, 300))
    evaluate.setModelOutputs({"Report": report})  # the metrics table stays a temporary layer
    _static_defaults(evaluate)
    model.addChildAlgorithm(evaluate)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT / ".build" / "plugins"))
    # Qt orders XML attributes by a hash: a fixed seed keeps the file byte-identical between runs.
    os.environ.setdefault("QT_HASH_SEED", "0")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    try:
        from landslide_detector.processing_provider.provider import LandslidesProvider

        provider = LandslidesProvider()
        QgsApplication.processingRegistry().addProvider(provider)
        model = build_model()
        ok, errors = model.validate()
        if not ok:
            print("The model is not valid:\n" + "\n".join(errors), file=sys.stderr)
            return 1
        if not model.toFile(str(args.output)):
            print(f"Could not write {args.output}", file=sys.stderr)
            return 1
        text = args.output.read_text(encoding="utf-8")
        args.output.write_text(SPDX_HEADER + text, encoding="utf-8")
        print(f"Wrote {args.output}")
        return 0
    finally:
        app.exitQgis()


if __name__ == "__main__":
    sys.exit(main())
