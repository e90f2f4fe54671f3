#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reproduce the shipped model: U-Net and DA-U-Net trained side by side (same data, seed and budget,
# one CPU thread each: the ablation), then the DA-U-Net continued on both threads, its threshold
# calibrated on the validation split, exported to resources/model/ and checked with onnxruntime.
#   DATA=/path/to/landslides MINUTES=45 CONTINUE_MINUTES=55 model/reproduce.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data/landslides}
MINUTES=${MINUTES:-45}
RUNS=${RUNS:-runs}
COMMON=(
  --tiles "$DATA/sichuan" --tiles "$DATA/hokkaido" --tiles "$DATA/bijie"
  --ortho "$DATA/amu/scene_A_rgb.tif" "$DATA/amu/scene_A_label.tif"
  --ortho "$DATA/amu/scene_B_rgb.tif" "$DATA/amu/scene_B_label.tif"
  --width 12 --crop 192 --batch 8 --steps-per-epoch 150 --minutes "$MINUTES"
  --seed 0 --threads 1 --no-progress
)
mkdir -p "$RUNS"
"$PY" -m model.train "${COMMON[@]}" --variant DA-U-Net --out "$RUNS/daunet" > "$RUNS/daunet.log" 2>&1 &
daunet=$!
"$PY" -m model.train "${COMMON[@]}" --variant U-Net --out "$RUNS/unet" > "$RUNS/unet.log" 2>&1 &
unet=$!
wait "$daunet" "$unet"
grep -h epoch "$RUNS/daunet.log" "$RUNS/unet.log"
# The shipped model: the DA-U-Net continued with both cores, then its threshold calibrated.
"$PY" -m model.train "${COMMON[@]}" --minutes "${CONTINUE_MINUTES:-55}" --threads 2 --variant DA-U-Net \
  --resume "$RUNS/daunet/last.pt" --out "$RUNS/daunet_long" > "$RUNS/daunet_long.log" 2>&1
"$PY" -m model.calibrate "$RUNS/daunet_long/best.pt"
"$PY" -m model.export "$RUNS/daunet_long/best.pt" resources/model/landslide_daunet.onnx
for scene in A B; do
  "$PY" -m model.verify resources/model/landslide_daunet.onnx \
    "$DATA/amu/scene_${scene}_rgb.tif" "$DATA/amu/scene_${scene}_label.tif" --east 0.35
done
