# SPDX-License-Identifier: GPL-2.0-or-later
"""Every algorithm of the ``landslides`` provider follows the conventions of QGIS core algorithms."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsProcessingAlgorithm, QgsProcessingDestinationParameter

EXPECTED_IDS = {"landslides:detect", "landslides:evaluate", "landslides:export_tiles"}
UPPER_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


def provider_algorithms() -> list[QgsProcessingAlgorithm]:
    provider = QgsApplication.processingRegistry().providerById("landslides")
    assert provider is not None
    return list(provider.algorithms())


def test_provider_identity(landslides_provider) -> None:
    from landslide_detector.core.version import plugin_version

    assert landslides_provider.id() == "landslides"
    assert landslides_provider.name() == "Landslide detection"
    assert landslides_provider.versionInfo() == plugin_version()
    assert not landslides_provider.icon().isNull()
    assert {algorithm.id() for algorithm in provider_algorithms()} == EXPECTED_IDS


@pytest.fixture(params=sorted(EXPECTED_IDS))
def algorithm(request: pytest.FixtureRequest, landslides_provider) -> QgsProcessingAlgorithm:
    found = QgsApplication.processingRegistry().algorithmById(request.param)
    assert found is not None, f"{request.param} is not registered"
    return found


def test_names(algorithm: QgsProcessingAlgorithm) -> None:
    assert algorithm.name() == algorithm.name().lower()
    assert re.fullmatch(r"[a-z][a-z0-9_]*", algorithm.name())
    assert algorithm.displayName().strip()
    assert algorithm.group() == "Landslides"
    assert algorithm.groupId() == "landslides"


def test_help(algorithm: QgsProcessingAlgorithm) -> None:
    help_text = algorithm.shortHelpString()
    assert len(help_text.strip()) > 100
    # Help lives in processing_provider/help/<name>.html, not in code.
    help_dir = Path(__file__).resolve().parents[2] / "processing_provider" / "help"
    help_file = help_dir / f"{algorithm.name()}.html"
    assert help_text.split() == help_file.read_text(encoding="utf-8").split()
    # QGIS's help panel makes every line of shortHelpString a paragraph of its own (<p>line</p>):
    # the file's hard-wrapped lines must reach it as one line, so the HTML alone sets the layout.
    assert "\n" not in help_text and "\r" not in help_text
    assert algorithm.helpUrl() or algorithm.shortDescription() or help_text


def test_create_instance(algorithm: QgsProcessingAlgorithm) -> None:
    instance = algorithm.createInstance()
    assert instance is not algorithm
    assert type(instance) is type(algorithm)
    instance.initAlgorithm({})
    assert [p.name() for p in instance.parameterDefinitions()] == [
        p.name() for p in algorithm.parameterDefinitions()
    ]


def test_parameters(algorithm: QgsProcessingAlgorithm) -> None:
    definitions = algorithm.parameterDefinitions()
    assert definitions
    names = [p.name() for p in definitions]
    assert len(names) == len(set(names)), f"duplicate parameter names in {names}"
    for parameter in definitions:
        assert UPPER_KEY.fullmatch(parameter.name()), parameter.name()
        assert parameter.description().strip(), parameter.name()
    assert any(isinstance(p, QgsProcessingDestinationParameter) for p in definitions)


def test_outputs(algorithm: QgsProcessingAlgorithm) -> None:
    names = [o.name() for o in algorithm.outputDefinitions()]
    assert len(names) == len(set(names))
    for output in algorithm.outputDefinitions():
        assert UPPER_KEY.fullmatch(output.name()), output.name()
        assert output.description().strip(), output.name()


def test_can_run_in_background_and_in_models(algorithm: QgsProcessingAlgorithm) -> None:
    flags = algorithm.flags()
    assert flags & QgsProcessingAlgorithm.FlagSupportsBatch
    assert flags & QgsProcessingAlgorithm.FlagCanCancel
    assert not flags & QgsProcessingAlgorithm.FlagNoThreading
    assert not flags & QgsProcessingAlgorithm.FlagHideFromModeler
    assert not flags & QgsProcessingAlgorithm.FlagHideFromToolbox
    assert not flags & QgsProcessingAlgorithm.FlagNotAvailableInStandaloneTool


def test_class_constants_match_keys(algorithm: QgsProcessingAlgorithm) -> None:
    # Scripts use DetectLandslidesAlgorithm.INPUT etc.: every key is a class constant of the same name.
    keys = [p.name() for p in algorithm.parameterDefinitions()]
    keys += [o.name() for o in algorithm.outputDefinitions()]
    for key in keys:
        assert getattr(type(algorithm), key, None) == key, key
