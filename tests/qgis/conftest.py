# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures shared by the QGIS tests: the Processing provider, tiny models, rasters, qgis_process.

pytest-qgis starts one QgsApplication (offscreen) for the session with its own settings folder;
``qgis_process`` subprocesses get a separate temporary profile so no test touches a user's QGIS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from qgis.core import QgsApplication, QgsProcessingFeedback

from tests.fixtures import rasters, tiny_models

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_NAME = "landslide_detector"
PLUGINS_DIR = ROOT / ".build" / "plugins"
QGIS_PROCESS = shutil.which("qgis_process.bin") or "qgis_process.bin"


# --- settings and language -----------------------------------------------------------------------
# pytest-qgis keeps QGIS's settings in <repo>/.qgis-settings, shared by every test session run in
# this tree at the same time: the tests neither write QGIS's language there nor share the dock's
# remembered settings with another session.


def interface_language(patch: pytest.MonkeyPatch, locale: str) -> None:
    """Make the plugin see ``locale`` as QGIS's interface language (what Settings ▸ Options sets)."""
    from landslide_detector.processing_provider import algorithm_base
    from landslide_detector.ui import i18n

    patch.setattr(i18n, "user_locale", lambda: locale)
    patch.setattr(algorithm_base, "qgis_locale", lambda: locale)


REAL_LOCALE_LOOKUPS: dict[str, Any] = {}


@pytest.fixture(scope="session", autouse=True)
def english_interface(qgis_app):
    """English for the session, whatever the machine's locale. Tests check states, not words, where
    they can; the ones that read the dock's texts expect the untranslated ones. German runs on purpose
    in ``test_translation.py`` and ``test_dock_layout.py``."""
    from landslide_detector.processing_provider import algorithm_base
    from landslide_detector.ui import i18n

    REAL_LOCALE_LOOKUPS.update(user_locale=i18n.user_locale, qgis_locale=algorithm_base.qgis_locale)
    patch = pytest.MonkeyPatch()
    interface_language(patch, "en_US")
    yield
    patch.undo()


@pytest.fixture(scope="session", autouse=True)
def private_dock_settings(qgis_app):
    """The dock remembers its settings under a group of this session's own."""
    from landslide_detector.ui import settings

    patch = pytest.MonkeyPatch()
    patch.setattr(settings, "GROUP", f"landslide_detector_tests/{os.getpid()}/dock")
    yield
    settings.DockSettings().clear()
    patch.undo()


@pytest.fixture(autouse=True)
def fresh_dock_settings(private_dock_settings):
    """Every test starts with the dock's defaults: nothing it remembers leaks into the next test.

    Afterwards the test's Qt and Python garbage goes in the main thread: a later collection could
    run in a worker thread (a background detection) and delete Qt objects from there.
    """
    import gc

    from landslide_detector.ui.settings import DockSettings
    from qgis.PyQt.QtCore import QCoreApplication, QEvent

    DockSettings().clear()
    yield
    DockSettings().clear()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    gc.collect()


# --- Processing ---------------------------------------------------------------------------------


@pytest.fixture
def landslides_provider(qgis_processing: None):
    """The ``landslides`` provider for one test: the plugin's if it is loaded, else a fresh one.

    A fresh one is removed again afterwards, so tests that load the plugin itself (which registers
    the provider) never find it registered already.
    """
    from landslide_detector.processing_provider.provider import LandslidesProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("landslides")
    if provider is not None:
        yield provider
        return
    provider = LandslidesProvider()
    assert registry.addProvider(provider)
    yield provider
    if registry.providerById("landslides") is not None:
        registry.removeProvider("landslides")


class CancelAfterFirstProgress(QgsProcessingFeedback):
    """Feedback that asks to cancel as soon as the algorithm reports any progress."""

    def __init__(self) -> None:
        super().__init__()
        self.progress_reports = 0
        self.progressChanged.connect(self._on_progress)

    def _on_progress(self, _value: float) -> None:
        self.progress_reports += 1
        self.cancel()


class RecordingFeedback(QgsProcessingFeedback):
    """Feedback that keeps every message, to check what the user is told."""

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[str] = []
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def pushInfo(self, info: str) -> None:
        self.infos.append(info)
        super().pushInfo(info)

    def pushWarning(self, warning: str) -> None:
        self.warnings.append(warning)
        super().pushWarning(warning)

    def reportError(self, error: str, fatalError: bool = False) -> None:
        self.errors.append(error)
        super().reportError(error, fatalError)


@pytest.fixture
def feedback() -> RecordingFeedback:
    return RecordingFeedback()


@pytest.fixture
def cancel_feedback() -> CancelAfterFirstProgress:
    return CancelAfterFirstProgress()


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyModels:
    brightness: Path  # probability = pixel brightness: bright squares become landslides
    constant: Path  # probability 0.7 everywhere
    corrupt: Path  # not an ONNX file
    wrong_rank: Path  # input N x C instead of N x C x H x W
    brightness_4band: Path  # needs 4 bands


@pytest.fixture(scope="session")
def tiny_model_files(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    folder = tmp_path_factory.mktemp("models")
    return TinyModels(
        brightness=tiny_models.brightness_model(folder / "brightness.onnx"),
        constant=tiny_models.constant_model(folder / "constant.onnx"),
        corrupt=tiny_models.corrupt_model(folder / "corrupt.onnx"),
        wrong_rank=tiny_models.wrong_rank_model(folder / "wrong_rank.onnx"),
        brightness_4band=tiny_models.brightness_model(folder / "brightness4.onnx", bands=4),
    )


@pytest.fixture
def squares_raster(tmp_path: Path) -> Path:
    """3-band Byte GeoTIFF, 0.5 m pixels, two bright rectangles (20 x 30 and 15 x 15 pixels)."""
    return rasters.bright_squares_raster(tmp_path / "squares.tif")


# --- qgis_process -------------------------------------------------------------------------------


@dataclass
class QgisProcessResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict[str, Any]:
        """The ``--json`` document qgis_process printed (it may print log lines before it)."""
        start = self.stdout.find("{")
        assert start >= 0, f"no JSON in qgis_process output:\n{self.output}"
        return json.loads(self.stdout[start:])


def python_path_for_qgis() -> str:
    """PYTHONPATH that lets QGIS's own Python import what this venv adds (onnxruntime)."""
    paths = []
    if sys.prefix != sys.base_prefix:  # running in the project's virtual environment
        paths += dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(paths)


def qgis_process_env(profile_dir: Path, plugins_dir: Path = PLUGINS_DIR) -> dict[str, str]:
    """Environment for qgis_process.bin: headless, the plugin from ``plugins_dir``, a private profile."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=python_path_for_qgis(),
        QT_QPA_PLATFORM="offscreen",
        QGIS_PLUGINPATH=str(plugins_dir),
        QGIS_CUSTOM_CONFIG_PATH=str(profile_dir),
        XDG_RUNTIME_DIR=str(profile_dir / "runtime"),
    )
    env.pop("QGIS_OPTIONS_PATH", None)  # set by pytest-qgis for its own session
    (profile_dir / "runtime").mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def run_qgis_process(
    args: Sequence[str],
    profile_dir: Path,
    timeout: float = 300.0,
    cwd: Path | None = None,
    plugins_dir: Path = PLUGINS_DIR,
) -> QgisProcessResult:
    completed = subprocess.run(
        [QGIS_PROCESS, *args],
        env=qgis_process_env(profile_dir, plugins_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    return QgisProcessResult(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture(scope="session")
def qgis_process_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away QGIS profile in which the plugin is enabled, the way a user would enable it."""
    assert shutil.which(QGIS_PROCESS), "qgis_process.bin is missing: `make test` installs Debian's qgis"
    profile = tmp_path_factory.mktemp("qgis_process_profile")
    result = run_qgis_process(["plugins", "enable", PLUGIN_NAME], profile, timeout=120)
    assert result.returncode == 0, result.output
    return profile


@pytest.fixture(scope="session")
def qgis_process(qgis_process_profile: Path):
    """``qgis_process(args...)`` runs qgis_process.bin in the test profile and returns its result."""

    def run(*args: str, timeout: float = 300.0) -> QgisProcessResult:
        return run_qgis_process(list(args), qgis_process_profile, timeout=timeout)

    return run
