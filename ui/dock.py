# SPDX-License-Identifier: GPL-2.0-or-later
"""The "Landslide Detector" dock: model, execution provider, input, parameters, runs and results.

The layout lives in ``landslide_dock.ui`` (loaded at run time); this module wires it to QGIS.
Detection runs through the ``landslides:detect`` Processing algorithm in a background task
(:mod:`detection_run`), exactly what the toolbox runs.
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
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QApplication, QFileDialog, QListWidgetItem, QWidget

from .detection_run import DetectionRun, RunOutcome
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
from .result_item import ResultItemWidget
from .result_layers import GROUP_NAME, RunSummary, add_result_layer, save_as_geopackage, summary_of

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).resolve().parent / "landslide_dock.ui"))
MESSAGE_TITLE = "Landslide Detector"
DEVICES = ("auto", "cuda", "cpu")  # order of deviceCombo, and the algorithm's DEVICE values


class LandslideDock(QgsDockWidget, FORM_CLASS):
    """Created by the plugin; :meth:`cleanup` before deleting it disconnects it from QGIS."""

    runFinished = pyqtSignal(object)  # noqa: N815 - Qt naming; the RunOutcome of each run

    def __init__(self, iface: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("LandslideDetectorDock")
        self.iface = iface
        self.run: DetectionRun | None = None
        self.installer: OnnxRuntimeInstaller | None = None
        self.model_info: Any = None
        self.model_error = ""
        self.runtime_error = ""
        self._output_folder_custom = False
        self._setting_output_folder = False

        self.modelFile.setStorageMode(QgsFileWidget.GetFile)
        self.modelFile.setFilter("ONNX models (*.onnx)")
        self.modelFile.setDialogTitle("Choose an ONNX landslide model")
        self.outputFolder.setStorageMode(QgsFileWidget.GetDirectory)
        self.outputFolder.setDialogTitle("Folder for detection results")
        self.rasterCombo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.progressBar.setRange(0, 100)
        self.progressBar.setValue(0)
        self.onnxFrame.setVisible(False)

        self.modelFile.fileChanged.connect(self._on_model_changed)
        self.defaultModelButton.clicked.connect(self.use_shipped_model)
        self.deviceCombo.currentIndexChanged.connect(self._refresh_provider)
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
        self._connect(project.fileNameChanged, self.refresh_output_folder)
        self._connect(project.homePathChanged, self.refresh_output_folder)
        self._connect(project.readProject, self._on_project_read)
        self._connect(project.cleared, self._on_project_cleared)
        self._connect(project.layersWillBeRemoved, self._on_layers_removed)

        self.refresh_runtime()
        self.use_shipped_model()
        self.refresh_output_folder()
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

    def _message(self, text: str, level: Qgis.MessageLevel, duration: int = 8) -> None:
        self.iface.messageBar().pushMessage(MESSAGE_TITLE, text, level, duration)

    def _status(self, text: str, error: bool = False) -> None:
        self.statusLabel.setStyleSheet("color: #b00000;" if error else "")
        self.statusLabel.setText(text)

    # --- onnxruntime --------------------------------------------------------------------------------
    def refresh_runtime(self) -> None:
        """Show how to install onnxruntime when it does not import; otherwise the provider in use."""
        self.runtime_error = onnxruntime_error()
        missing = bool(self.runtime_error)
        self.onnxFrame.setVisible(missing)
        if missing:
            command = command_line(install_args())
            self.onnxLabel.setText(
                "<b>onnxruntime is not installed in QGIS's Python</b>, so detection cannot run "
                f"({self.runtime_error}). Press Install, or run this command and restart QGIS:"
            )
            self.onnxCommand.setText(command)
            self.onnxCommand.setCursorPosition(0)
        self._refresh_provider()
        self._refresh_model_card()
        self._update_run_button()

    def install_onnxruntime(self) -> None:
        if self.installer is not None and self.installer.is_running():
            return
        self.installer = OnnxRuntimeInstaller(install_args(), self)
        self.installer.finished.connect(self._on_install_finished)
        self.installButton.setEnabled(False)
        self.onnxStatusLabel.setText("Installing… (this can take a few minutes)")
        self.installer.start()

    def _on_install_finished(self, ok: bool, message: str) -> None:
        self.installButton.setEnabled(True)
        self.onnxStatusLabel.setText(message)
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
            self.model_error = "No model chosen: choose an .onnx file or press Shipped."
        elif not Path(path).is_file():
            if is_shipped(path):
                self.model_error = (
                    f"The shipped model {path} is missing: reinstall the plugin or choose an .onnx file."
                )
            else:
                self.model_error = f"The file {path} does not exist: choose an existing .onnx model."
        elif not self.runtime_error:
            try:
                self.model_info = load_info(path)
            except Exception as exc:  # the core's DetectionError names the problem and the fix
                self.model_error = str(exc)
        if self.model_info is not None:
            threshold = float(getattr(self.model_info, "threshold", 0.5) or 0.5)
            self.thresholdSpin.setValue(threshold)
            self.minAreaSpin.setValue(float(getattr(self.model_info, "min_area_m2", 0.0) or 0.0))
        if not path:
            self.modelGroup.setTitle("Model")
        else:
            self.modelGroup.setTitle(
                "Model: shipped with the plugin" if is_shipped(path) else "Model: your file"
            )
        self._refresh_model_card()
        self._update_run_button()

    def _refresh_model_card(self) -> None:
        if self.model_error:
            self.modelCardLabel.setText(error_html(self.model_error))
        elif self.model_info is not None:
            card = MODEL_CARD if is_shipped(self.model_path()) else None
            self.modelCardLabel.setText(card_html(self.model_info, card))
            self.modelCardLabel.setToolTip(f"Licence of the weights: {licence_text(self.model_info)}")
        elif self.runtime_error:
            self.modelCardLabel.setText("The model card is shown once onnxruntime is installed.")
        else:
            self.modelCardLabel.setText("")

    def device(self) -> str:
        return DEVICES[max(0, self.deviceCombo.currentIndex())]

    def _refresh_provider(self) -> None:
        if self.runtime_error:
            self.providerLabel.setText("<b>Runs on:</b> nothing yet (onnxruntime is missing)")
            return
        try:
            from ..core.runtime import describe_provider

            report = describe_provider(self.device())
        except Exception as exc:
            self.providerLabel.setText(f"<b>Runs on:</b> unknown ({exc})")
            return
        self.providerLabel.setText(f"<b>Runs on:</b> {report.used} — {report.reason}")
        self.providerLabel.setToolTip(report.reason)

    # --- input raster -------------------------------------------------------------------------------
    def _follow_active_layer(self, *_args: Any) -> None:
        if self.run is not None:
            return
        layer = self.iface.activeLayer()
        if isinstance(layer, QgsRasterLayer):
            self.rasterCombo.setLayer(layer)

    def raster_layer(self) -> QgsRasterLayer | None:
        layer = self.rasterCombo.currentLayer()
        return layer if isinstance(layer, QgsRasterLayer) else None

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
            self.outputFolderLabel.setText("The folder you chose.")

    def _on_output_folder_edited(self, path: str) -> None:
        if self._setting_output_folder:
            return
        self._output_folder_custom = bool(path.strip())
        self.refresh_output_folder()

    def output_folder(self) -> Path:
        text = self.outputFolder.filePath().strip()
        return Path(text) if text else default_output_folder().path

    # --- running ------------------------------------------------------------------------------------
    def _update_run_button(self, *_args: Any) -> None:
        running = self.run is not None
        ready = not self.runtime_error and self.raster_layer() is not None
        self.runButton.setEnabled(ready and not running)
        self.cancelButton.setEnabled(running)

    def parameters(self, raster: QgsRasterLayer) -> dict[str, Any]:
        """The ``landslides:detect`` parameters the dock's widgets describe (OUTPUT set by the run)."""
        # A file path, not the layer id: the algorithm opens its own copy in the task's thread.
        source = raster.source() if raster.providerType() == "gdal" else raster.id()
        params: dict[str, Any] = {
            "INPUT": source,
            "MODEL": self.model_path(),
            "THRESHOLD": round(self.thresholdSpin.value(), 4),
            "MIN_AREA": self.minAreaSpin.value(),
            "DEVICE": self.device(),
            "BATCH_SIZE": self.batchSizeSpin.value(),
            "TTA": self.ttaCheck.isChecked(),
        }
        if self.tileSizeSpin.value() > self.tileSizeSpin.minimum():
            params["TILE_SIZE"] = self.tileSizeSpin.value()
        if self.overlapSpin.value() > self.overlapSpin.minimum():
            params["OVERLAP"] = self.overlapSpin.value()
        return params

    def start_detection(self, layer: QgsMapLayer | None = None) -> DetectionRun | None:
        """Detect landslides on ``layer`` (or the combo's raster) in the background."""
        if self.run is not None:
            self._status("A detection is already running; wait for it or press Cancel.")
            return None
        if layer is not None:
            self.rasterCombo.setLayer(layer)
        raster = self.raster_layer()
        if self.runtime_error:
            text = "Install onnxruntime first: the panel shows the command and an Install button."
            self._status(text, error=True)
            self._message(text, Qgis.Warning, 10)
            return None
        if raster is None:
            self._status("Choose the orthophoto (a raster layer) to search.", error=True)
            return None
        final = result_path(self.output_folder(), raster.name())
        # No Qt parent: the run must outlive the dock if the plugin is unloaded mid-run.
        self.run = DetectionRun(self.parameters(raster), final, raster.name())
        self.run.progressChanged.connect(self._on_progress)
        self.run.finished.connect(self._on_run_finished)
        self.progressBar.setValue(0)
        self._status(f"Detecting landslides in {raster.name()}…")
        self._update_run_button()
        run = self.run
        run.start()
        return run

    def cancel_detection(self) -> None:
        if self.run is not None:
            self._status("Cancelling…")
            self.run.cancel()

    def _on_progress(self, value: float) -> None:
        self.progressBar.setValue(int(value))

    def _on_run_finished(self, outcome: RunOutcome) -> None:
        self.run = None
        self._update_run_button()
        if outcome.status == "ok":
            self._publish(outcome)
        elif outcome.status == "cancelled":
            self.progressBar.setValue(0)
            self._status(outcome.message)
            self._message(outcome.message, Qgis.Info, 5)
        else:
            self.progressBar.setValue(0)
            self._status(f"Detection failed: {outcome.message}", error=True)
            self._message(f"Detection failed: {outcome.message}", Qgis.Critical, 0)
        self.runFinished.emit(outcome)

    def _publish(self, outcome: RunOutcome) -> None:
        finished_at = datetime.now()
        summary = RunSummary.from_results(
            outcome.results,
            raster=outcome.raster_name,
            model=outcome.model_path,
            finished_at=finished_at.isoformat(timespec="seconds"),
        )
        name = f"{outcome.raster_name} · {finished_at:%H:%M:%S}"  # shown inside the "Landslides" group
        try:
            layer = add_result_layer(outcome.output_path, name, summary)
        except ValueError as exc:
            self._status(str(exc), error=True)
            self._message(str(exc), Qgis.Critical, 0)
            return
        self.progressBar.setValue(100)
        self._expand_results_group()
        self.add_result_entry(layer, summary)
        self._status(f"Done: {summary.describe()}. Saved as {outcome.output_path.name}")
        self.statusLabel.setToolTip(str(outcome.output_path))
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
        item.setSizeHint(widget.sizeHint())
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
            self._status(f"{layer.name()} holds no landslides.")
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
        path, _filter = QFileDialog.getSaveFileName(self, "Save landslides as", start, "GeoPackage (*.gpkg)")
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
            self._status(str(exc), error=True)
            self._message(str(exc), Qgis.Critical, 0)
            return False
        self._status(f"Saved {layer.name()} to {path}")
        self._message(f"Saved to {path}", Qgis.Success, 5)
        return True
