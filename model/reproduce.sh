#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reproduce the shipped model, stretch by stretch (each continues the previous one's weights):
#   1. (2026-11) U-Net and DA-U-Net side by side from scratch (same data, seed and budget, one CPU
#      thread each: the ablation), then the DA-U-Net continued on both threads (the first shipped model);
#   2. (2026-12-01) that model continued with the recipe chosen in model/README.md (256 px crops,
#      BCE, sources by pixels, EMA);
#   3. (2026-12-01) stretch 2's best continued at a lower learning rate (3e-4, another seed), then
#      threshold and minimum area calibrated, exported to resources/model/ and checked with onnxruntime.
#   DATA=/path/to/landslides MINUTES=45 CONTINUE_MINUTES=55 LONG_MINUTES=190 LAST_MINUTES=56 model/reproduce.sh
# STAGE=2 starts from the model in git at the start of stretch 2 instead of retraining stretch 1.
# Float32 throughout (--bf16 off), as the shipped stretches ran; the int8 copy is padded (quantize_int8's
# default since 2026-12-07). The runs on the public training set that did not replace this model: model/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data/landslides}
MINUTES=${MINUTES:-45}
RUNS=${RUNS:-runs}
SOURCES=(
  --tiles "$DATA/sichuan" --tiles "$DATA/hokkaido" --tiles "$DATA/bijie"
  --ortho "$DATA/amu/scene_A_rgb.tif" "$DATA/amu/scene_A_label.tif"
  --ortho "$DATA/amu/scene_B_rgb.tif" "$DATA/amu/scene_B_label.tif"
)
mkdir -p "$RUNS"
if [ "${STAGE:-1}" = 1 ]; then
  COMMON=("${SOURCES[@]}" --width 12 --crop 192 --batch 8 --steps-per-epoch 150 --minutes "$MINUTES"
    --seed 0 --threads 1 --bf16 off --no-progress --loss bce+dice --balance equal --select iou_mean_sources)
  "$PY" -m model.train "${COMMON[@]}" --variant DA-U-Net --out "$RUNS/daunet" > "$RUNS/daunet.log" 2>&1 &
  daunet=$!
  "$PY" -m model.train "${COMMON[@]}" --variant U-Net --out "$RUNS/unet" > "$RUNS/unet.log" 2>&1 &
  unet=$!
  wait "$daunet" "$unet"
  grep -h epoch "$RUNS/daunet.log" "$RUNS/unet.log"
  "$PY" -m model.train "${COMMON[@]}" --minutes "${CONTINUE_MINUTES:-55}" --threads 2 --variant DA-U-Net \
    --resume "$RUNS/daunet/last.pt" --out "$RUNS/daunet_long" > "$RUNS/daunet_long.log" 2>&1
  "$PY" -m model.calibrate "$RUNS/daunet_long/best.pt"
  "$PY" -m model.export "$RUNS/daunet_long/best.pt" "$RUNS/stage1.onnx"
else
  git show 76c19ae:resources/model/landslide_daunet.onnx > "$RUNS/stage1.onnx"
fi
# Stretch 2: the chosen recipe, continued from stretch 1's weights.
"$PY" -m model.train "${SOURCES[@]}" --init "$RUNS/stage1.onnx" --crop 256 --batch 8 --loss bce \
  --balance pixels --lr 1e-3 --ema 0.998 --select iou_best --steps-per-epoch 200 \
  --minutes "${LONG_MINUTES:-190}" --seed 0 --threads 2 --bf16 off --no-progress --out "$RUNS/daunet_c256" \
  > "$RUNS/daunet_c256.log" 2>&1
# Stretch 3: a lower learning rate from stretch 2's best (the shipped model stopped after 56 minutes).
"$PY" -m model.train "${SOURCES[@]}" --init "$RUNS/daunet_c256/best.pt" --crop 256 --batch 8 --loss bce \
  --balance pixels --lr 3e-4 --ema 0.998 --select iou_best --steps-per-epoch 200 \
  --minutes "${LAST_MINUTES:-56}" --seed 1 --threads 2 --bf16 off --no-progress --out "$RUNS/daunet_c256_s3" \
  > "$RUNS/daunet_c256_s3.log" 2>&1
"$PY" -m model.calibrate "$RUNS/daunet_c256_s3/best.pt"
cp resources/model/landslide_daunet.onnx "$RUNS/previous.onnx"  # for the comparison per source below
"$PY" -m model.export "$RUNS/daunet_c256_s3/best.pt" resources/model/landslide_daunet.onnx
"$PY" -m model.export "$RUNS/daunet_c256_s3/best.pt" "$RUNS/daunet_c256_s3/weights.pt"
for scene in A B; do
  "$PY" -m model.verify resources/model/landslide_daunet.onnx \
    "$DATA/amu/scene_${scene}_rgb.tif" "$DATA/amu/scene_${scene}_label.tif" --east 0.35
done
# The int8 copy PRECISION auto runs on VNNI/AMX CPUs, and its validation check (<= 1 point of IoU).
"$PY" tools/quantize_int8.py resources/model/landslide_daunet.onnx --data "$DATA"
"$PY" -m bench.int8_quality
# Per source against the model it replaces, each at its own threshold.
"$PY" -m model.compare "$RUNS/previous.onnx" resources/model/landslide_daunet.onnx --data "$DATA" \
  --out "$RUNS/compare.json"
