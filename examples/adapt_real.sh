#!/usr/bin/env bash
# lfm adapt on a real kind end to end: two fruit flies tracked by SLEAP from above (../shared/fixtures/real/sleap,
# 2 x 3000 frames of 13 points, no 3D), adapted on one fly's 2D for MINUTES, then both flies lifted by the packaged
# model and by the adapted one, checked without 3D (bone-length CV and reprojection error, benchmarks/adapt_real.py)
# and rendered. About MINUTES + 3 minutes on a 2-core CPU; docs/adapt.md reads the results. Outputs go to
# out/adapt_real/.
# Usage: bash examples/adapt_real.sh   (LFM names the command, default lfm; PYTHON the Python that has lfm, default
#        python3; SHARED, default ../shared; MINUTES, default 5; DEVICE, default cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
LFM=${LFM:-lfm}
PYTHON=${PYTHON:-python3}
SHARED=${SHARED:-../shared}
MINUTES=${MINUTES:-5}
DEVICE=${DEVICE:-cpu}
OUT=out/adapt_real
TRACKS=$SHARED/fixtures/real/sleap/predictions.analysis.h5
[ -f "$TRACKS" ] || { echo "error: $TRACKS is missing (SHARED=$SHARED)" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

say "1. A rig for the file's 13 points: it names them but gives no skeleton, so bones from the thorax, as SLEAP's fly"
# the leg points are the tips of the legs: a thorax-to-tip 'bone' bends with the leg, it is not rigid
cat >"$OUT/fly13.yaml" <<'EOF'
name: sleap_fly_13
description: SLEAP's 13-point fruit fly, seen from above; the leg points are the tips of the legs
category: fly
joints: [head, thorax, abdomen, wingL, wingR, forelegL4, forelegR4, midlegL4, midlegR4, hindlegL4, hindlegR4, eyeL, eyeR]
edges:
- [thorax, head]
- [head, eyeL]
- [head, eyeR]
- [thorax, abdomen]
- [thorax, wingL]
- [thorax, wingR]
- [thorax, forelegL4]
- [thorax, forelegR4]
- [thorax, midlegL4]
- [thorax, midlegR4]
- [thorax, hindlegL4]
- [thorax, hindlegR4]
root: thorax
symmetry:
- [eyeL, eyeR]
- [wingL, wingR]
- [forelegL4, forelegR4]
- [midlegL4, midlegR4]
- [hindlegL4, hindlegR4]
EOF
cat "$OUT/fly13.yaml"

say "2. The tracks as a dataset of 2D: fly 0 to adapt on, fly 1 to validate on (the file gives no frame rate: 30 is nominal)"
$LFM build-dataset tracks "$TRACKS" -o "$OUT/flies.h5" --category fly --rig "$OUT/fly13.yaml" --fps 30 --split 0.5,0.5,0

say "3. Both flies lifted by the packaged model"
$LFM lift "$TRACKS" --rig "$OUT/fly13.yaml" -o "$OUT/before.h5" --device "$DEVICE"

say "4. Adapt it to the flies' 2D for $MINUTES minutes (the camera looks straight down: camera_elevation_deg=90)"
$LFM adapt --data "$OUT/flies.h5" -o "$OUT/run" --max-minutes "$MINUTES" --seed 0 --device "$DEVICE" \
  --set adapt.camera_elevation_deg=90

say "5. Both flies lifted by the adapted model"
$LFM lift "$TRACKS" --rig "$OUT/fly13.yaml" -o "$OUT/after.h5" --checkpoint "$OUT/run/best.safetensors" --device "$DEVICE"

say "6. What can be checked without 3D: before, after, and the flat lift (the 2D itself)"
"$PYTHON" benchmarks/adapt_real.py before="$OUT/before.h5" after="$OUT/after.h5" --bones | tee "$OUT/checks.txt"

say "7. Render fly 0: the 2D beside the lift, before and after (one frame as PNG, 40 frames as GIF)"
for lift in before after; do
  $LFM render "$OUT/$lift.h5" -o "$OUT/$lift.png" --device "$DEVICE"
  $LFM render "$OUT/$lift.h5" -o "$OUT/$lift.gif" --max-frames 40 --device "$DEVICE"
done

say "Done in $(( $(date +%s) - started )) s. Outputs in $OUT:"
ls -1 "$OUT"
