#!/usr/bin/env bash
# The two-stage recipe on real photos: a manifest of faces with five landmarks (e.g. the
# LFW-style crops of muxspace/facial_expressions, neutral / happiness, with facenet-pytorch
# MTCNN's landmarks), its people split in two by name: three in five pre-train face
# recognition alone, the other two in five train the multi-task network on 5 folds,
# started from that (whole network, and the trunk at a tenth of the rate) and from random
# weights. Aligned by the landmarks, grayscale, the small preset, the default recipe.
# Usage: benches/realfaces_two_stage.sh MANIFEST.csv [OUT]   (default runs/realfaces-two-stage)
set -euo pipefail
cd "$(dirname "$0")/.."
manifest="$(realpath "$1")"
out="${2:-runs/realfaces-two-stage}"
mkdir -p "$out"
cargo build --release --quiet
facemtl=target/release/facemtl
# The two manifests, with absolute image paths; people sorted by name, every 5th from the
# 3rd and 4th on (k % 5 in {3, 4}) to the multi-task side.
python3 - "$manifest" "$out" <<'PY'
import csv, os, sys
manifest, out = sys.argv[1], sys.argv[2]
base = os.path.dirname(manifest)
rows = list(csv.DictReader(open(manifest)))
people = sorted({r["subject"] for r in rows})
multitask = {p for k, p in enumerate(people) if k % 5 in (3, 4)}
for name, keep in [("pretrain.csv", lambda r: r["subject"] not in multitask),
                   ("multitask.csv", lambda r: r["subject"] in multitask)]:
    with open(os.path.join(out, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            if keep(r):
                w.writerow({**r, "path": os.path.join(base, r["path"])})
print(f"{len(people) - len(multitask)} people pre-train, {len(multitask)} train both tasks")
PY
run() { # DIR FLAGS...: a run unless DIR already holds its summary
    local dir="$1"; shift
    [ -f "$dir/summary.json" ] || "$facemtl" train --out "$dir" --quiet "$@"
}
run "$out/pretrain" --data "$out/pretrain.csv" --tasks fr --val-fraction 0
common=(--data "$out/multitask.csv" --all-folds --folds 5)
run "$out/scratch" "${common[@]}"
run "$out/fine-tuned" "${common[@]}" --init-from "$out/pretrain"
run "$out/fine-tuned-trunk-0.1" "${common[@]}" --init-from "$out/pretrain" --trunk-lr-scale 0.1
benches/two_stage_table.py "$out"
