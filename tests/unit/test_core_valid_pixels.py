# SPDX-License-Identifier: GPL-2.0-or-later
"""core.valid_pixels: one rule for the engine, the tile export, the metrics and the training readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from core.valid_pixels import ValidPixels, valid_mask
from tests.fixtures import rasters


def _read(path: Path) -> tuple[gdal.Dataset, np.ndarray]:
    ds = gdal.Open(str(path))
    return ds, ds.ReadAsArray().reshape(ds.RasterCount, ds.RasterYSize, ds.RasterXSize)


def test_the_rules(tmp_path: Path) -> None:
    image = rasters.squares_image(20, 30, [(2, 2, 5, 5)])
    image[:, 0, :] = 0
    ds, data = _read(rasters.write_raster(tmp_path / "plain.tif", image))
    assert ValidPixels.of(ds, [1, 2, 3]).trivial and ValidPixels.of(ds, [1]).mask(ds, data, 0, 0) is None

    ds, data = _read(rasters.write_raster(tmp_path / "nodata.tif", image, nodata=0))
    rule = ValidPixels.of(ds, [1, 2, 3])
    assert rule.nodata == [0.0] * 3 and rule.mask_bands == [] and not rule.check_nan
    assert not rule.mask(ds, data, 0, 0)[0].any() and rule.mask(ds, data, 0, 0)[1:].all()

    mask = np.ones((20, 30), bool)
    mask[:, :4] = False
    ds, data = _read(rasters.write_raster(tmp_path / "masked.tif", image, mask=mask))
    rule = ValidPixels.of(ds, [1, 2, 3])
    assert rule.mask_bands == [1]  # a per-dataset mask is read once, not once per band
    np.testing.assert_array_equal(rule.mask(ds, data, 0, 0), mask)
    # A window of the raster: the mask is read at the same offsets as the data.
    np.testing.assert_array_equal(rule.mask(ds, data[:, 5:10, 2:12], 2, 5), mask[5:10, 2:12])

    floats = image.astype(np.float32)
    floats[0, 3, 3] = np.nan
    ds, data = _read(rasters.write_raster(tmp_path / "nan.tif", floats, nodata=-9999.0))
    valid = valid_mask(ds, [1, 2, 3], data)
    assert not valid[3, 3] and valid.sum() == 20 * 30 - 1


@pytest.mark.parametrize("kind", ["nodata", "mask"])
def test_training_readers_see_the_engines_valid_pixels(tmp_path: Path, kind: str) -> None:
    """model.readers (training) and the engine's rule agree pixel for pixel."""
    from model.readers import read_image

    image = rasters.squares_image(40, 50, [(5, 5, 10, 10)])
    image[:, 30:, :] = 0
    mask = np.ones((40, 50), bool)
    mask[:, 45:] = False
    kwargs = {"nodata": 0} if kind == "nodata" else {"mask": mask}
    path = rasters.write_raster(tmp_path / f"{kind}.tif", image, **kwargs)
    ds, data = _read(path)
    np.testing.assert_array_equal(read_image(path).valid, valid_mask(ds, [1, 2, 3], data))
