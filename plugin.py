# SPDX-License-Identifier: GPL-2.0-or-later
"""The plugin object QGIS creates: Processing provider, "Detect landslides" button, dock toggle.

Thin on purpose: the work happens in ``processing_provider`` (the algorithm) and ``ui`` (the dock).
Everything added here is removed again in :meth:`unload`.
"""

from __future__ import annotations

import gc
from typing import Any

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QToolBar

from .core.resources import ICON_PATH
from .ui.i18n import install_translator, remove_translator, tr

TITLE = "Landslide Detector"  # the message log tab and toolbar object: never translated
PROVIDER_ID = "landslides"


class LandslideDetectorPlugin:
    def __init__(self, iface: Any) -> None:
        self.iface = iface
        # First, so the provider, the button and the dock all speak the user's language.
        self.translator = install_translator()
        self.menu = tr("&Landslide Detector")
        self.provider: Any = None
        self.provider_error = ""
        self.dock: Any = None
        self.toolbar: QToolBar | None = None
        self.detect_action: QAction | None = None
        self.dock_action: QAction | None = None
        self.actions: list[QAction] = []

    # --- Processing -------------------------------------------------------------------------------
    def initProcessing(self) -> None:  # name fixed by QGIS
        """Register the ``landslides`` provider (QGIS calls this before initGui, and qgis_process alone)."""
        if self.provider is not None:
            return
        registry = QgsApplication.processingRegistry()
        if registry.providerById(PROVIDER_ID) is not None:
            # Registered by someone else (another copy of the plugin, a test session): use it, leave it.
            QgsMessageLog.logMessage("The 'landslides' provider is already registered.", TITLE, Qgis.Info)
            return
        try:
            from .processing_provider.provider import LandslidesProvider

            provider = LandslidesProvider()
        except Exception as exc:  # a broken install must not stop QGIS from starting
            self.provider_error = tr("The Processing provider could not be loaded: {}").format(exc)
            QgsMessageLog.logMessage(self.provider_error, TITLE, Qgis.Critical)
            return
        if registry.addProvider(provider):
            self.provider = provider
        else:
            self.provider_error = tr("QGIS refused to register the 'landslides' Processing provider.")
            QgsMessageLog.logMessage(self.provider_error, TITLE, Qgis.Critical)

    # --- GUI ----------------------------------------------------------------------------------------
    def initGui(self) -> None:  # name fixed by QGIS
        self.initProcessing()
        window = self.iface.mainWindow()
        icon = QIcon(str(ICON_PATH))

        self.detect_action = QAction(icon, tr("Detect landslides"), window)
        self.detect_action.setObjectName("landslideDetectorDetect")
        self.detect_action.setToolTip(
            tr("Detect landslides in the active orthophoto: opens the panel ready to run")
        )
        self.detect_action.triggered.connect(self.detect_landslides)

        self.dock_action = QAction(
            QgsApplication.getThemeIcon("/mDockify.svg"), tr("Landslide Detector panel"), window
        )
        self.dock_action.setObjectName("landslideDetectorPanel")
        self.dock_action.setCheckable(True)
        self.dock_action.setToolTip(tr("Show or hide the Landslide Detector panel"))
        self.dock_action.toggled.connect(self._on_dock_action_toggled)
        self.actions = [self.detect_action, self.dock_action]

        self.toolbar = self.iface.addToolBar(tr("Landslide Detector"))
        self.toolbar.setObjectName("LandslideDetectorToolbar")
        for action in self.actions:
            self.toolbar.addAction(action)
            self.iface.addPluginToRasterMenu(self.menu, action)

    def unload(self) -> None:
        for action in self.actions:
            self.iface.removePluginRasterMenu(self.menu, action)
        if self.toolbar is not None:
            for action in self.actions:
                self.toolbar.removeAction(action)
            self.iface.mainWindow().removeToolBar(self.toolbar)
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.dock is not None:
            self.dock.cleanup()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        for action in self.actions:
            action.deleteLater()
        self.actions = []
        self.detect_action = self.dock_action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)  # deletes the provider
            self.provider = None
        remove_translator(self.translator)
        self.translator = None
        # Collect what the dock left behind now, in the main thread: Python may otherwise collect
        # it later from whichever thread allocates, e.g. a background detection's worker, and Qt
        # objects must be deleted in the thread they live in.
        gc.collect()

    # --- dock ---------------------------------------------------------------------------------------
    def ensure_dock(self) -> Any:
        """The dock, created on first use (it reads the model, so not at QGIS start-up)."""
        if self.dock is None:
            from .ui.dock import LandslideDock

            self.dock = LandslideDock(self.iface, self.iface.mainWindow())
            if self.provider_error:
                self.dock.set_status(self.provider_error, "error")
            self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
            self.dock.openedStateChanged.connect(self._on_dock_visibility)
        return self.dock

    def show_dock(self) -> Any:
        dock = self.ensure_dock()
        dock.setUserVisible(True)
        dock.raise_()
        self._on_dock_visibility(True)  # also when the main window is hidden (no show event yet)
        return dock

    def _on_dock_action_toggled(self, checked: bool) -> None:
        if checked:
            self.show_dock()
        elif self.dock is not None:
            self.dock.setUserVisible(False)

    def _on_dock_visibility(self, visible: bool) -> None:
        if self.dock_action is not None and self.dock_action.isChecked() != visible:
            self.dock_action.blockSignals(True)
            self.dock_action.setChecked(visible)
            self.dock_action.blockSignals(False)

    # --- the button -------------------------------------------------------------------------------
    def detect_landslides(self) -> Any:
        """Open the dock ready to run on the active raster; the analyst starts it there.

        With "Toolbar button starts the detection at once" (remembered) it starts straight away and
        returns the run. Without a raster it asks for the orthophoto in the dock.
        """
        dock = self.show_dock()
        layer = self.iface.activeLayer()
        if isinstance(layer, QgsRasterLayer):
            if dock.run_at_once():
                return dock.start_detection(layer)
            if dock.run is None:
                dock.rasterCombo.setLayer(layer)
                dock.show_ready()
            return None
        if dock.raster_layer() is None:
            text = tr("Add an orthophoto (raster layer) to the project, then press Detect landslides.")
        else:
            text = tr(
                "The selected layer is not a raster: pick the orthophoto in the panel "
                "and press Detect landslides."
            )
        dock.set_status(text, "error" if dock.raster_layer() is None else "")
        self.iface.messageBar().pushMessage(tr("Landslide Detector"), text, Qgis.Info, 6)
        dock.rasterCombo.setFocus()
        return None
