# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs the pip command from :mod:`onnx_install` in a QProcess, so QGIS stays responsive."""

from __future__ import annotations

from qgis.core import Qgis, QgsMessageLog
from qgis.PyQt.QtCore import QObject, QProcess, pyqtSignal

from .i18n import tr
from .onnx_install import command_line, onnxruntime_error, refresh_import_paths

LOG_TAG = "Landslide Detector"


class OnnxRuntimeInstaller(QObject):
    """One pip run; ``finished(ok, message)`` says in plain words what happened."""

    finished = pyqtSignal(bool, str)

    def __init__(self, args: list[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.args = args
        self.output: list[str] = []
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read_output)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)

    def start(self) -> None:
        QgsMessageLog.logMessage(f"Running: {command_line(self.args)}", LOG_TAG, Qgis.Info)
        self.process.start(self.args[0], self.args[1:])

    def is_running(self) -> bool:
        return self.process.state() != QProcess.NotRunning

    def _read_output(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        self.output.append(text)
        QgsMessageLog.logMessage(text.rstrip(), LOG_TAG, Qgis.Info)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.FailedToStart:
            self.finished.emit(
                False,
                tr("Could not start {}. Run this command in a terminal instead:\n{}").format(
                    self.args[0], command_line(self.args)
                ),
            )

    def _on_finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        if exit_code != 0:
            tail = "".join(self.output).strip().splitlines()[-3:]
            self.finished.emit(
                False,
                tr(
                    "pip failed (exit code {}): {}\nDetails are in the log "
                    "(View ▸ Panels ▸ Log Messages, tab '{}')."
                ).format(exit_code, " ".join(tail), LOG_TAG),
            )
            return
        refresh_import_paths()
        error = onnxruntime_error()
        if error:
            text = tr("pip finished, but onnxruntime still does not import ({}). Restart QGIS.")
            self.finished.emit(False, text.format(error))
        else:
            self.finished.emit(True, tr("onnxruntime is installed and ready."))
