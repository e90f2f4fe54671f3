# SPDX-License-Identifier: GPL-2.0-or-later
"""QGIS entry point: QGIS calls classFactory(iface) when the plugin is enabled."""


def classFactory(iface):
    from .plugin import LandslideDetectorPlugin

    return LandslideDetectorPlugin(iface)
