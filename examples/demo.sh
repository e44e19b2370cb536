#!/usr/bin/env bash
# The lfm demo: needs nothing but this repository (no download, no GPU). Outputs go to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=out/demo
mkdir -p "$OUT"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. lfm ships rigs (joint names + edges) for humans, animals and objects"
lfm rigs list --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r), "rigs, e.g.", ", ".join(list(r)[:6]), "...")'
lfm rigs show h36m_17 --png "$OUT/h36m_17.png" 2>/dev/null
echo "drew the Human3.6M 17-joint rig to $OUT/h36m_17.png"

say "2. Generate a seeded zoo of procedural creatures in motion, filmed by random cameras"
lfm build-dataset synthetic -o "$OUT/zoo.h5" --creatures 16 --motions 2 --frames 120 --views 2 --seed 0

say "3. Look inside the dataset and check it"
lfm dataset info "$OUT/zoo.h5"
lfm dataset validate "$OUT/zoo.h5"

if [ -d ../shared/data ]; then
  say "4. Real motion capture found beside the project: import it too"
  lfm build-dataset npz ../shared/data -o "$OUT/real.h5" --views 1
  lfm dataset validate "$OUT/real.h5"
fi

say "Done. Outputs:"
ls -1 "$OUT"
