# SPDX-License-Identifier: GPL-2.0-or-later
"""One background run of ``landslides:detect``, the same algorithm the Processing toolbox runs.

The algorithm runs in a :class:`DetectionTask` owned by QGIS's task manager: like QGIS's own
QgsProcessingAlgRunnerTask (prepare in the main thread, run in a worker, post-process in the main
thread), except that a cancelled run ends as *complete*: QGIS announces every task that ends as
*terminated* with "Task failed", and a cancel is not a failure. The context and feedback the task
uses are plain references on the C++ side: this object keeps them (and itself, through
``_LIVE_RUNS``) alive until the task has finished, even if the dock is closed or the plugin
unloaded meanwhile.

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
    Qgis,
    QgsApplication,
    QgsMessageLog,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterNumber,
    QgsProject,
    QgsTask,
)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QObject, pyqtSignal

from ..processing_provider.detect_io import DetectNames, DetectReport, DetectRequest
from .i18n import tr

ALGORITHM_ID = "landslides:detect"
PARTIAL_PREFIX = ".landslides-partial-"
PROBABILITY_SUFFIX = "_probability.tif"
_LIVE_RUNS: set[DetectionRun] = set()
# QGIS 3.26+ can keep a task out of its own notifications; the dock reports every outcome itself.
TASK_FLAGS = QgsTask.CanCancel | QgsTask.Silent if hasattr(QgsTask, "Silent") else QgsTask.CanCancel


class CapturingFeedback(QgsProcessingFeedback):
    """Keeps what the algorithm reports as errors and warnings, to show them in plain words (the
    warnings of a successful run also come typed in its report)."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N803 - Qt API name
        self.errors.append(error)
        super().reportError(error, fatalError)

    def pushWarning(self, warning: str) -> None:
        self.warnings.append(warning)
        super().pushWarning(warning)


@dataclass
class RunOutcome:
    """What a finished run produced: ``status`` is ``"ok"``, ``"cancelled"`` or ``"failed"``."""

    status: str
    message: str = ""
    output_path: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)
    raster_name: str = ""
    model_path: str = ""
    probability_path: Path | None = None
    report: DetectReport = field(default_factory=DetectReport)  # a successful run's, typed


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
    return tr(
        "The detection failed without a message; see the Processing log (View ▸ Panels ▸ Log Messages)."
    )


def parameter_problem(
    algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], context: QgsProcessingContext
) -> str:
    """What the toolbox dialog would refuse, in words naming the setting (``""`` when all is fine)."""
    for definition in algorithm.parameterDefinitions():
        value = parameters.get(definition.name())
        if definition.checkValueIsAcceptable(value, context):
            continue
        if isinstance(definition, QgsProcessingParameterNumber):
            low, high = definition.minimum(), definition.maximum()
            if high > 1e12:
                text = tr("The setting '{}' does not accept {!r}: use at least {:g}.")
                return text.format(definition.description(), value, low)
            text = tr("The setting '{}' does not accept {!r}: use {:g} to {:g}.")
            return text.format(definition.description(), value, low, high)
        return tr("The setting '{}' does not accept {!r}.").format(definition.description(), value)
    valid, message = algorithm.checkParameterValues(parameters, context)
    return "" if valid else message


class DetectionTask(QgsTask):
    """A prepared copy of ``algorithm`` run in the background; ``on_done(ok, results, error)`` in the
    main thread once it is over. A cancel ends as *complete* (see the module's docstring)."""

    def __init__(
        self,
        algorithm: QgsProcessingAlgorithm,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        description: str,
        on_done: Any,
    ) -> None:
        super().__init__(description, TASK_FLAGS)
        self.parameters = parameters
        self.context = context
        self.feedback = feedback
        self.on_done = on_done
        self.results: dict[str, Any] = {}
        self.error = ""
        self.algorithm = algorithm.create()
        # prepare() evaluates the parameters against the project: main thread only.
        self.prepared = self.algorithm.prepare(parameters, context, feedback)
        feedback.progressChanged.connect(self.setProgress)

    def cancel(self) -> None:  # also what QGIS's task manager calls
        self.feedback.cancel()
        super().cancel()

    def run(self) -> bool:  # a worker thread
        if not self.prepared:
            return False
        try:
            self.results = self.algorithm.runPrepared(self.parameters, self.context, self.feedback) or {}
        except QgsProcessingException as exc:
            self.error = str(exc)
        except Exception as exc:  # never let an exception out of a worker thread
            self.error = f"{type(exc).__name__}: {exc}"
        if self.error:
            QgsMessageLog.logMessage(self.error, "Processing", Qgis.Critical)  # as QGIS's own tasks do
        if self.feedback.isCanceled():
            return True  # cancelled, and the algorithm has cleaned up: not a failure
        return not self.error

    def finished(self, result: bool) -> None:  # the main thread
        ok = bool(result) and not self.feedback.isCanceled() and not self.error
        if ok:
            try:
                self.results = self.algorithm.postProcess(self.context, self.feedback) or self.results
            except Exception as exc:
                ok, self.error = False, str(exc)
        self.on_done(ok, dict(self.results), self.error)


class DetectionRun(QObject):
    """Start with :meth:`start`; ``finished(RunOutcome)`` fires once, in the main thread."""

    finished = pyqtSignal(object)
    progressChanged = pyqtSignal(float)  # noqa: N815 - Qt signal naming

    def __init__(
        self,
        parameters: DetectRequest | dict[str, Any],
        final_path: Path,
        raster_name: str,
        parent: QObject | None = None,
        probability: bool = False,
    ) -> None:
        super().__init__(parent)
        # A DetectRequest; a parameter dict still works (callers from before the typed request).
        typed = isinstance(parameters, DetectRequest)
        self.parameters = parameters.parameters() if typed else dict(parameters)
        self.final_path = Path(final_path)
        self.raster_name = raster_name
        self.settings = ""  # what this run's layer name says differs (set by the dock)
        self.probability = probability  # also write the probability raster beside the polygons
        self.partial_dir: Path | None = None
        self.context: QgsProcessingContext | None = None
        self.feedback: CapturingFeedback | None = None
        self.task: DetectionTask | None = None
        self.cancel_requested = False
        self.done = False

    @property
    def probability_path(self) -> Path:
        """Where the probability raster goes: beside the GeoPackage, same name + ``_probability``."""
        return self.final_path.with_name(self.final_path.stem + PROBABILITY_SUFFIX)

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Queue the task; a problem found before it starts is reported through ``finished``."""
        algorithm = QgsApplication.processingRegistry().algorithmById(ALGORITHM_ID)
        if algorithm is None:
            text = tr(
                "The Processing algorithm {} is not available: the plugin's Processing provider did not "
                "load. Check View ▸ Panels ▸ Log Messages and reinstall."
            )
            self._finish(RunOutcome("failed", text.format(ALGORITHM_ID)))
            return
        folder = self.final_path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.partial_dir = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=folder))
        except OSError as exc:
            text = tr("Cannot write to the output folder {}: {}. Choose another one.")
            self._finish(RunOutcome("failed", text.format(folder, exc)))
            return
        parameters = dict(self.parameters)
        parameters[DetectNames.OUTPUT] = str(self.partial_dir / "landslides.gpkg")
        if self.probability:
            parameters[DetectNames.PROBABILITY] = str(self.partial_dir / "probability.tif")

        self.context = QgsProcessingContext()
        self.context.setProject(QgsProject.instance())
        # The checks the toolbox dialog makes before it runs anything (ranges, required values).
        problem = parameter_problem(algorithm, parameters, self.context)
        if problem:
            self._finish(RunOutcome("failed", problem))
            return
        self.feedback = CapturingFeedback()
        description = tr("Detecting landslides in {}").format(self.raster_name)
        self.task = DetectionTask(
            algorithm, parameters, self.context, self.feedback, description, self._on_executed
        )
        if not self.task.prepared:  # prepare() refused the parameters: the task would never run
            self.task = None
            self._finish(RunOutcome("failed", plain_error(self.feedback.errors)))
            return
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
            # What QGIS's task list (and its notification, where there is one) says about it.
            self.task.setDescription(tr("Landslide detection in {} cancelled").format(self.raster_name))
            self.task.cancel()

    def wait(self, timeout_ms: int = 30000) -> None:
        """Block until the task's worker has returned (after a cancel this is one batch at most)."""
        if self.task is not None and not sip.isdeleted(self.task) and not self.done:
            self.task.waitForFinished(timeout_ms)

    def is_running(self) -> bool:
        return self.task is not None and not self.done

    # --- completion ---------------------------------------------------------------------------
    def _on_executed(self, successful: bool, results: dict[str, Any], error: str = "") -> None:
        self.task = None  # the task manager deletes the task after this call
        cancelled = self.cancel_requested or (self.feedback is not None and self.feedback.isCanceled())
        if cancelled:
            outcome = RunOutcome("cancelled", tr("Detection cancelled; nothing was written."))
        elif successful:
            outcome = self._publish(results)
        else:
            errors = list(self.feedback.errors if self.feedback else [])
            outcome = RunOutcome("failed", plain_error([*errors, error]))
        self._finish(outcome)

    def _publish(self, results: dict[str, Any]) -> RunOutcome:
        """Rename the finished GeoPackage (and probability raster) to their final names."""
        report = DetectReport.from_results(results)
        written = Path(report.output or (self.partial_dir / "landslides.gpkg"))
        if not written.is_file():
            text = tr("The algorithm reported success but wrote no file at {}.")
            return RunOutcome("failed", text.format(written))
        probability = None
        try:
            if self.probability:
                source = Path(report.probability or (self.partial_dir / "probability.tif"))
                os.replace(source, self.probability_path)
                probability = self.probability_path
            os.replace(written, self.final_path)
        except OSError as exc:
            if probability is not None:
                probability.unlink(missing_ok=True)
            text = tr("Could not move the result to {}: {}.")
            return RunOutcome("failed", text.format(self.final_path, exc))
        names = (DetectNames.OUTPUT, DetectNames.PROBABILITY)
        clean = {key: value for key, value in results.items() if key not in names}
        return RunOutcome("ok", "", self.final_path, clean, probability_path=probability, report=report)

    def _finish(self, outcome: RunOutcome) -> None:
        self.done = True
        if self.partial_dir is not None:
            shutil.rmtree(self.partial_dir, ignore_errors=True)
        outcome.raster_name = self.raster_name
        outcome.model_path = str(self.parameters.get(DetectNames.MODEL, ""))
        # The context and feedback may go now: the task has finished with them.
        _LIVE_RUNS.discard(self)
        self.finished.emit(outcome)
