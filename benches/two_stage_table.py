#!/usr/bin/env python3
"""The table of a two-stage comparison (benches/two_stage.sh, benches/realfaces_two_stage.sh):
for each start (scratch, fine-tuned, fine-tuned with the trunk at a tenth of the rate),
mean ± sd over its folds of the validation split's and the test fold's figures.

    benches/two_stage_table.py OUT
"""
import glob, json, statistics, sys
out = sys.argv[1]
keys = [("fer_accuracy", "FER"), ("fr_identification_accuracy", "FR id"),
        ("fr_verification_accuracy", "verif acc"), ("fr_verification_auc", "verif AUC")]
def spread(values):
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return "n/a" if not values else f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
print(f"| start | split | " + " | ".join(k[1] for k in keys) + " |")
print("| --- | --- |" + " --- |" * len(keys))
for name in ["scratch", "fine-tuned", "fine-tuned-trunk-0.1"]:
    runs = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/{name}/seed-*/fold-*/summary.json"))]
    for split in ["validation", "test"]:
        rows = [r if split == "test" else (r.get("validation") or {}) for r in runs]
        cells = [spread([row.get(key) for row in rows]) for key, _ in keys]
        print(f"| {name} | {split} ({len(runs)} folds) | " + " | ".join(cells) + " |")
