# SPDX-License-Identifier: GPL-2.0-or-later
"""The "Landslide Detector" dock: model, execution provider, input, parameters, runs and results.

The layout lives in ``landslide_dock.ui`` (loaded at run time); this module wires it to QGIS.
Detection runs through the ``landslides:detect`` Processing algorithm in a background task
(:mod:`detection_run`), exactly what the toolbox runs. The analyst's settings are remembered across
sessions (:mod:`settings`). Long texts wrap or are shortened with their full text in a tooltip, so
the dock never needs more width than it opens with.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Any

from qgis.core import (
    Qgis,
    QgsCoordinateTransform,
    QgsMapLayer,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget, QgsFileWidget
from qgis.PyQt import sip, uic
from qgis.PyQt.QtCore import QEvent, QObject, QSize, Qt, QTimer, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QSizePolicy,
    QWidget,
)

from ..processing_provider.detect_io import DetectRequest
from .detection_run import DetectionRun, RunOutcome
from .i18n import tr
from .installer import OnnxRuntimeInstaller
from .model_summary import (
    MODEL_CARD,
    SHIPPED_MODEL,
    card_html,
    error_html,
    is_shipped,
    licence_text,
    load_info,
)
from .onnx_install import command_line, install_args, onnxruntime_error
from .output_folder import default_output_folder, result_path
from .processing_area import AREA_MODES, area_choice, area_description
from .result_item import ResultItemWidget
from .result_layers import (
    GROUP_NAME,
    RunSummary,
    add_result_layer,
    run_layer_name,
    run_settings,
    save_as_geopackage,
    summary_of,
    unique_layer_name,
)
from .settings import DockSettings

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).resolve().parent / "landslide_dock.ui"))
DEVICES = ("auto", "cuda", "cpu")  # order of deviceCombo, and the algorithm's DEVICE values
ERROR_STYLE = "color: #b00000;"
FILE_NAME_CHARS = 44  # longer file names are shortened in the middle in the status line


def message_title() -> str:
    return tr("Landslide Detector")


def short_name(name: str, limit: int = FILE_NAME_CHARS) -> str:
    """``name`` shortened in the middle with "…" when longer than ``limit`` characters."""
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2
    return f"{name[:head]}…{name[-(limit - 1 - head) :]}"


class LandslideDock(QgsDockWidget, FORM_CLASS):
    """Created by the plugin; :meth:`cleanup` before deleting it disconnects it from QGIS.

    ``status_kind`` says what the status line shows, for code and tests that must not read its
    (translated) words: "", "ready", "running", "done", "cancelled", "error" or "runtime" (the
    "install onnxruntime first" warning).
    """

    runFinished = pyqtSignal(object)  # noqa: N815 - Qt naming; the RunOutcome of each run

    def __init__(self, iface: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("LandslideDetectorDock")
        self.iface = iface
        self.settings = DockSettings()
        self.run: DetectionRun | None = None
        self.installer: OnnxRuntimeInstaller | None = None
        self.model_info: Any = None
        self.model_error = ""
        self.runtime_error = ""
        self.status_kind = ""
        self._output_folder_custom = False
        self._setting_output_folder = False
        self._applying_model_values = False

        self.modelFile.setStorageMode(QgsFileWidget.GetFile)
        self.modelFile.setFilter(tr("ONNX models (*.onnx)"))
        self.modelFile.setDialogTitle(tr("Choose an ONNX landslide model"))
        self.outputFolder.setStorageMode(QgsFileWidget.GetDirectory)
        self.outputFolder.setDialogTitle(tr("Folder for detection results"))
        self.rasterCombo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.areaLayerCombo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.progressBar.setRange(0, 100)
        self.progressBar.setValue(0)
        self.onnxFrame.setVisible(False)
        self._keep_narrow()

        self._restore_settings()
        self.modelFile.fileChanged.connect(self._on_model_changed)
        self.defaultModelButton.clicked.connect(self.use_shipped_model)
        self.modelValuesCheck.toggled.connect(self._on_model_values_toggled)
        self.thresholdSpin.valueChanged.connect(self._remember_own_values)
        self.minAreaSpin.valueChanged.connect(self._remember_own_values)
        self.deviceCombo.currentIndexChanged.connect(self._refresh_provider)
        self.deviceCombo.currentIndexChanged.connect(lambda _i: self.settings.set("device", self.device()))
        self.tileSizeSpin.valueChanged.connect(lambda v: self.settings.set("tile_size", int(v)))
        self.overlapSpin.valueChanged.connect(lambda v: self.settings.set("overlap", int(v)))
        self.batchSizeSpin.valueChanged.connect(lambda v: self.settings.set("batch_size", int(v)))
        self.ttaCheck.toggled.connect(lambda on: self.settings.set("tta", bool(on)))
        self.runAtOnceCheck.toggled.connect(lambda on: self.settings.set("run_at_once", bool(on)))
        self.probabilityCheck.toggled.connect(lambda on: self.settings.set("probability", bool(on)))
        self.areaCombo.currentIndexChanged.connect(self._on_area_changed)
        self.areaLayerCombo.layerChanged.connect(self._refresh_area)
        self.outputFolder.fileChanged.connect(self._on_output_folder_edited)
        self.rasterCombo.layerChanged.connect(self._update_run_button)
        self.runButton.clicked.connect(lambda _checked=False: self.start_detection())
        self.cancelButton.clicked.connect(self.cancel_detection)
        self.installButton.clicked.connect(self.install_onnxruntime)
        self.copyCommandButton.clicked.connect(
            lambda _checked=False: QApplication.clipboard().setText(self.onnxCommand.text())
        )

        self._connections: list[tuple[Any, Any]] = []
        project = QgsProject.instance()
        self._connect(iface.currentLayerChanged, self._follow_active_layer)
        self._connect(iface.mapCanvas().selectionChanged, self._refresh_area)
        self._connect(project.fileNameChanged, self.refresh_output_folder)
        self._connect(project.homePathChanged, self.refresh_output_folder)
        self._connect(project.readProject, self._on_project_read)
        self._connect(project.cleared, self._on_project_cleared)
        self._connect(project.layersWillBeRemoved, self._on_layers_removed)

        self.refresh_runtime()
        remembered = self.settings.get("model")
        if remembered and Path(remembered).is_file():
            self.modelFile.setFilePath(remembered)  # fileChanged loads it
        else:
            self.use_shipped_model()
        self.refresh_output_folder()
        self._refresh_area()
        self.rebuild_results()
        self._follow_active_layer()

    # --- plumbing ---------------------------------------------------------------------------------
    def _connect(self, signal: Any, slot: Any) -> None:
        signal.connect(slot)
        self._connections.append((signal, slot))

    def cleanup(self) -> None:
        """Disconnect from QGIS signals and cancel a running detection (called before deletion)."""
        for signal, slot in self._connections:
            with contextlib.suppress(TypeError, RuntimeError):  # already gone with its sender
                signal.disconnect(slot)
        self._connections.clear()
        if self.run is not None:
            self.run.finished.disconnect(self._on_run_finished)
            self.run.cancel()  # the run keeps itself alive until its task has finished
            # The algorithm must not outlive its provider, which the plugin removes next.
            self.run.wait()
            self.run = None

    def _keep_narrow(self) -> None:
        """Nothing may widen the dock: texts wrap (check boxes' too), combos do not grow with names."""
        self._check_labels: dict[QLabel, QCheckBox] = {}
        for check in self.findChildren(QCheckBox):
            self._wrap_check_box_text(check)
        for label in self.findChildren(QLabel):
            if label.wordWrap() and label not in self._check_labels:
                # Without this a long unbreakable word (a path) sets the label's minimum width.
                label.setSizePolicy(QSizePolicy.Ignored, label.sizePolicy().verticalPolicy())
        for combo in self.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        self.resultsList.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

    def _wrap_check_box_text(self, check: QCheckBox) -> None:
        """Move a form check box's text into a word-wrapping label beside it (a QCheckBox never
        wraps, so a long text, or a longer translation, would set the dock's minimum width)."""
        layout = check.parentWidget().layout() if check.parentWidget() else None
        if not isinstance(layout, QFormLayout) or not check.text():
            return
        row, role = layout.getWidgetPosition(check)
        if row < 0:
            return
        label = QLabel(check.text())
        label.setObjectName(f"{check.objectName()}Text")
        label.setWordWrap(True)
        label.setToolTip(check.toolTip())
        label.setCursor(Qt.PointingHandCursor)
        label.installEventFilter(self)
        check.setText("")
        check.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        check.setAccessibleName(label.text())
        layout.removeWidget(check)
        row_widget = QWidget()
        row_layout = QHBoxLayout(row_widget)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(check, 0, Qt.AlignTop)
        row_layout.addWidget(label, 1)
        layout.setWidget(row, role, row_widget)
        self._check_labels[label] = check

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        check = self._check_labels.get(watched) if hasattr(self, "_check_labels") else None
        if check is not None and event.type() == QEvent.MouseButtonRelease:
            if check.isEnabled():
                check.toggle()
            return True
        return super().eventFilter(watched, event)

    def _message(self, text: str, level: Qgis.MessageLevel, duration: int = 8) -> None:
        self.iface.messageBar().pushMessage(message_title(), text, level, duration)

    def set_status(self, text: str, kind: str = "", tooltip: str = "") -> None:
        self.status_kind = kind
        self.statusLabel.setStyleSheet(ERROR_STYLE if kind in ("error", "runtime") else "")
        self.statusLabel.setText(text)
        self.statusLabel.setToolTip(tooltip or text)

    # --- settings ---------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        """Put the remembered values into the widgets (before any signal is connected)."""
        get = self.settings.get
        self.modelValuesCheck.setChecked(get("use_model_values"))
        self._set_value_spins_enabled()
        if not get("use_model_values"):
            self.thresholdSpin.setValue(get("threshold"))
            self.minAreaSpin.setValue(get("min_area"))
        device = get("device")
        self.deviceCombo.setCurrentIndex(DEVICES.index(device) if device in DEVICES else 0)
        self.tileSizeSpin.setValue(get("tile_size"))
        self.overlapSpin.setValue(get("overlap"))
        self.batchSizeSpin.setValue(get("batch_size"))
        self.ttaCheck.setChecked(get("tta"))
        self.runAtOnceCheck.setChecked(get("run_at_once"))
        self.probabilityCheck.setChecked(get("probability"))
        area = get("area")
        self.areaCombo.setCurrentIndex(AREA_MODES.index(area) if area in AREA_MODES else 0)
        folder = get("output_folder")
        if folder:
            self._output_folder_custom = True
            self._setting_output_folder = True
            self.outputFolder.setFilePath(folder)
            self._setting_output_folder = False

    def use_model_values(self) -> bool:
        return self.modelValuesCheck.isChecked()

    def _set_value_spins_enabled(self) -> None:
        own = not self.use_model_values()
        for widget in (self.thresholdSpin, self.minAreaSpin, self.thresholdLabel, self.minAreaLabel):
            widget.setEnabled(own)

    def _apply_model_values(self) -> None:
        if self.model_info is None:
            return
        self._applying_model_values = True
        self.thresholdSpin.setValue(float(getattr(self.model_info, "threshold", 0.5) or 0.5))
        self.minAreaSpin.setValue(float(getattr(self.model_info, "min_area_m2", 0.0) or 0.0))
        self._applying_model_values = False

    def _on_model_values_toggled(self, checked: bool) -> None:
        self.settings.set("use_model_values", bool(checked))
        self._set_value_spins_enabled()
        if checked:
            self._apply_model_values()
        elif self.settings.has("threshold"):
            # Back to the analyst's own values, as last set (otherwise start from the model's).
            threshold, min_area = self.settings.get("threshold"), self.settings.get("min_area")
            self.thresholdSpin.setValue(threshold)
            self.minAreaSpin.setValue(min_area)
        self._remember_own_values()

    def _remember_own_values(self, *_args: Any) -> None:
        if self.use_model_values() or self._applying_model_values:
            return
        self.settings.set("threshold", float(self.thresholdSpin.value()))
        self.settings.set("min_area", float(self.minAreaSpin.value()))

    def run_at_once(self) -> bool:
        return self.runAtOnceCheck.isChecked()

    # --- onnxruntime --------------------------------------------------------------------------------
    def refresh_runtime(self) -> None:
        """Show how to install onnxruntime when it does not import; otherwise the provider in use."""
        self.runtime_error = onnxruntime_error()
        missing = bool(self.runtime_error)
        self.onnxFrame.setVisible(missing)
        if missing:
            command = command_line(install_args())
            self.onnxLabel.setText(
                tr(
                    "<b>onnxruntime is not installed in QGIS's Python</b>, so detection cannot run "
                    "({}). Press Install, or run this command and restart QGIS:"
                ).format(self.runtime_error)
            )
            self.onnxCommand.setText(command)
            self.onnxCommand.setToolTip(command)
            self.onnxCommand.setCursorPosition(0)
        elif self.status_kind == "runtime":
            # The "install onnxruntime first" warning is answered: say what can be done now.
            self.set_status("")
            self._show_ready_if_possible()
        self._refresh_provider()
        self._refresh_model_card()
        self._update_run_button()

    def install_onnxruntime(self) -> None:
        if self.installer is not None and self.installer.is_running():
            return
        self.installer = OnnxRuntimeInstaller(install_args(), self)
        self.installer.finished.connect(self._on_install_finished)
        self.installButton.setEnabled(False)
        self.onnxStatusLabel.setText(tr("Installing… (this can take a few minutes)"))
        self.installer.start()

    def _on_install_finished(self, ok: bool, message: str) -> None:
        self.installButton.setEnabled(True)
        self.onnxStatusLabel.setText(message)
        self.onnxStatusLabel.setToolTip(message)
        self._message(message, Qgis.Success if ok else Qgis.Critical, 10 if ok else 0)
        if ok:
            self.refresh_runtime()
            self._on_model_changed(self.modelFile.filePath())

    # --- model and provider ---------------------------------------------------------------------------
    def use_shipped_model(self) -> None:
        if self.model_path() == str(SHIPPED_MODEL):
            self._on_model_changed(str(SHIPPED_MODEL))
        else:
            self.modelFile.setFilePath(str(SHIPPED_MODEL))  # fileChanged loads it

    def model_path(self) -> str:
        return self.modelFile.filePath().strip()

    def _on_model_changed(self, path: str) -> None:
        path = (path or "").strip()
        self.model_info, self.model_error = None, ""
        if not path:
            self.model_error = tr("No model chosen: choose an .onnx file or press Shipped.")
        elif not Path(path).is_file():
            if is_shipped(path):
                text = tr("The shipped model {} is missing: reinstall the plugin or choose an .onnx file.")
            else:
                text = tr("The file {} does not exist: choose an existing .onnx model.")
            self.model_error = text.format(path)
        elif not self.runtime_error:
            try:
                self.model_info = load_info(path)
            except Exception as exc:  # the core's DetectionError names the problem and the fix
                self.model_error = str(exc)
        if path and Path(path).is_file():
            self.settings.set("model", "" if is_shipped(path) else path)
        if self.use_model_values():
            self._apply_model_values()  # each model brings its calibrated values
        if not path:
            self.modelGroup.setTitle(tr("Model"))
        else:
            title = tr("Model: shipped with the plugin") if is_shipped(path) else tr("Model: your file")
            self.modelGroup.setTitle(title)
        self.modelFile.setToolTip(path)
        self._refresh_model_card()
        self._update_run_button()

    def _refresh_model_card(self) -> None:
        if self.model_error:
            self.modelCardLabel.setText(error_html(self.model_error))
            self.modelCardLabel.setToolTip(self.model_error)
        elif self.model_info is not None:
            card = MODEL_CARD if is_shipped(self.model_path()) else None
            self.modelCardLabel.setText(card_html(self.model_info, card))
            self.modelCardLabel.setToolTip(
                tr("Licence of the weights: {}").format(licence_text(self.model_info))
            )
        elif self.runtime_error:
            self.modelCardLabel.setText(tr("The model card is shown once onnxruntime is installed."))
        else:
            self.modelCardLabel.setText("")

    def device(self) -> str:
        return DEVICES[max(0, self.deviceCombo.currentIndex())]

    def _refresh_provider(self) -> None:
        runs_on = tr("Runs on:")
        if self.runtime_error:
            self.providerLabel.setText(f"<b>{runs_on}</b> {tr('nothing yet (onnxruntime is missing)')}")
            return
        try:
            from ..core.runtime import describe_provider

            report = describe_provider(self.device())
        except Exception as exc:
            self.providerLabel.setText(f"<b>{runs_on}</b> {tr('unknown ({})').format(exc)}")
            return
        self.providerLabel.setText(f"<b>{runs_on}</b> {report.used} — {report.reason}")
        self.providerLabel.setToolTip(report.reason)

    # --- input raster and area ------------------------------------------------------------------------
    def _follow_active_layer(self, *_args: Any) -> None:
        if self.run is not None:
            return
        layer = self.iface.activeLayer()
        if isinstance(layer, QgsRasterLayer):
            self.rasterCombo.setLayer(layer)
        elif self.area_mode() == "selection" and isinstance(layer, QgsVectorLayer):
            self.areaLayerCombo.setLayer(layer)  # the layer the analyst selects polygons in

    def raster_layer(self) -> QgsRasterLayer | None:
        layer = self.rasterCombo.currentLayer()
        return layer if isinstance(layer, QgsRasterLayer) else None

    def area_mode(self) -> str:
        return AREA_MODES[max(0, self.areaCombo.currentIndex())]

    def _on_area_changed(self, *_args: Any) -> None:
        self.settings.set("area", self.area_mode())
        self._refresh_area()

    def _refresh_area(self, *_args: Any) -> None:
        if sip.isdeleted(self.areaCombo):
            return
        selection = self.area_mode() == "selection"
        self.areaLayerLabel.setVisible(selection)
        self.areaLayerCombo.setVisible(selection)
        text = area_description(self.area_mode(), self.areaLayerCombo.currentLayer())
        self.areaInfoLabel.setText(text)
        self.areaInfoLabel.setToolTip(text)
        self.areaInfoLabel.setVisible(bool(text))

    # --- output folder ----------------------------------------------------------------------------
    def refresh_output_folder(self, *_args: Any) -> None:
        """Point at the default folder unless the user chose one; always say what the folder is."""
        default = default_output_folder()
        if not self._output_folder_custom:
            self._setting_output_folder = True
            self.outputFolder.setFilePath(str(default.path))
            self._setting_output_folder = False
            self.outputFolderLabel.setText(default.explanation())
            self.outputFolderLabel.setToolTip(str(default.path))
        else:
            self.outputFolderLabel.setText(tr("The folder you chose (remembered)."))
            self.outputFolderLabel.setToolTip(self.outputFolder.filePath())

    def _on_output_folder_edited(self, path: str) -> None:
        if self._setting_output_folder:
            return
        self._output_folder_custom = bool(path.strip())
        self.settings.set("output_folder", path.strip())
        self.refresh_output_folder()

    def output_folder(self) -> Path:
        text = self.outputFolder.filePath().strip()
        return Path(text) if text else default_output_folder().path

    # --- running ------------------------------------------------------------------------------------
    def _update_run_button(self, *_args: Any) -> None:
        running = self.run is not None
        ready = not self.runtime_error and self.raster_layer() is not None
        run_enabled, cancel_enabled = ready and not running, running
        # Hand the focus from the button being disabled to its neighbour first: Qt would move it
        # to the next widget, and the scroll area would jump there, away from the mouse.
        if cancel_enabled and self.runButton.hasFocus():
            self.cancelButton.setEnabled(True)
            self.cancelButton.setFocus()
        elif run_enabled and self.cancelButton.hasFocus():
            self.runButton.setEnabled(True)
            self.runButton.setFocus()
        self.runButton.setEnabled(run_enabled)
        self.cancelButton.setEnabled(cancel_enabled)

    def _show_ready_if_possible(self) -> None:
        raster = self.raster_layer()
        if raster is not None and not self.runtime_error and self.run is None:
            self.show_ready()

    def show_ready(self) -> None:
        """The run is set up: say so and put the focus on Detect landslides (the toolbar's first click)."""
        raster = self.raster_layer()
        if raster is None:
            return
        text = tr("Ready to search {}: check the settings, then press Detect landslides.")
        self.set_status(text.format(raster.name()), "ready")
        self.runButton.setFocus()
        # Once laid out (the dock may have just opened): the button and this line in view.
        QTimer.singleShot(0, self._show_status_line)

    def _show_status_line(self) -> None:
        if not sip.isdeleted(self.scrollArea):
            self.scrollArea.ensureWidgetVisible(self.statusLabel)

    def request(self, raster: QgsRasterLayer) -> DetectRequest:
        """The ``landslides:detect`` run the dock's widgets describe (outputs set by the run)."""
        # A file path, not the layer id: the algorithm opens its own copy in the task's thread.
        source = raster.source() if raster.providerType() == "gdal" else raster.id()
        own = not self.use_model_values()
        tile, overlap = self.tileSizeSpin, self.overlapSpin
        return DetectRequest(
            raster=source,
            model=self.model_path(),
            # None: the model's calibrated values, which the (disabled) spin boxes show.
            threshold=round(self.thresholdSpin.value(), 4) if own else None,
            min_area=self.minAreaSpin.value() if own else None,
            device=self.device(),
            batch_size=self.batchSizeSpin.value(),
            tta=self.ttaCheck.isChecked(),
            tile_size=tile.value() if tile.value() > tile.minimum() else None,
            overlap=overlap.value() if overlap.value() > overlap.minimum() else None,
        )

    def parameters(self, raster: QgsRasterLayer) -> dict[str, Any]:
        """The Processing parameters of :meth:`request`."""
        return self.request(raster).parameters()

    def start_detection(self, layer: QgsMapLayer | None = None) -> DetectionRun | None:
        """Detect landslides on ``layer`` (or the combo's raster) in the background."""
        if self.run is not None:
            self.set_status(tr("A detection is already running; wait for it or press Cancel."), "running")
            return None
        if layer is not None:
            self.rasterCombo.setLayer(layer)
        raster = self.raster_layer()
        if self.runtime_error:
            text = tr("Install onnxruntime first: the panel shows the command and an Install button.")
            self.set_status(text, "runtime")
            self._message(text, Qgis.Warning, 10)
            return None
        if raster is None:
            self.set_status(tr("Choose the orthophoto (a raster layer) to search."), "error")
            return None
        area = area_choice(self.area_mode(), self.iface.mapCanvas(), self.areaLayerCombo.currentLayer())
        if area.problem:
            self.set_status(area.problem, "error")
            return None
        request = self.request(raster)
        request.extent, request.mask = area.extent, area.mask
        final = result_path(self.output_folder(), raster.name())
        # No Qt parent: the run must outlive the dock if the plugin is unloaded mid-run.
        probability = self.probabilityCheck.isChecked()
        self.run = DetectionRun(request, final, raster.name(), probability=probability)
        self.run.settings = run_settings(
            self.thresholdSpin.value(),
            self.minAreaSpin.value(),
            self.model_path(),
            [text for text in (area.short, tr("TTA") if self.ttaCheck.isChecked() else "") if text],
        )
        self.run.progressChanged.connect(self._on_progress)
        self.run.finished.connect(self._on_run_finished)
        self.progressBar.setValue(0)
        self.set_status(tr("Detecting landslides in {}…").format(raster.name()), "running")
        self._update_run_button()
        run = self.run
        run.start()
        return run

    def cancel_detection(self) -> None:
        if self.run is not None:
            self.set_status(tr("Cancelling…"), "running")
            self.run.cancel()

    def _on_progress(self, value: float) -> None:
        self.progressBar.setValue(int(value))

    def _on_run_finished(self, outcome: RunOutcome) -> None:
        run, self.run = self.run, None
        self._update_run_button()
        if outcome.status == "ok":
            self._publish(outcome, getattr(run, "settings", ""))
            self._show_warnings(outcome.report.warnings)
        elif outcome.status == "cancelled":
            self.progressBar.setValue(0)
            self.set_status(outcome.message, "cancelled")
            self._message(outcome.message, Qgis.Info, 5)
        else:
            self.progressBar.setValue(0)
            text = tr("Detection failed: {}").format(outcome.message)
            self.set_status(text, "error")
            self._message(text, Qgis.Critical, 0)
        self.runFinished.emit(outcome)

    def _show_warnings(self, warnings: list[str]) -> None:
        """The run's warnings (no CRS, another resolution, stretched values, ...) stay in the message
        bar until the analyst closes them: they say why a result may be off."""
        for warning in warnings:
            self._message(warning, Qgis.Warning, 0)

    def _publish(self, outcome: RunOutcome, settings: str) -> None:
        finished_at = datetime.now()
        summary = RunSummary.from_report(
            outcome.report,
            raster=outcome.raster_name,
            model=outcome.model_path,
            finished_at=finished_at.isoformat(timespec="seconds"),
            threshold=self.thresholdSpin.value(),
            min_area_m2=self.minAreaSpin.value(),
            settings=settings,
        )
        name = unique_layer_name(run_layer_name(outcome.raster_name, settings))
        try:
            layer, _probability = add_result_layer(
                outcome.output_path, name, summary, outcome.probability_path
            )
        except ValueError as exc:
            self.set_status(str(exc), "error")
            self._message(str(exc), Qgis.Critical, 0)
            return
        self.progressBar.setValue(100)
        self._expand_results_group()
        self.add_result_entry(layer, summary)
        file_name = short_name(outcome.output_path.name)
        text = tr("Done: {}. Saved as {}").format(summary.describe(), file_name)
        self.set_status(text, "done", str(outcome.output_path))
        self._message(f"{outcome.raster_name}: {summary.describe()}", Qgis.Success, 8)

    def _expand_results_group(self) -> None:
        """Unfold "Landslides" in the Layers panel (its view does not follow a new group's state)."""
        group = QgsProject.instance().layerTreeRoot().findGroup(GROUP_NAME)
        view = self.iface.layerTreeView()
        if group is None or view is None or not hasattr(view, "node2index"):
            return
        view.setExpanded(view.node2index(group), True)

    # --- results list ------------------------------------------------------------------------------
    def add_result_entry(self, layer: QgsVectorLayer, summary: RunSummary) -> None:
        item = QListWidgetItem()
        item.setData(Qt.UserRole, layer.id())
        widget = ResultItemWidget(layer.id(), layer.name(), summary)
        widget.zoomRequested.connect(self.zoom_to_result)
        widget.tableRequested.connect(self.open_result_table)
        widget.saveRequested.connect(self.save_result_dialog)
        # Width 0: the list gives the entry its own width; the name is shortened to fit.
        item.setSizeHint(QSize(0, widget.sizeHint().height()))
        self.resultsList.insertItem(0, item)
        self.resultsList.setItemWidget(item, widget)

    def result_layer_ids(self) -> list[str]:
        return [self.resultsList.item(i).data(Qt.UserRole) for i in range(self.resultsList.count())]

    def rebuild_results(self) -> None:
        """List the result layers the project holds (after opening a saved project)."""
        self.resultsList.clear()
        layers = [
            layer
            for layer in QgsProject.instance().mapLayers().values()
            if isinstance(layer, QgsVectorLayer) and summary_of(layer) is not None
        ]
        for layer in sorted(layers, key=lambda lyr: summary_of(lyr).finished_at):
            self.add_result_entry(layer, summary_of(layer))

    def _on_project_read(self, *_args: Any) -> None:
        self.rebuild_results()
        self.refresh_output_folder()

    def _on_project_cleared(self) -> None:
        self.resultsList.clear()
        self.refresh_output_folder()

    def _on_layers_removed(self, layer_ids: list[str]) -> None:
        if sip.isdeleted(self.resultsList):
            return
        for row in reversed(range(self.resultsList.count())):
            if self.resultsList.item(row).data(Qt.UserRole) in layer_ids:
                self.resultsList.takeItem(row)

    def _result_layer(self, layer_id: str) -> QgsVectorLayer | None:
        layer = QgsProject.instance().mapLayer(layer_id)
        return layer if isinstance(layer, QgsVectorLayer) else None

    def zoom_to_result(self, layer_id: str) -> None:
        layer = self._result_layer(layer_id)
        if layer is None:
            return
        canvas = self.iface.mapCanvas()
        extent = layer.extent()
        if extent.isEmpty():
            self.set_status(tr("{} holds no landslides.").format(layer.name()), "done")
            return
        transform = QgsCoordinateTransform(
            layer.crs(), canvas.mapSettings().destinationCrs(), QgsProject.instance()
        )
        extent = transform.transformBoundingBox(extent)
        extent.scale(1.2)
        canvas.setExtent(extent)
        canvas.refresh()

    def open_result_table(self, layer_id: str) -> None:
        layer = self._result_layer(layer_id)
        if layer is not None:
            self.iface.showAttributeTable(layer)

    def save_result_dialog(self, layer_id: str) -> None:
        layer = self._result_layer(layer_id)
        if layer is None:
            return
        start = str(self.output_folder() / f"{Path(layer.source().split('|')[0]).stem}_copy.gpkg")
        path, _filter = QFileDialog.getSaveFileName(
            self, tr("Save landslides as"), start, tr("GeoPackage (*.gpkg)")
        )
        if path:
            self.save_result(layer_id, path)

    def save_result(self, layer_id: str, path: str) -> bool:
        layer = self._result_layer(layer_id)
        if layer is None:
            return False
        if not path.lower().endswith(".gpkg"):
            path += ".gpkg"
        try:
            save_as_geopackage(layer, path)
        except OSError as exc:
            self.set_status(str(exc), "error")
            self._message(str(exc), Qgis.Critical, 0)
            return False
        self.set_status(tr("Saved {} to {}").format(layer.name(), path), "done", path)
        self._message(tr("Saved to {}").format(path), Qgis.Success, 5)
        return True
