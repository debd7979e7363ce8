#!/usr/bin/env python3
"""The PyTorch reference trainer: the same network and recipe as `facemtl train`, on the
same images, the same split and the same verification pairs, so that facemtl's figures can
be judged against it fold by fold.

facemtl writes `split.json` into every run directory: the samples (image paths and labels),
which of them train, validate and test, the FR / FER classes in logit order, and the
verification pairs (validation pairs for the threshold, test pairs scored). Give this script
a run directory, or a cross-validation directory (`facemtl train --all-folds`), trained on
files (`--data .../manifest.csv`; the built-in in-memory faces have no files to read):

    cargo run --release -- gen-data --out faces
    cargo run --release -- train --data faces/manifest.csv --all-folds --out runs/cv
    python3 benches/peers/pytorch_train.py runs/cv [--augment flips] [--bn-recalibration] \
        [--init facemtl]

The recipe, as facemtl's defaults: the `small` network (pytorch_step.py), batch 32, 24
epochs, Adam (lr 3e-3, weight decay 1e-4) with per-step cosine decay to lr / 100, global-norm
clipping at 5, dropout keep 0.8, the bounded dynamic weight unit trained by SGD (lr 0.1) on
L_w = sum w_i / (L_i + 0.01). Augmentation: `flips` (mirror half the time) or `none`.
`--bn-recalibration` recomputes the batch-norm statistics over the clean training images
before evaluating (as facemtl's default does), like torch.optim.swa_utils.update_bn.
The weights start from PyTorch's default initialisation, or with `--init facemtl` from
facemtl's (He normal for the convolutions and the FER hidden layer, Xavier uniform for the
other dense layers, zero biases); the two differ by 0.07 in FER accuracy (README).

Prints per run and mean ± sd the test figures of both trainers side by side, and writes
`pytorch-<augment>[-recal][-facemtl-init].json` into each run directory.
"""

import argparse
import json
import math
import pathlib
import statistics
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from pytorch_step import PRESETS, MultiTaskNet  # noqa: E402

METRICS = ["fer_accuracy", "fr_identification_accuracy", "fr_verification_accuracy", "fr_verification_auc"]


def load_image(path, size):
    """Grayscale, centre square, resized, standardised per image (as facemtl)."""
    img = Image.open(path).convert("L")
    w, h = img.size
    side = min(w, h)
    img = img.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
    if side != size:
        img = img.resize((size, size), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32) / 255.0
    n = x.size
    std = max(x.std(), 1.0 / math.sqrt(n))
    return (x - x.mean()) / std


def auc(scores):
    pos = [s for s, same in scores if same]
    neg = [s for s, same in scores if not same]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def accuracy_at(scores, t):
    return sum((s >= t) == same for s, same in scores) / max(len(scores), 1)


def best_threshold(scores):
    """The most accurate threshold; of equals, the highest (as facemtl)."""
    best = None
    for t in sorted({s for s, _ in scores}):
        a = accuracy_at(scores, t)
        if best is None or a >= best[0]:
            best = (a, t)
    return None if best is None else best[1]


def train_run(run_dir, args):
    split = json.loads((run_dir / "split.json").read_text())
    size = PRESETS["small"][0]
    samples = split["samples"]
    sidecar = run_dir / "checkpoint.json"
    if sidecar.exists() and json.loads(sidecar.read_text())["config"].get("color", "gray") != "gray":
        raise SystemExit(f"{run_dir}: trained with --color rgb; this reference reads grayscale images")
    if any(s["path"] is None for s in samples):
        raise SystemExit(f"{run_dir}: trained on in-memory images; train facemtl on --data FILES")
    fr_index = {name: i for i, name in enumerate(split["fr_classes"])}
    fer_index = {name: i for i, name in enumerate(split["fer_classes"])}
    used = sorted(set(split["train"]) | set(split["identification"]) | set(split["test"])
                  | set(split["validation"]) | set(split["validation_identification"]))
    images = {i: load_image(samples[i]["path"], size) for i in used}

    def labels(i):
        s = samples[i]
        return (fr_index.get(s["subject"], -100), fer_index.get(s["expression"], -100))

    torch.manual_seed(split["seed"])
    generator = torch.Generator().manual_seed(split["seed"])
    net = MultiTaskNet("small", identities=len(split["fr_classes"]), expressions=len(split["fer_classes"]))
    if args.init == "facemtl":
        facemtl_init(net)
    unit_params = list(net.unit.parameters())
    unit_ids = {id(p) for p in unit_params}
    main_params = [p for p in net.parameters() if id(p) not in unit_ids]
    main_opt = torch.optim.Adam(main_params, lr=args.lr, weight_decay=1e-4)
    unit_opt = torch.optim.SGD(unit_params, lr=0.1)
    train = split["train"]
    steps_per_epoch = math.ceil(len(train) / args.batch)
    total = steps_per_epoch * args.epochs
    step = 0
    for _ in range(args.epochs):
        net.train()
        order = torch.randperm(len(train), generator=generator).tolist()
        for b in range(steps_per_epoch):
            chunk = [train[k] for k in order[b * args.batch:(b + 1) * args.batch]]
            if len(chunk) < 2:
                continue
            x = torch.from_numpy(np.stack([images[i] for i in chunk]))[:, None]
            if args.augment == "flips":
                flip = torch.rand(len(chunk), generator=generator) < 0.5
                x[flip] = x[flip].flip(-1)
            y = torch.tensor([labels(i) for i in chunk])
            lr = args.lr / 100 + (args.lr - args.lr / 100) * (1 + math.cos(math.pi * step / total)) / 2
            for group in main_opt.param_groups:
                group["lr"] = lr
            fr, fer, w = net(x)
            l_fr = F.cross_entropy(fr, y[:, 0], ignore_index=-100)
            l_fer = F.cross_entropy(fer, y[:, 1], ignore_index=-100)
            losses = torch.stack([l_fr, l_fer]).detach()
            w_fr, w_fer = w.detach().tolist()
            main_opt.zero_grad(set_to_none=True)
            unit_opt.zero_grad(set_to_none=True)
            (w_fr * l_fr + w_fer * l_fer).backward()
            torch.nn.utils.clip_grad_norm_(main_params, 5.0)
            main_opt.step()
            (w / (losses + 0.01)).sum().backward()
            unit_opt.step()
            step += 1
    if args.bn_recalibration:
        recalibrate(net, [images[i] for i in train])
    return evaluate(net, split, images, labels)


@torch.no_grad()
def facemtl_init(net):
    """facemtl's initialisation (src/nn/init.rs, src/model/network.rs) instead of PyTorch's
    defaults: He normal for the convolutions and the FER hidden layer, Xavier uniform for the
    other dense layers, zero biases."""
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    for layer in (net.fr_embedding, net.fr_logits, net.fer_hidden, net.fer_logits, net.unit):
        if layer is net.fer_hidden:
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        else:
            torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)


@torch.no_grad()
def recalibrate(net, clean):
    """Batch-norm statistics over the clean training images (update_bn's rule)."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    for k in range(0, len(clean), 128):
        batch = clean[k:k + 128]
        if len(batch) >= 2:
            net(torch.from_numpy(np.stack(batch))[:, None])
    for m in bns:
        m.momentum = 0.1


@torch.no_grad()
def evaluate(net, split, images, labels):
    net.eval()
    keys = sorted(images)
    out = {}
    for k in range(0, len(keys), 256):
        chunk = keys[k:k + 256]
        fr, fer, emb = net(torch.from_numpy(np.stack([images[i] for i in chunk]))[:, None])
        for j, i in enumerate(chunk):
            out[i] = (fr[j].argmax().item(), fer[j].argmax().item(), emb[j])

    def accuracy(indices, task):
        hits = [out[i][task] == labels(i)[task] for i in indices if labels(i)[task] >= 0]
        return sum(hits) / len(hits) if hits else None

    def scores(pairs):
        return [(float(out[r][2] @ out[p][2]), bool(same)) for r, p, same in pairs]

    threshold = best_threshold(scores(split["validation_pairs"]))
    test = scores(split["test_pairs"])
    return {
        "fer_accuracy": accuracy(split["test"], 1),
        "fr_identification_accuracy": accuracy(split["identification"], 0),
        "fr_verification_accuracy": None if threshold is None or not test else accuracy_at(test, threshold),
        "fr_verification_auc": auc(test),
        "validation_fer_accuracy": accuracy(split["validation"], 1),
        "validation_fr_identification_accuracy": accuracy(split["validation_identification"], 0),
    }


def sign_test(differences):
    """Exact two-sided sign test of the nonzero paired differences: (lower, higher, equal, p)."""
    lower = sum(d < 0 for d in differences)
    higher = sum(d > 0 for d in differences)
    n = lower + higher
    k = min(lower, higher)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0
    return lower, higher, len(differences) - n, p


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=pathlib.Path, help="a facemtl run or cross-validation directory")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--augment", choices=["flips", "none"], default="flips")
    parser.add_argument("--bn-recalibration", action="store_true")
    parser.add_argument("--init", choices=["pytorch", "facemtl"], default="pytorch",
                        help="PyTorch's default initialisation, or facemtl's (He / Xavier, zero biases)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--reuse", action="store_true",
                        help="read a run's PyTorch figures from its json when it has them instead of training again")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = sorted(p.parent for p in args.dir.glob("**/split.json"))
    if not runs:
        raise SystemExit(f"{args.dir}: no split.json below it; train with facemtl first")
    print(f"# torch {torch.__version__}; {args.epochs} epochs, augment {args.augment}, "
          f"bn recalibration {'on' if args.bn_recalibration else 'off'}", flush=True)
    print("run | " + " | ".join(f"{m} facemtl / pytorch" for m in METRICS))
    rows = []
    for run in runs:
        name = (f"pytorch-{args.augment}{'-recal' if args.bn_recalibration else ''}"
                f"{'-facemtl-init' if args.init == 'facemtl' else ''}.json")
        if args.reuse and (run / name).is_file():
            ours = json.loads((run / name).read_text())
        else:
            ours = train_run(run, args)
            (run / name).write_text(json.dumps({"args": vars(args) | {"dir": str(args.dir)}, **ours}, indent=2))
        theirs = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
        rows.append((theirs, ours))
        cells = [f"{theirs.get(m) if theirs.get(m) is None else round(theirs[m], 3)} / "
                 f"{ours[m] if ours[m] is None else round(ours[m], 3)}" for m in METRICS]
        print(f"{run.relative_to(args.dir) if run != args.dir else run.name} | " + " | ".join(cells), flush=True)
    print("mean ± sd | " + " | ".join(
        f"{spread(t.get(m) for t, _ in rows)} / {spread(o[m] for _, o in rows)}" for m in METRICS))
    print("\npaired difference facemtl - pytorch over the runs (exact two-sided sign test):")
    for m in METRICS:
        pairs = [(t.get(m), o[m]) for t, o in rows if t.get(m) is not None and o[m] is not None]
        if not pairs:
            continue
        differences = [a - b for a, b in pairs]
        lower, higher, equal, p = sign_test(differences)
        print(f"  {m}: mean {statistics.mean(differences):+.4f}; facemtl lower on {lower}, higher on {higher}, "
              f"equal on {equal} of {len(pairs)}; p = {p:.3f}")


if __name__ == "__main__":
    main()
