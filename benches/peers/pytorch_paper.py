#!/usr/bin/env python3
"""facemtl's `paper` and `paper-small` networks in PyTorch (src/model/inception_resnet.rs,
src/model/preset.rs), with the module paths facemtl names its tensors by, so that a
facemtl checkpoint loads with `load_state_dict(strict=True)` as it is (PyTorch's batch-norm
counters `num_batches_tracked` added).

Run as a program, it predicts like `facemtl predict` from a facemtl checkpoint and prints
the same lines, so the two outputs can be compared with `diff`:

    python3 benches/peers/pytorch_paper.py predict CHECKPOINT_DIR IMAGE... [--top-k 3]

The images must be square and of the preset's input size (96 for paper-small, 160 for
paper), e.g. `facemtl gen-data --size 96`: at that size facemtl's preprocessing is a
grayscale conversion and per-image standardisation, which this script repeats exactly.
"""

import argparse
import json
import math
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {
    "paper": dict(
        input=160,
        stem=[32, 32, 64, 80, 192, 256],
        block35=32,
        reduction_a=[384, 192, 192, 256],
        block17=128,
        reduction_b=[256, 384, 256, 256],
        block8=192,
        repeats=[5, 10, 5],
        embedding=128,
        fer_hidden=256,
    ),
    "paper-small": dict(
        input=96,
        stem=[8, 8, 16, 20, 48, 64],
        block35=8,
        reduction_a=[96, 48, 48, 64],
        block17=32,
        reduction_b=[64, 96, 64, 64],
        block8=48,
        repeats=[1, 1, 1],
        embedding=128,
        fer_hidden=64,
    ),
}


def same(kernel):
    return ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)


class BasicConv(nn.Module):
    """Convolution without bias, batch norm, ReLU."""

    def __init__(self, in_c, out_c, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_c, eps=1e-5, momentum=0.1)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def branch(in_c, layers):
    """nn.Sequential of BasicConv from (out channels, kernel, stride, padding)."""
    out = []
    for out_c, kernel, stride, padding in layers:
        out.append(BasicConv(in_c, out_c, kernel, stride, padding))
        in_c = out_c
    return nn.Sequential(*out)


def one(width):
    return (width, (1, 1), 1, 0)


def reduce(width):
    return (width, (3, 3), 2, 0)


class ResidualBlock(nn.Module):
    """Block35 / Block17 / Block8: branches each starting with a 1x1, concatenated,
    projected by a 1x1 with bias, `act(x + scale * projection)`."""

    def __init__(self, channels, width, tails, scale, relu):
        super().__init__()
        self.count = len(tails)
        for i, tail in enumerate(tails):
            layers = [one(width)] + [(width, k, 1, same(k)) for k in tail]
            setattr(self, f"branch{i}", branch(channels, layers))
        self.project = nn.Conv2d(width * len(tails), channels, 1, bias=True)
        self.scale, self.relu = scale, relu

    def forward(self, x):
        joined = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.count)], dim=1)
        y = x + self.scale * self.project(joined)
        return F.relu(y) if self.relu else y


def block35(c, w):
    return ResidualBlock(c, w, [[], [(3, 3)], [(3, 3), (3, 3)]], 0.17, True)


def block17(c, w):
    return ResidualBlock(c, w, [[], [(1, 7), (7, 1)]], 0.10, True)


def block8(c, w, last=False):
    return ResidualBlock(c, w, [[], [(1, 3), (3, 1)]], 1.0 if last else 0.20, not last)


class Reduction(nn.Module):
    """Convolution branches and a 3x3 stride-2 max pool, concatenated."""

    def __init__(self, channels, branches):
        super().__init__()
        self.count = len(branches)
        for i, layers in enumerate(branches):
            setattr(self, f"branch{i}", branch(channels, layers))

    def forward(self, x):
        outs = [getattr(self, f"branch{i}")(x) for i in range(self.count)]
        return torch.cat(outs + [F.max_pool2d(x, 3, 2)], dim=1)


class Stem(nn.Module):
    def __init__(self, in_c, s):
        super().__init__()
        self.conv1a = BasicConv(in_c, s[0], 3, 2)
        self.conv2a = BasicConv(s[0], s[1], 3)
        self.conv2b = BasicConv(s[1], s[2], 3, padding=1)
        self.conv3b = BasicConv(s[2], s[3], 1)
        self.conv4a = BasicConv(s[3], s[4], 3)
        self.conv4b = BasicConv(s[4], s[5], 3, 2)

    def forward(self, x):
        x = self.conv2b(self.conv2a(self.conv1a(x)))
        x = F.max_pool2d(x, 3, 2)
        return self.conv4b(self.conv4a(self.conv3b(x)))


def channels(s):
    c35 = s["stem"][5]
    c17 = s["reduction_a"][0] + s["reduction_a"][3] + c35
    return c35, c17, sum(s["reduction_b"][1:]) + c17


class Trunk(nn.Module):
    def __init__(self, in_c, s):
        super().__init__()
        c35, c17, c8 = channels(s)
        r35, r17, r8 = s["repeats"]
        k, l, m, n = s["reduction_a"]
        r, o0, o1, o2 = s["reduction_b"]
        self.stem = Stem(in_c, s["stem"])
        self.block35 = nn.ModuleList([block35(c35, s["block35"]) for _ in range(r35)])
        self.reduction_a = Reduction(c35, [[reduce(k)], [one(l), (m, (3, 3), 1, 1), reduce(n)]])
        self.block17 = nn.ModuleList([block17(c17, s["block17"]) for _ in range(r17)])
        self.reduction_b = Reduction(
            c17, [[one(r), reduce(o0)], [one(r), reduce(o1)], [one(r), (o2, (3, 3), 1, 1), reduce(o2)]]
        )
        self.block8 = nn.ModuleList([block8(c8, s["block8"]) for _ in range(r8)])

    def forward(self, x):
        x = self.stem(x)
        for b in self.block35:
            x = b(x)
        x = self.reduction_a(x)
        for b in self.block17:
            x = b(x)
        x = self.reduction_b(x)
        for b in self.block8:
            x = b(x)
        return x


def output_side(size):
    def red(s):
        return (s - 3) // 2 + 1

    s = red(size)
    s = red(s - 2)
    s = red(s - 2)
    return red(red(s))


class PaperNet(nn.Module):
    """The multi-task network: trunk, FR branch (Block8, pool, dropout, embedding FC,
    identity FC), FER branch (Block8, pool, dropout, FC, ReLU, dropout, FC), weight unit."""

    def __init__(self, preset, identities, expressions, channels_in=1, keep=0.5):
        super().__init__()
        s = SIZES[preset]
        c8 = channels(s)[2]
        self.trunk = Trunk(channels_in, s)
        self.fr = nn.Module()
        self.fr.block8 = block8(c8, s["block8"], last=True)
        self.fr.embedding = nn.Linear(c8, s["embedding"])
        self.fr.logits = nn.Linear(s["embedding"], identities)
        self.fer = nn.Module()
        self.fer.block8 = block8(c8, s["block8"], last=True)
        self.fer.hidden = nn.Linear(c8, s["fer_hidden"])
        self.fer.logits = nn.Linear(s["fer_hidden"], expressions)
        self.unit = nn.Module()
        self.unit.fc = nn.Linear(c8 * output_side(s["input"]) ** 2, 2)
        self.drop = nn.Dropout(1.0 - keep)

    def forward(self, x):
        t = self.trunk(x)
        f = self.drop(self.fr.block8(t).mean(dim=(2, 3)))
        embedding = self.fr.embedding(f)
        fr = self.fr.logits(embedding)
        e = self.drop(self.fer.block8(t).mean(dim=(2, 3)))
        fer = self.fer.logits(self.drop(F.relu(self.fer.hidden(e))))
        if not self.training:
            return fr, fer, F.normalize(embedding, dim=1, eps=1e-10)
        u = F.normalize(t.detach().flatten(1), dim=1, eps=1e-10)
        z = F.normalize(self.unit.fc(u), dim=1, eps=1e-10)
        return fr, fer, F.softmax(z, dim=1).mean(dim=0)


def load(run_dir):
    """(network in eval mode, sidecar) of a facemtl checkpoint directory."""
    from safetensors.torch import load_file

    run_dir = pathlib.Path(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    sidecar = json.loads((run_dir / "checkpoint.json").read_text())
    state = load_file(str(run_dir / "checkpoint.safetensors"))
    preset = sidecar["config"]["preset"]
    if preset not in SIZES:
        raise SystemExit(f"{run_dir}: preset {preset}; this peer builds {', '.join(SIZES)}")
    net = PaperNet(
        preset,
        max(len(sidecar["fr_classes"]), 1),
        max(len(sidecar["fer_classes"]), 1),
        channels_in=state["trunk.stem.conv1a.conv.weight"].shape[1],
    )
    for name, value in net.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.zeros_like(value)
    net.load_state_dict(state, strict=True)
    return net.eval(), sidecar


def load_image(path, size, color):
    """facemtl's preprocessing of an image already `size` x `size`: grayscale (or RGB),
    [0, 1], standardised per image with the sums in f64."""
    from PIL import Image

    img = Image.open(path).convert("RGB" if color == "rgb" else "L")
    if img.size != (size, size):
        raise SystemExit(f"{path}: {img.size[0]}x{img.size[1]}; this script reads {size}x{size} images only")
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = x.transpose(2, 0, 1) if x.ndim == 3 else x[None]
    wide = x.astype(np.float64)
    mean = wide.mean()
    std = max(math.sqrt(((wide - mean) ** 2).mean()), 1.0 / math.sqrt(wide.size))
    return ((wide - mean) / std).astype(np.float32)


def top(probs, names, k):
    ranked = sorted(enumerate(probs), key=lambda p: -p[1])[: max(k, 1)]
    return "  ".join(f"{names[i] if i < len(names) else '?'} {p:.3f}" for i, p in ranked)


def predict(args):
    net, sidecar = load(args.checkpoint)
    size = SIZES[sidecar["config"]["preset"]]["input"]
    color = sidecar["config"].get("color", "gray")
    x = torch.from_numpy(np.stack([load_image(p, size, color) for p in args.images]))
    with torch.no_grad():
        fr, fer, _ = net(x)
    fr, fer = F.softmax(fr, dim=1).tolist(), F.softmax(fer, dim=1).tolist()
    tasks = sidecar["trained_tasks"]
    for i, path in enumerate(args.images):
        print(path)
        if tasks in ("both", "fr") and sidecar["fr_classes"]:
            print(f"  identity:   {top(fr[i], sidecar['fr_classes'], args.top_k)}")
        if tasks in ("both", "fer") and sidecar["fer_classes"]:
            print(f"  expression: {top(fer[i], sidecar['fer_classes'], len(sidecar['fer_classes']))}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="predict like `facemtl predict` from a facemtl checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    predict(args)


if __name__ == "__main__":
    main()
