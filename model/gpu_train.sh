#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Continue training on a lent GPU machine inside one device run (10 minutes at most) with the recipe
# chosen in model/README.md (crop 256, BCE, sources by pixels, EMA), then calibrate,
# export and leave what comes back in $OUT (files <= 16 MiB, <= 2 folders down):
#   best.onnx (the model, for the plugin or --init), best_weights.pt (weights only, exact BatchNorm
#   statistics, for --init), log.csv and summary.json.
# That machine has PyTorch but no GDAL, so the data travel packed (model/packed.py). Here:
#   .venv/bin/python -m model.packed --out gpu/landslides.npz <the data arguments of model/reproduce.sh>
#   echo /gpu/ >> .git/info/exclude
# then, with the device tool: run(carry=["gpu"], timeout_s=600,
#   command="OUT=$OUT bash model/gpu_train.sh gpu/landslides.npz resources/model/landslide_daunet.onnx 7")
# The same script runs on the CPU for a check: DEVICE=cpu OUT=/tmp/x bash model/gpu_train.sh ... 0.5
set -euo pipefail
cd "$(dirname "$0")/.."
PACKED=${1:?packed data (.npz)}
INIT=${2:?model to start from (.onnx or .pt)}
MINUTES=${3:-7}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-runs/gpu}
PY=${PY:-python3}
RUN=$(mktemp -d)
trap 'rm -rf "$RUN"' EXIT
export PYTHONUNBUFFERED=1
"$PY" -m model.train --packed "$PACKED" --init "$INIT" --device "$DEVICE" --minutes "$MINUTES" \
  --crop "${CROP:-256}" --batch "${BATCH:-32}" --steps-per-epoch "${STEPS:-100}" ${WORKERS:+--workers "$WORKERS"} \
  --lr "${LR:-1e-3}" --loss bce --balance pixels --ema 0.998 --select iou_best --no-progress \
  --out "$RUN" ${EXTRA:-}
"$PY" -m model.calibrate "$RUN/best.pt"
mkdir -p "$OUT"
"$PY" -m model.export "$RUN/best.pt" "$OUT/best.onnx"
"$PY" -m model.export "$RUN/best.pt" "$OUT/best_weights.pt"
cp "$RUN/log.csv" "$RUN/summary.json" "$OUT/"
