# SPDX-License-Identifier: GPL-2.0-or-later
"""QGIS-free core: tiling, ONNX runtime, raster I/O, vectorising and metrics (numpy + GDAL + onnxruntime).

Modules (never import ``qgis`` or ``torch`` here):

* ``engine``: :func:`run_detection` (orthophoto + model -> probability GeoTIFF + polygons), streamed
  with a reader thread, onnxruntime in the calling thread and a blending/writing thread; it puts
  three seams together:
* ``plan``: :class:`DetectionPlan`, everything decided from the raster, the model and the options
  (bands, scaling, valid pixels, window, grid, batch, threshold, minimum area, warnings);
* ``model_adapter``: the model's output made the probability of the chosen class;
* ``strips``: finished strips of named layers and their consumers (GeoTIFF writer, vectoriser);
* ``pipeline``: the reader thread, inference helpers and the worker thread base.
* ``valid_pixels``: the one valid-pixel rule (engine, tile export, metrics, training readers).
* ``resources``: the files shipped with the plugin (the default model).
* ``runtime``: onnxruntime sessions and the execution-provider report (CUDA or CPU, and why).
* ``precision``: float32 or the model's int8 copy on the CPU (``auto``: int8 where the CPU has VNNI/AMX).
* ``model_info``: :class:`ModelInfo` of a model file, completed from its graph.
* ``tiling``: tile grids and seam-free blending weights.
* ``vectorize``: probability raster -> GeoPackage polygons with area/perimeter/probabilities.
* ``metrics`` / ``report``: pixel and object accuracy, HTML report.
* ``training_tiles``: image/label tile pairs for training from an orthophoto and an inventory.
* ``atomic``: outputs written under temporary names and renamed on success.
* ``raster_io``: GDAL helpers (clear errors whatever ``gdal.UseExceptions`` says, grids, units).
* ``errors``: :class:`DetectionError` (message = problem + fix) and :class:`DetectionCanceled`.
"""
