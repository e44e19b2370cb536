#!/usr/bin/env bash
# Builds the packaged default models from every kind of object in ../shared (data, data_objects, data_pending: npz
# and CMU BVH) and a large synthetic zoo, then copies the best checkpoints into lfmcli/weights/.
# Usage: make default-model [DEVICE=auto] [RECIPE=cpu|gpu]
# Both recipes fine-tune today's packaged weights (training.init in configs/default_*.yaml); gpu: the wider models
# of configs/default_*_gpu.yaml, about 8 minutes on one H200; cpu: about 85 minutes on a 2-core CPU. LFM names the command (default: lfm), ZOO a zoo
# dataset built earlier (default: build it).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
OUT=out/default
DEVICE=${DEVICE:-auto}
RECIPE=${RECIPE:-cpu}
LFM=${LFM:-lfm}
case "$RECIPE" in cpu) SUFFIX= ;; gpu) SUFFIX=_gpu ;; *) echo "error: RECIPE=$RECIPE: choose cpu or gpu" >&2; exit 1 ;; esac
[ -d "$SHARED/data" ] || { echo "error: $SHARED/data is missing: the default model is trained on it" >&2; exit 1; }
mkdir -p "$OUT"
start=$(date +%s)
npz_dirs=("$SHARED/data")
for extra in data_objects data_pending; do [ -d "$SHARED/$extra" ] && npz_dirs+=("$SHARED/$extra"); done
$LFM build-dataset npz "${npz_dirs[@]}" -o "$OUT/real.h5" --views 4 --seed 1
$LFM build-dataset bvh "$SHARED/data/bvh_cmu" -o "$OUT/bvh.h5" --views 4 --fps 30 --seed 1
if [ -n "${ZOO:-}" ]; then cp "$ZOO" "$OUT/zoo.h5"; else
  $LFM build-dataset synthetic -o "$OUT/zoo.h5" --creatures 64 --motions 2 --frames 120 --views 4 --seed 1 --device "$DEVICE"
fi
for kind in lfm spacetime; do
  rm -rf "$OUT/$kind"
  $LFM train --data "$OUT/real.h5" --data "$OUT/bvh.h5" --data "$OUT/zoo.h5" --config "configs/default_$kind$SUFFIX.yaml" \
    --model "$kind" -o "$OUT/$kind" --device "$DEVICE"
  python3 -m lfmcli.weights "$OUT/$kind/best.safetensors" "lfmcli/weights/default_$kind.safetensors" \
    --minutes "$(( ($(date +%s) - start) / 60 ))" --recipe "make default-model RECIPE=$RECIPE (examples/build_default_model.sh)"
done
$LFM models list
