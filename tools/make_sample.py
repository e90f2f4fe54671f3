# SPDX-License-Identifier: GPL-2.0-or-later
"""Build the bundled sample (resources/sample/) from one CC BY 4.0 Sichuan tile in ../shared/data.

The source tile has no georeferencing; the sample gets a nominal one (stated in its README) so that
areas come out in square metres. Run once by a developer: `.venv/bin/python tools/make_sample.py`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()

ROOT = Path(__file__).resolve().parent.parent
TILE = "Landslide007"  # a validation tile of the shipped model: the demo shows unseen data
EPSG = 32648  # UTM 48N covers Sichuan
PIXEL_M = 0.5  # nominal: the dataset does not state the tile's ground sampling distance
ORIGIN = (400000.0, 3500000.0)  # nominal top-left corner


def build(source: Path, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    gt = (ORIGIN[0], PIXEL_M, 0.0, ORIGIN[1], 0.0, -PIXEL_M)

    image = gdal.Open(str(source / "images" / f"{TILE}.png"))
    mem = gdal.Translate("", image, format="MEM", bandList=[1, 2, 3])
    mem.SetGeoTransform(gt)
    mem.SetProjection(srs.ExportToWkt())
    gdal.Translate(
        str(out_dir / "sample_orthophoto.tif"),
        mem,
        creationOptions=["COMPRESS=JPEG", "JPEG_QUALITY=90", "PHOTOMETRIC=YCBCR", "TILED=YES"],
    )

    # Inventory: the tile's magenta label pixels as polygons.
    label = gdal.Open(str(source / "masks" / f"{TILE}.png")).ReadAsArray().max(axis=0) > 0
    mask = gdal.GetDriverByName("MEM").Create("", label.shape[1], label.shape[0], 1, gdal.GDT_Byte)
    mask.SetGeoTransform(gt)
    mask.SetProjection(srs.ExportToWkt())
    mask.GetRasterBand(1).WriteArray(label.astype("uint8"))
    band = mask.GetRasterBand(1)
    path = out_dir / "sample_inventory.gpkg"
    if path.exists():
        path.unlink()
    vector = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = vector.CreateLayer("inventory", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("landslide", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, 0)
    vector = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared/data/landslides/sichuan")
    parser.add_argument("--output", type=Path, default=ROOT / "resources/sample")
    args = parser.parse_args()
    build(args.source, args.output)


if __name__ == "__main__":
    main()
