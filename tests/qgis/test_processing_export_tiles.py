# SPDX-License-Identifier: GPL-2.0-or-later
"""``landslides:export_tiles``: tile pairs from the squares raster and an inventory of its two squares.

With 64-pixel tiles and no overlap, the 100 x 120 raster gives a 2 x 2 grid starting at rows (0, 36)
and columns (0, 56). Square 1 (rows 10-30, cols 10-40) lies in tile (0, 0); square 2 (rows 60-75,
cols 70-85) in tile (1, 1) and, for rows 60-64, in tile (0, 1). Tile (1, 0) has no landslide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import processing
import pytest
from osgeo import gdal
from qgis.core import QgsProcessingException

from tests.fixtures import rasters

SQUARES = [(10, 10, 20, 30), (60, 70, 15, 15)]
EXPECTED_LANDSLIDE_PIXELS = {
    "tile_000_000.tif": 20 * 30,
    "tile_000_001.tif": 4 * 15,
    "tile_001_001.tif": 15 * 15,
}

pytestmark = pytest.mark.usefixtures("landslides_provider")


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return rasters.write_polygons(tmp_path / "inventory.gpkg", [rasters.pixel_rect_wkt(*s) for s in SQUARES])


def run_export(raster: Path, inventory: Path, out: Path, **extra) -> dict:
    parameters = {
        "INPUT": str(raster),
        "INVENTORY": str(inventory),
        "TILE_SIZE": 64,
        "OVERLAP": 0,
        "OUTPUT_FOLDER": str(out),
        **extra,
    }
    return processing.run("landslides:export_tiles", parameters)


def test_pairs_hold_the_image_and_the_burnt_inventory(
    tmp_path: Path, squares_raster: Path, inventory: Path
) -> None:
    out = tmp_path / "tiles"
    result = run_export(squares_raster, inventory, out)
    assert (result["TILE_COUNT"], result["POSITIVE_COUNT"], result["NEGATIVE_COUNT"]) == (4, 3, 1)
    images = sorted(p.name for p in (out / "images").iterdir() if p.suffix == ".tif")
    labels = sorted(p.name for p in (out / "labels").iterdir() if p.suffix == ".tif")
    assert images == labels == sorted([*EXPECTED_LANDSLIDE_PIXELS, "tile_001_000.tif"])

    source = gdal.Open(str(squares_raster)).ReadAsArray()
    for name in images:
        row, col = (int(part) for part in Path(name).stem.split("_")[1:])
        y, x = (0, 36)[row], (0, 56)[col]
        image = gdal.Open(str(out / "images" / name))
        assert (image.RasterCount, image.RasterXSize, image.RasterYSize) == (3, 64, 64)
        np.testing.assert_array_equal(image.ReadAsArray(), source[:, y : y + 64, x : x + 64])
        label = gdal.Open(str(out / "labels" / name)).ReadAsArray()
        assert int((label == 1).sum()) == EXPECTED_LANDSLIDE_PIXELS.get(name, 0), name
        # Landslide pixels are exactly the bright ones.
        np.testing.assert_array_equal(label == 1, source[0, y : y + 64, x : x + 64] == 240)


def test_negatives_can_be_left_out(tmp_path: Path, squares_raster: Path, inventory: Path) -> None:
    out = tmp_path / "tiles"
    result = run_export(squares_raster, inventory, out, NEGATIVE_FRACTION=0.0)
    assert (result["TILE_COUNT"], result["POSITIVE_COUNT"], result["NEGATIVE_COUNT"]) == (3, 3, 0)
    assert sorted(p.name for p in (out / "labels").iterdir()) == sorted(EXPECTED_LANDSLIDE_PIXELS)


def test_inventory_in_another_crs_is_reprojected(tmp_path: Path, squares_raster: Path) -> None:
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsGeometry, QgsProject

    transform = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:32647"),
        QgsCoordinateReferenceSystem("EPSG:4326"),
        QgsProject.instance(),
    )
    wkts = []
    for square in SQUARES:
        geometry = QgsGeometry.fromWkt(rasters.pixel_rect_wkt(*square))
        geometry.transform(transform)
        wkts.append(geometry.asWkt(12))
    inventory = rasters.write_polygons(tmp_path / "wgs84.gpkg", wkts, epsg=4326)
    result = run_export(squares_raster, inventory, tmp_path / "tiles", NEGATIVE_FRACTION=0.0)
    assert result["POSITIVE_COUNT"] == 3
    label = gdal.Open(str(tmp_path / "tiles" / "labels" / "tile_000_000.tif")).ReadAsArray()
    assert int((label == 1).sum()) == 20 * 30


def test_raster_without_georeferencing_fails_clearly(tmp_path: Path, inventory: Path) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "nocrs.tif", epsg=None)
    out = tmp_path / "tiles"
    with pytest.raises(QgsProcessingException) as error:
        run_export(raster, inventory, out)
    assert "georeferenc" in str(error.value)
    assert not out.exists() or not any(out.rglob("*.tif"))
