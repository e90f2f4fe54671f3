# SPDX-License-Identifier: GPL-2.0-or-later
"""QGIS-free core: tiling, ONNX runtime, raster I/O, vectorising and metrics (numpy + GDAL + onnxruntime)."""
