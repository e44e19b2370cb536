#!/usr/bin/env bash
# Builds the packaged default models from ../shared/data (npz + CMU BVH) and a large synthetic zoo, then copies
# the best checkpoints into lfmcli/weights/. Usage: make default-model [DEVICE=auto] [RECIPE=cpu|gpu]
# (gpu: the wider models of configs/default_*_gpu.yaml, about 20 minutes on one H100)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=out/default
DEVICE=${DEVICE:-auto}
RECIPE=${RECIPE:-cpu}
case "$RECIPE" in cpu) SUFFIX= ;; gpu) SUFFIX=_gpu ;; *) echo "error: RECIPE=$RECIPE: choose cpu or gpu" >&2; exit 1 ;; esac
[ -d "$DATA" ] || { echo "error: $DATA is missing: the default model is trained on it" >&2; exit 1; }
mkdir -p "$OUT"
start=$(date +%s)
lfm build-dataset npz "$DATA" -o "$OUT/real.h5" --views 4 --seed 1
lfm build-dataset bvh "$DATA/bvh_cmu" -o "$OUT/bvh.h5" --views 4 --fps 30 --seed 1
lfm build-dataset synthetic -o "$OUT/zoo.h5" --creatures 64 --motions 2 --frames 120 --views 4 --seed 1 --device "$DEVICE"
for kind in lfm spacetime; do
  rm -rf "$OUT/$kind"
  lfm train --data "$OUT/real.h5" --data "$OUT/bvh.h5" --data "$OUT/zoo.h5" --config "configs/default_$kind$SUFFIX.yaml" \
    --model "$kind" -o "$OUT/$kind" --device "$DEVICE"
  python3 -m lfmcli.weights "$OUT/$kind/best.safetensors" "lfmcli/weights/default_$kind.safetensors" \
    --minutes "$(( ($(date +%s) - start) / 60 ))" --recipe "make default-model RECIPE=$RECIPE (examples/build_default_model.sh)"
done
lfm models list
