# SPDX-License-Identifier: GPL-2.0-or-later
"""Training data from real GDAL/OGR files generated here: masks, inventories, crops, licences."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from model.data import NODATA_FILL, CropSampler, DataError, normalised
from model.metrics import Confusion
from model.readers import load_orthophoto, load_tile, tile_pairs
from model.sources import licence_of, load_split

gdal.UseExceptions()
ogr.UseExceptions()

ORIGIN_X, ORIGIN_Y, GSD = 500000.0, 3400000.0, 0.5
H, W = 96, 128
NO_IMAGERY_COLS = 24  # western strip without imagery (mask band 0)
SLIDE = (40, 72, 60, 100)  # row0, row1, col0, col1 of the square landslide polygon
INSIDE, OUTSIDE = 200, 60  # raw values inside / outside the landslide: never 0, so fill == no imagery


def _utm() -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32647)
    return srs


def _expected_label() -> np.ndarray:
    label = np.zeros((H, W), np.uint8)
    r0, r1, c0, c1 = SLIDE
    label[r0:r1, c0:c1] = 1
    return label


def _write_orthophoto(path) -> None:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), W, H, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((ORIGIN_X, GSD, 0.0, ORIGIN_Y, 0.0, -GSD))
    ds.SetProjection(_utm().ExportToWkt())
    data = np.where(_expected_label() == 1, INSIDE, OUTSIDE).astype(np.uint8)
    data[:, :NO_IMAGERY_COLS] = 0
    for b in range(1, 4):
        ds.GetRasterBand(b).WriteArray(data)
    ds.CreateMaskBand(gdal.GMF_PER_DATASET)
    mask = np.full((H, W), 255, np.uint8)
    mask[:, :NO_IMAGERY_COLS] = 0
    ds.GetRasterBand(1).GetMaskBand().WriteArray(mask)
    ds = None


def _write_polygons(path) -> None:
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("inventory", _utm(), ogr.wkbPolygon)
    r0, r1, c0, c1 = SLIDE
    x0, x1 = ORIGIN_X + c0 * GSD, ORIGIN_X + c1 * GSD
    y0, y1 = ORIGIN_Y - r0 * GSD, ORIGIN_Y - r1 * GSD
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)):
        ring.AddPoint_2D(x, y)
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(poly)
    layer.CreateFeature(feature)
    ds = None


@pytest.fixture
def ortho(tmp_path):
    image, polygons = tmp_path / "ortho.tif", tmp_path / "inventory.gpkg"
    _write_orthophoto(image)
    _write_polygons(polygons)
    return image, polygons


def test_orthophoto_with_mask_band_and_polygon_inventory(ortho) -> None:
    scene = load_orthophoto(*ortho)
    no_imagery = np.zeros((H, W), bool)
    no_imagery[:, :NO_IMAGERY_COLS] = True
    np.testing.assert_array_equal(scene.ignore, no_imagery)
    np.testing.assert_array_equal(scene.label, _expected_label())
    assert scene.image.dtype == np.uint8  # 8-bit bands are kept raw: half the memory of float16
    image = normalised(scene.image)
    assert np.all(image[:, no_imagery] == NODATA_FILL)
    assert np.allclose(image[:, scene.label == 1], INSIDE / 255 - 0.5, atol=1e-6)
    assert scene.value_max == [255.0] * 3 and scene.gsd_m == pytest.approx(0.5)


def test_crops_ignore_no_imagery_and_keep_labels_aligned(ortho) -> None:
    scene = load_orthophoto(*ortho)
    sampler = CropSampler([scene], crop=32, seed=0, scale_range=(1.0, 1.0), jitter=False)
    inside = INSIDE / 255 - 0.5
    straddling = 0
    for _ in range(60):
        image, label, ignore = sampler.sample()
        assert image.shape == (3, 32, 32) and label.shape == ignore.shape == (32, 32)
        fill = (image == NODATA_FILL).all(axis=0)
        np.testing.assert_array_equal(ignore, fill)  # no imagery (in the scene or beyond it) is ignored
        np.testing.assert_array_equal(label == 1, np.isclose(image[0], inside, atol=1e-3))
        straddling += bool(fill.any() and (~fill).any())
    assert straddling > 0  # crops across the no-imagery border are drawn, not avoided


@pytest.mark.parametrize("augment", ["mild", "strong"])
def test_scaled_crops_keep_fill_exact_and_labels_binary(ortho, augment) -> None:
    sampler = CropSampler([load_orthophoto(*ortho)], crop=32, seed=1, augment=augment)
    for _ in range(40):
        image, label, ignore = sampler.sample()
        assert set(np.unique(label)) <= {0, 1}
        # Nearest-neighbour resizing of the ignore mask and of the fill keeps them identical.
        np.testing.assert_array_equal(ignore, (image == NODATA_FILL).all(axis=0))
        assert image.min() >= -0.5 and image.max() <= 0.5


def test_strong_augment_varies_radiometry_more_than_mild(ortho) -> None:
    scene = load_orthophoto(*ortho)

    def spread(augment: str) -> float:
        sampler = CropSampler([scene], crop=32, seed=3, scale_range=(1.0, 1.0), augment=augment)
        inside = []
        for _ in range(80):
            image, label, _ = sampler.sample()
            if (label == 1).any():
                inside.append(image[:, label == 1].mean())
        return float(np.std(inside))

    # The landslide pixels are one constant colour, so their spread is the jitter alone.
    assert spread("strong") > 1.3 * spread("mild") > 0
    with pytest.raises(ValueError, match="augment must be one of"):
        CropSampler([scene], crop=32, seed=0, augment="wild")


def test_label_raster_with_255_nodata_is_ignored(ortho, tmp_path) -> None:
    label = _expected_label()
    label[:8] = 255
    path = tmp_path / "label.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), W, H, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((ORIGIN_X, GSD, 0.0, ORIGIN_Y, 0.0, -GSD))
    ds.GetRasterBand(1).WriteArray(label)
    ds.GetRasterBand(1).SetNoDataValue(255)
    ds = None
    scene = load_orthophoto(ortho[0], path)
    assert scene.ignore[:8].all() and scene.ignore[:, :NO_IMAGERY_COLS].all()
    assert not scene.ignore[8:, NO_IMAGERY_COLS:].any()
    np.testing.assert_array_equal(scene.label[8:], _expected_label()[8:])


def test_label_raster_on_another_grid_is_refused(ortho, tmp_path) -> None:
    path = tmp_path / "small.tif"
    gdal.GetDriverByName("GTiff").Create(str(path), 10, 10, 1, gdal.GDT_Byte)
    with pytest.raises(DataError, match="must be on the image's grid"):
        load_orthophoto(ortho[0], path)


def _write_png(path, array: np.ndarray) -> None:
    mem = gdal.GetDriverByName("MEM").Create(
        "", array.shape[2], array.shape[1], array.shape[0], gdal.GDT_Byte
    )
    for i, band in enumerate(array, start=1):
        mem.GetRasterBand(i).WriteArray(band)
    gdal.GetDriverByName("PNG").CreateCopy(str(path), mem)


def test_tile_folder_colour_labels_and_licence(tmp_path) -> None:
    root = tmp_path / "data"
    (root / "tiles" / "images").mkdir(parents=True)
    (root / "tiles" / "masks").mkdir()
    (root / "README.md").write_text(
        "| folder | licence |\n|---|---|\n| `tiles/` | CC BY 4.0 |\n", encoding="utf-8"
    )
    rng = np.random.default_rng(0)
    for i in range(3):
        _write_png(root / "tiles" / "images" / f"t{i}.png", rng.integers(1, 255, (3, 32, 48), dtype=np.uint8))
        magenta = np.zeros((3, 32, 48), np.uint8)
        magenta[0, 4:10, 5:20] = 255
        magenta[2, 4:10, 5:20] = 255
        _write_png(root / "tiles" / "masks" / f"t{i}.png", magenta)
    pairs = tile_pairs(root / "tiles")
    scene = load_tile(*pairs[0], source="tiles")
    assert scene.label.sum() == 6 * 15 and not scene.ignore.any()  # magenta 255 is a landslide, not nodata
    assert licence_of(root / "tiles") == "CC BY 4.0"
    assert licence_of(tmp_path) == "not stated"
    split = load_split([str(root / "tiles")], [], [], val_every=3)
    assert (len(split.train), len(split.val)) == (2, 1)
    assert split.sources[0]["licence"] == "CC BY 4.0"


def test_tile_folder_without_masks_is_refused(tmp_path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="images/ and masks/"):
        tile_pairs(tmp_path)


def test_orthophoto_holdout_blocks_do_not_overlap(ortho) -> None:
    split = load_split([], [(str(ortho[0]), str(ortho[1]))], [], holdout=0.25, gap=8)
    (train,), (val,) = split.train, split.val
    assert train.label.shape[1] + 8 + val.label.shape[1] == W
    assert val.label.shape[1] == W // 4


def test_confusion_scores() -> None:
    truth = np.array([1, 1, 0, 0, 1, 0], bool)
    pred = np.array([1, 0, 1, 0, 1, 1], bool)
    ignore = np.array([0, 0, 0, 0, 0, 1], bool)
    conf = Confusion()
    conf.add(pred, truth, ignore)
    assert (conf.tp, conf.fp, conf.fn, conf.tn) == (2, 1, 1, 1)
    s = conf.scores()
    assert s["iou"] == pytest.approx(0.5) and s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3) and s["f1"] == pytest.approx(2 / 3)


def test_source_shares_fixed_and_by_square_root() -> None:
    from model.data import source_shares

    pixels = {"a": 400.0, "b": 100.0, "neg": 10_000.0}
    p = source_shares(["a", "b", "neg"], pixels, "sqrt", {"neg": 0.2})
    assert p == pytest.approx([0.8 * 20 / 30, 0.8 * 10 / 30, 0.2])
    assert source_shares(["a", "b"], pixels, "pixels", {}) == pytest.approx([0.8, 0.2])
    assert source_shares(["a", "b"], pixels, "equal", {}) == pytest.approx([0.5, 0.5])
    with pytest.raises(DataError, match="not a training source"):
        source_shares(["a", "b"], pixels, "sqrt", {"c": 0.1})
    with pytest.raises(DataError, match="leave a share"):
        source_shares(["a", "b"], pixels, "sqrt", {"a": 1.0})


def test_negatives_are_scored_by_their_false_positive_rate() -> None:
    conf = Confusion()
    truth = np.zeros((10, 10), bool)
    pred = np.zeros((10, 10), bool)
    pred[:2] = True
    conf.add(pred, truth)
    scores = conf.scores()
    assert scores["iou"] == 0.0 and scores["fp_rate"] == pytest.approx(0.2)
