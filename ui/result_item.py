# SPDX-License-Identifier: GPL-2.0-or-later
"""One entry of the dock's results list: what a run found, with zoom / table / save buttons."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QPainter
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from .i18n import tr
from .result_layers import RunSummary


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with "…" instead of widening the list."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setToolTip(text)

    def paintEvent(self, _event: object) -> None:  # Qt API name
        painter = QPainter(self)
        text = self.fontMetrics().elidedText(self.text(), Qt.ElideMiddle, self.width())
        painter.drawText(self.rect(), int(Qt.AlignLeft | Qt.AlignVCenter), text)


class ResultItemWidget(QWidget):
    zoomRequested = pyqtSignal(str)  # noqa: N815 - Qt signal naming; the layer id
    tableRequested = pyqtSignal(str)  # noqa: N815
    saveRequested = pyqtSignal(str)  # noqa: N815

    def __init__(self, layer_id: str, name: str, summary: RunSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer_id = layer_id
        # Raster, then what differs between runs, then what the run found: each line shortened to
        # fit, the layer's full name in the tooltip.
        self.title = ElidedLabel(summary.raster or name)
        self.title.setToolTip(name)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.settings = ElidedLabel(summary.settings)
        self.settings.setVisible(bool(summary.settings))
        self.details = ElidedLabel(summary.describe())
        self.details.setToolTip(
            tr("Raster: {}\nModel: {}\nExecution provider: {} ({})\nPrecision: {} ({})\nFinished: {}").format(
                summary.raster,
                summary.model,
                summary.provider,
                summary.provider_reason,
                summary.precision or "?",
                summary.precision_reason,
                summary.finished_at,
            )
        )
        self.zoom_button = self._button(
            tr("Zoom"), "/mActionZoomToLayer.svg", tr("Zoom the map to these landslides"), self.zoomRequested
        )
        self.table_button = self._button(
            tr("Table"), "/mActionOpenTable.svg", tr("Open the attribute table"), self.tableRequested
        )
        self.save_button = self._button(
            tr("Save…"), "/mActionFileSaveAs.svg", tr("Save to another GeoPackage"), self.saveRequested
        )

        text = QVBoxLayout()
        text.setContentsMargins(0, 0, 0, 0)
        text.setSpacing(0)
        text.addWidget(self.title)
        text.addWidget(self.settings)
        text.addWidget(self.details)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.addLayout(text, 1)
        for button in (self.zoom_button, self.table_button, self.save_button):
            row.addWidget(button)

    def _button(self, text: str, icon: str, tip: str, signal: pyqtSignal) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setIcon(QgsApplication.getThemeIcon(icon))
        button.setToolButtonStyle(Qt.ToolButtonIconOnly)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(lambda _checked=False: signal.emit(self.layer_id))
        return button
