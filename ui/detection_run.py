# SPDX-License-Identifier: GPL-2.0-or-later
"""One background run of ``landslides:detect``, the same algorithm the Processing toolbox runs.

The algorithm runs in a QgsProcessingAlgRunnerTask owned by QGIS's task manager. The context and
feedback the task points to are plain references on the C++ side: this object keeps them (and
itself, through ``_LIVE_RUNS``) alive until the task has finished, even if the dock is closed or
the plugin unloaded meanwhile.

The algorithm writes into a hidden folder inside the output folder; only a finished, successful
run is renamed to its final name, so a cancelled or failed run leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsProcessingAlgorithm,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterNumber,
    QgsProject,
)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QObject, pyqtSignal

ALGORITHM_ID = "landslides:detect"
PARTIAL_PREFIX = ".landslides-partial-"
_LIVE_RUNS: set[DetectionRun] = set()


class CapturingFeedback(QgsProcessingFeedback):
    """Keeps what the algorithm reports as errors, to show them in plain words."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N803 - Qt API name
        self.errors.append(error)
        super().reportError(error, fatalError)


@dataclass
class RunOutcome:
    """What a finished run produced: ``status`` is ``"ok"``, ``"cancelled"`` or ``"failed"``."""

    status: str
    message: str = ""
    output_path: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)
    raster_name: str = ""
    model_path: str = ""


def plain_error(messages: list[str]) -> str:
    """The algorithm's own message, without a Python traceback around it."""
    for message in reversed(messages):
        text = message.strip()
        if not text:
            continue
        if "Traceback (most recent call last)" in text:
            lines = [line for line in text.splitlines() if line.strip()]
            text = lines[-1] if lines else text
        return text
    return "The detection failed without a message; see the Processing log (View ▸ Panels ▸ Log Messages)."


def parameter_problem(
    algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], context: QgsProcessingContext
) -> str:
    """What the toolbox dialog would refuse, in words naming the setting (``""`` when all is fine)."""
    for definition in algorithm.parameterDefinitions():
        value = parameters.get(definition.name())
        if definition.checkValueIsAcceptable(value, context):
            continue
        text = f"The setting '{definition.description()}' does not accept {value!r}"
        if isinstance(definition, QgsProcessingParameterNumber):
            low, high = definition.minimum(), definition.maximum()
            text += f": use at least {low:g}" if high > 1e12 else f": use {low:g} to {high:g}"
        return text + "."
    valid, message = algorithm.checkParameterValues(parameters, context)
    return "" if valid else message


class DetectionRun(QObject):
    """Start with :meth:`start`; ``finished(RunOutcome)`` fires once, in the main thread."""

    finished = pyqtSignal(object)
    progressChanged = pyqtSignal(float)  # noqa: N815 - Qt signal naming

    def __init__(
        self,
        parameters: dict[str, Any],
        final_path: Path,
        raster_name: str,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.parameters = dict(parameters)
        self.final_path = Path(final_path)
        self.raster_name = raster_name
        self.partial_dir: Path | None = None
        self.context: QgsProcessingContext | None = None
        self.feedback: CapturingFeedback | None = None
        self.task: QgsProcessingAlgRunnerTask | None = None
        self.cancel_requested = False
        self.done = False

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Queue the task; a problem found before it starts is reported through ``finished``."""
        algorithm = QgsApplication.processingRegistry().algorithmById(ALGORITHM_ID)
        if algorithm is None:
            self._finish(
                RunOutcome(
                    "failed",
                    f"The Processing algorithm {ALGORITHM_ID} is not available: the plugin's "
                    "Processing provider did not load. Check View ▸ Panels ▸ Log Messages and reinstall.",
                )
            )
            return
        folder = self.final_path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.partial_dir = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=folder))
        except OSError as exc:
            self._finish(
                RunOutcome(
                    "failed", f"Cannot write to the output folder {folder}: {exc}. Choose another one."
                )
            )
            return
        parameters = dict(self.parameters)
        parameters["OUTPUT"] = str(self.partial_dir / "landslides.gpkg")

        self.context = QgsProcessingContext()
        self.context.setProject(QgsProject.instance())
        # The checks the toolbox dialog makes before it runs anything (ranges, required values).
        problem = parameter_problem(algorithm, parameters, self.context)
        if problem:
            self._finish(RunOutcome("failed", problem))
            return
        self.feedback = CapturingFeedback()
        self.task = QgsProcessingAlgRunnerTask(algorithm, parameters, self.context, self.feedback)
        self.task.setDescription(f"Detecting landslides in {self.raster_name}")
        if self.feedback.isCanceled():  # prepare() refused the parameters: the task would never run
            self._finish(RunOutcome("failed", plain_error(self.feedback.errors)))
            return
        self.task.executed.connect(self._on_executed)
        self.task.progressChanged.connect(self.progressChanged)
        _LIVE_RUNS.add(self)
        QgsApplication.taskManager().addTask(self.task)

    def cancel(self) -> None:
        if self.done:
            return
        self.cancel_requested = True
        if self.feedback is not None:
            self.feedback.cancel()
        if self.task is not None and not sip.isdeleted(self.task):
            self.task.cancel()

    def wait(self, timeout_ms: int = 30000) -> None:
        """Block until the task's worker has returned (after a cancel this is one batch at most)."""
        if self.task is not None and not sip.isdeleted(self.task) and not self.done:
            self.task.waitForFinished(timeout_ms)

    def is_running(self) -> bool:
        return self.task is not None and not self.done

    # --- completion ---------------------------------------------------------------------------
    def _on_executed(self, successful: bool, results: dict[str, Any]) -> None:
        self.task = None  # the task manager deletes the task after this signal
        cancelled = self.cancel_requested or (self.feedback is not None and self.feedback.isCanceled())
        if cancelled:
            outcome = RunOutcome("cancelled", "Detection cancelled; nothing was written.")
        elif successful:
            outcome = self._publish(results)
        else:
            outcome = RunOutcome("failed", plain_error(self.feedback.errors if self.feedback else []))
        self._finish(outcome)

    def _publish(self, results: dict[str, Any]) -> RunOutcome:
        """Rename the finished GeoPackage to its final name."""
        written = Path(str(results.get("OUTPUT") or (self.partial_dir / "landslides.gpkg")))
        if not written.is_file():
            return RunOutcome("failed", f"The algorithm reported success but wrote no file at {written}.")
        try:
            os.replace(written, self.final_path)
        except OSError as exc:
            return RunOutcome("failed", f"Could not move the result to {self.final_path}: {exc}.")
        clean = {key: value for key, value in results.items() if key != "OUTPUT"}
        return RunOutcome("ok", "", self.final_path, clean)

    def _finish(self, outcome: RunOutcome) -> None:
        self.done = True
        if self.partial_dir is not None:
            shutil.rmtree(self.partial_dir, ignore_errors=True)
        outcome.raster_name = self.raster_name
        outcome.model_path = str(self.parameters.get("MODEL", ""))
        # The context and feedback may go now: the task has finished with them.
        _LIVE_RUNS.discard(self)
        self.finished.emit(outcome)
