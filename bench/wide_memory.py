# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory of one detection over a very wide raster, sampled over time, and how fast a cancel ends it.

A diagnosis for "memory grows with the raster's width" (issue 11): the raster is a VRT that repeats
the bundled sample (1024² RGB) ``--repeat-x`` times across and ``--repeat-y`` times down (no
pixels are copied), so a 200,704 px wide raster costs nothing on disk. One child process runs
``core.engine.run_detection`` (polygons only, like the tool's defaults); the parent samples the
child's resident memory every ``--interval`` seconds and prints the time line, the peak and, with
``--cancel-after``, how long the engine took to stop after the cancel was asked for.

    nice -n 15 .venv/bin/python -m bench.wide_memory --repeat-x 196 --repeat-y 2 --model tiny
    nice -n 15 .venv/bin/python -m bench.wide_memory --repeat-x 196 --repeat-y 2 --cancel-after 30

``--model tiny`` uses the brightness test model (tests/fixtures): the engine's own buffers and
threads are measured, not the network's activations. Prints numbers, never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample" / "sample_orthophoto.tif"
SHIPPED = ROOT / "resources" / "model" / "landslide_daunet.onnx"


def wide_vrt(path: Path, repeat_x: int, repeat_y: int) -> Path:
    """A VRT repeating the sample ``repeat_x`` x ``repeat_y`` times (georeferenced like the sample)."""
    from osgeo import gdal

    src = gdal.Open(str(SAMPLE))
    w, h = src.RasterXSize, src.RasterYSize
    gt = src.GetGeoTransform()
    bands = []
    for b in range(1, src.RasterCount + 1):
        sources = "".join(
            f"<SimpleSource><SourceFilename relativeToVRT='0'>{SAMPLE}</SourceFilename>"
            f"<SourceBand>{b}</SourceBand><SrcRect xOff='0' yOff='0' xSize='{w}' ySize='{h}'/>"
            f"<DstRect xOff='{i * w}' yOff='{j * h}' xSize='{w}' ySize='{h}'/></SimpleSource>"
            for j in range(repeat_y)
            for i in range(repeat_x)
        )
        bands.append(f"<VRTRasterBand dataType='Byte' band='{b}'>{sources}</VRTRasterBand>")
    path.write_text(
        f"<VRTDataset rasterXSize='{w * repeat_x}' rasterYSize='{h * repeat_y}'>"
        f"<SRS>{src.GetProjection()}</SRS>"
        f"<GeoTransform>{', '.join(repr(v) for v in gt)}</GeoTransform>{''.join(bands)}</VRTDataset>",
        encoding="utf-8",
    )
    return path


def child(args: argparse.Namespace) -> None:
    """Run the detection; a file ``<work>/cancel`` appearing asks for a cancel."""
    sys.path.insert(0, str(ROOT))
    from core.engine import DetectionOptions, run_detection
    from core.errors import DetectionCanceled

    work = Path(args.work)
    flag = work / "cancel"
    asked: list[float] = []

    def is_canceled() -> bool:
        if flag.exists():
            if not asked:
                asked.append(time.perf_counter())
            return True
        return False

    record: dict = {}
    try:
        result = run_detection(
            args.raster,
            args.model_path,
            str(work / "out.gpkg"),
            options=DetectionOptions(device="cpu", threshold=args.threshold, tile_size=args.tile),
            is_canceled=is_canceled,
        )
        record.update(polygons=result.polygon_count, elapsed_s=round(result.elapsed_s, 2))
    except DetectionCanceled:
        record["cancel_latency_s"] = round(time.perf_counter() - float(flag.read_text()), 2)
        record["cancel_seen_after_s"] = round(asked[0] - float(flag.read_text()), 2) if asked else None
    print(json.dumps(record), flush=True)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat-x", type=int, default=196)
    parser.add_argument("--repeat-y", type=int, default=2)
    parser.add_argument("--model", default="tiny", help="'tiny' (brightness test model), 'shipped' or a path")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--tile", type=int, default=None)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--cancel-after", type=float, default=None, help="seconds, then ask for a cancel")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--raster", help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    with tempfile.TemporaryDirectory(prefix="bench-wide-") as tmp:
        work = Path(tmp)
        raster = wide_vrt(work / "wide.vrt", args.repeat_x, args.repeat_y)
        if args.model == "tiny":
            sys.path.insert(0, str(ROOT))
            from tests.fixtures.tiny_models import brightness_model

            model = brightness_model(work / "tiny.onnx")
        else:
            model = SHIPPED if args.model == "shipped" else Path(args.model)
        cmd = [sys.executable, "-m", "bench.wide_memory", "--child", "--raster", str(raster)]
        cmd += ["--model-path", str(model), "--work", str(work), "--threshold", str(args.threshold)]
        if args.tile:
            cmd += ["--tile", str(args.tile)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        timeline: list[tuple[float, float]] = []
        canceled = False
        while proc.poll() is None:
            now = time.perf_counter() - start
            try:
                timeline.append((round(now, 1), round(rss_mb(proc.pid), 1)))
            except OSError:
                break
            print(f"{now:7.1f} s  {timeline[-1][1]:9.1f} MB", file=sys.stderr, flush=True)
            if args.cancel_after is not None and not canceled and now >= args.cancel_after:
                (work / "cancel.tmp").write_text(repr(time.perf_counter()))
                os.replace(work / "cancel.tmp", work / "cancel")
                canceled = True
            time.sleep(args.interval)
        out = proc.stdout.read() if proc.stdout else ""
        record = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        record.update(
            width=1024 * args.repeat_x,
            height=1024 * args.repeat_y,
            model=str(args.model),
            peak_rss_mb=max((m for _, m in timeline), default=0.0),
            wall_s=round(time.perf_counter() - start, 1),
            timeline=timeline,
        )
        print(json.dumps(record))


if __name__ == "__main__":
    main()
