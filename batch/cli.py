# SPDX-License-Identifier: GPL-2.0-or-later
"""The command line of ``python -m batch`` (run from the plugin/repository folder).

Exit status: 0 all mapped; 3 the output was written but some rasters or units failed (listed;
run the same command again to retry them); 1 nothing written (the message says why); 130
interrupted (finished units are kept: run the same command again to resume); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EPILOG = """\
examples:
  python -m batch orthophotos/ --output region.gpkg                   # LocalCluster on this machine
  python -m batch list.txt mosaic.vrt --output region.gpkg --workers 4 --crs EPSG:3857
  python -m batch /vsis3/bucket/cogs/ --output region.gpkg --scheduler tcp://10.0.0.5:8786
Run the same command again after an interruption or failures: finished units are skipped.
"""


def _bands(text: str) -> list[int]:
    try:
        return [int(b) for b in text.replace(" ", "").split(",") if b]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of band numbers like 1,2,3") from exc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m batch",
        description="Map landslides in many orthophotos on a Dask cluster into one polygon layer.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="rasters (GeoTIFF, VRT mosaic, ...), folders of rasters, text lists (.txt, one path per line); "
        "local paths, GDAL virtual paths (/vsicurl/, /vsis3/) or http(s)/s3/gs URLs",
    )
    p.add_argument(
        "--output", "-o", required=True, help="the merged polygons: .gpkg (or .parquet where GDAL has it)"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://HOST:8786")
    where.add_argument("--workers", type=int, help="LocalCluster worker processes (default: one per 4 cores)")
    p.add_argument("--model", help="ONNX model (default: the shipped model)")
    p.add_argument(
        "--min-area",
        type=float,
        default=None,
        help="drop landslides smaller than this (m²), after joining pieces across windows "
        "(default: the model's)",
    )
    p.add_argument("--threshold", type=float, help="probability threshold (default: the model's)")
    p.add_argument(
        "--bands", type=_bands, help="raster bands in model order, e.g. 1,2,3 (default: the model's)"
    )
    p.add_argument("--crs", help="CRS of the output, e.g. EPSG:3857 (default: the first raster's)")
    p.add_argument(
        "--probability-dir", help="also write each raster's probability GeoTIFF (+ .vrt for windows) here"
    )
    p.add_argument(
        "--device", default="auto", choices=["auto", "cuda", "cpu"], help="onnxruntime device [auto]"
    )
    adv = p.add_argument_group("advanced")
    adv.add_argument("--window", type=int, default=None, help="largest window side, pixels [8192]")
    adv.add_argument(
        "--halo", type=int, help="context pixels around each window (default: twice the model's overlap)"
    )
    adv.add_argument(
        "--ort-threads",
        type=int,
        default=0,
        help="onnxruntime threads per unit (default: cores / Dask threads per host)",
    )
    adv.add_argument("--tile-size", type=int, help="engine tile size (default: fitted to each window)")
    adv.add_argument("--overlap", type=int, help="engine tile overlap (default: the model's)")
    adv.add_argument("--tta", action="store_true", help="average over flips and rotations (8x slower)")
    adv.add_argument(
        "--simplify", type=float, default=0.0, help="simplification tolerance, raster CRS units [0]"
    )
    adv.add_argument(
        "--duplicate-overlap",
        type=float,
        default=None,
        help="share of the smaller polygon that two detections from overlapping rasters must share "
        "to count once [0.2]",
    )
    adv.add_argument(
        "--restart", action="store_true", help="discard the manifest of an earlier run and start over"
    )
    adv.add_argument("--retries", type=int, default=2, help="extra tries of a unit whose task raised [2]")
    adv.add_argument(
        "--no-ship", action="store_true", help="do not send code and model to the workers (they have them)"
    )
    adv.add_argument("--no-dashboard", action="store_true", help="LocalCluster without Dask's dashboard")
    adv.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Dask's INFO lines would bury the progress bar; workers started here inherit the setting.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(logging.WARNING)

    from core.errors import DetectionError

    from .merge import DUPLICATE_OVERLAP
    from .plan import DEFAULT_WINDOW
    from .run import BatchOptions, run_batch

    options = BatchOptions(
        model=args.model,
        scheduler=args.scheduler,
        workers=args.workers,
        ort_threads=args.ort_threads,
        device=args.device,
        bands=args.bands,
        threshold=args.threshold,
        min_area_m2=args.min_area,
        tile_size=args.tile_size,
        overlap=args.overlap,
        tta=args.tta,
        simplify_tolerance=args.simplify,
        crs=args.crs,
        window=args.window or DEFAULT_WINDOW,
        halo=args.halo,
        probability_dir=args.probability_dir,
        duplicate_overlap=DUPLICATE_OVERLAP if args.duplicate_overlap is None else args.duplicate_overlap,
        restart=args.restart,
        retries=args.retries,
        ship=False if args.no_ship else None,
        dashboard=not args.no_dashboard,
        progress=not args.quiet,
    )
    try:
        summary = run_batch(args.inputs, args.output, options)
    except DetectionError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(
            "\nInterrupted. Finished units are kept in the manifest beside the output: run the same command "
            "again to resume. No output was written.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(summary.text())
    return EXIT_PARTIAL if summary.failed else EXIT_OK
