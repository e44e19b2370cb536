#!/usr/bin/env bash
# The lfm demo: needs nothing but this repository (no download, no GPU); about 3-4 minutes on a 2-core CPU.
# Outputs go to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=out/demo
rm -rf "$OUT" && mkdir -p "$OUT"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

say "1. lfm knows many skeletons (rigs): humans, animals, objects"
lfm rigs list --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r), "rigs, e.g.", ", ".join(list(r)[:5]), "...")'

say "2. A synthetic creature zoo: procedural meshes -> virtual markers -> IK bone refinement -> random cameras"
lfm build-dataset synthetic -o "$OUT/zoo.h5" --creatures 16 --motions 2 --frames 90 --views 2 --seed 0 --device cpu

say "3. Train a tiny 3D-LFM on it for about two minutes (CPU)"
lfm train --data "$OUT/zoo.h5" --preset tiny -o "$OUT/run" --max-minutes 2 --device cpu \
  --set training.steps_per_epoch=60 --set training.batch_size=128

say "4. Evaluate it on the held-out test sequences against the flat (z = 0) baseline"
lfm eval "$OUT/run/best.safetensors" "$OUT/zoo.h5" --split test --baseline flat --metric pa-mpjpe \
  --metric pa-mpjpe% --device cpu

say "5. Lift an example 2D keypoints file with the packaged default model"
lfm lift examples/biped_walk.json -o "$OUT/biped_walk.h5" --device cpu
python3 -c "import h5py; f = h5py.File('$OUT/biped_walk.h5'); print('position', f['position'].shape, '(time, individual, keypoint, xyz)')"

say "6. Render it: the 2D input beside the lifted 3D skeleton"
lfm render "$OUT/biped_walk.h5" -o "$OUT/biped_walk.gif"

say "Done in $(( $(date +%s) - started )) s. Outputs in $OUT:"
ls -1 "$OUT"
