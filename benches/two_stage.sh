#!/usr/bin/env bash
# The paper's two stages on the built-in faces, against training from scratch:
#   1. face recognition alone on 200 generated people (--data-seed 7: none of them among
#      the default 40), the default recipe otherwise;
#   2. the default multi-task run on the default 40 people, every fold, started from
#      stage 1 (whole network fine-tuned, and with the trunk at a tenth of the rate),
#      beside the same run from random weights.
# Usage: benches/two_stage.sh [OUT]   (default runs/two-stage); each step is skipped when its
# results exist, so a second call only prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/two-stage}"
cargo build --release --quiet
facemtl=target/release/facemtl
run() { # DIR FLAGS...: a run unless DIR already holds its summary
    local dir="$1"; shift
    [ -f "$dir/summary.json" ] || "$facemtl" train --out "$dir" --quiet "$@"
}
run "$out/pretrain" --tasks fr --subjects 200 --data-seed 7 --val-fraction 0
run "$out/scratch" --all-folds
run "$out/fine-tuned" --all-folds --init-from "$out/pretrain"
run "$out/fine-tuned-trunk-0.1" --all-folds --init-from "$out/pretrain" --trunk-lr-scale 0.1
benches/two_stage_table.py "$out"
