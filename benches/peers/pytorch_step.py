#!/usr/bin/env python3
"""The peer of `cargo bench --bench step`: one training step of the same network and recipe
in PyTorch, timed the same way.

The network is facemtl's preset (src/model/preset.rs, src/model/network.rs): a trunk of
3x3 conv (no bias) + batch norm + ReLU blocks, each block ending in a 2x2 max-pool; an FR
branch (conv block, global average pool, dropout, 128-d embedding, identity FC) and an FER
branch (conv block, global average pool, dropout, FC, ReLU, dropout, FC); the weight unit
(FC over the L2-normalised flattened trunk output, detached, logits L2-normalised, softmax,
batch mean). The paper presets are benches/peers/pytorch_paper.py's PaperNet. A step: forward, one readback of the two losses and the task weights (the host
scheduler), L_total = w_FR L_FR + w_FER L_FER backward into the network, Adam (lr 3e-3,
weight decay 1e-4) after global-norm clipping at 5, L_w = sum w_i / (L_i + 0.01) backward
into the unit, SGD (lr 0.1). Random images and labels, 36 identities, 7 expressions.

Prints one line per case: `peer <preset> <batch> <median ms> <images/s>`.

    python3 benches/peers/pytorch_step.py [--steps 20]
        [--cases small/32,small/64,medium/32,paper-small/32,paper/16]
        [--device cpu|cuda]

On `cuda` each timed step ends with a device synchronisation, as facemtl's ends with its
wait for the device.
"""

import argparse
import statistics
import time

import pathlib
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from pytorch_paper import SIZES as PAPER_SIZES, PaperNet  # noqa: E402

PRESETS = {
    # input, trunk channels, convs per block, branch channels, embedding, FER hidden
    "small": (48, [16, 32, 64], 1, 64, 128, 64),
    "medium": (64, [32, 64], 2, 128, 128, 128),
    "large": (96, [32, 64, 128], 2, 256, 128, 256),
}
IDENTITIES, EXPRESSIONS = 36, 7


def conv_stack(in_c, out_c, n):
    layers = []
    for i in range(n):
        layers += [
            nn.Conv2d(in_c if i == 0 else out_c, out_c, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_c),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class MultiTaskNet(nn.Module):
    def __init__(self, preset, keep=0.8, identities=IDENTITIES, expressions=EXPRESSIONS, channels=1):
        super().__init__()
        size, trunk, per_block, branch, embedding, fer_hidden = PRESETS[preset]
        blocks = []
        for out_c in trunk:
            blocks += [conv_stack(channels, out_c, per_block), nn.MaxPool2d(2)]
            channels = out_c
        self.trunk = nn.Sequential(*blocks)
        side = size >> len(trunk)
        self.fr_block = conv_stack(channels, branch, per_block)
        self.fr_embedding = nn.Linear(branch, embedding)
        self.fr_logits = nn.Linear(embedding, identities)
        self.fer_block = conv_stack(channels, branch, per_block)
        self.fer_hidden = nn.Linear(branch, fer_hidden)
        self.fer_logits = nn.Linear(fer_hidden, expressions)
        self.unit = nn.Linear(channels * side * side, 2)
        self.drop = nn.Dropout(1.0 - keep)

    def forward(self, x):
        t = self.trunk(x)
        f = self.drop(self.fr_block(t).mean(dim=(2, 3)))
        fr = self.fr_logits(self.fr_embedding(f))
        e = self.drop(self.fer_block(t).mean(dim=(2, 3)))
        fer = self.fer_logits(self.drop(F.relu(self.fer_hidden(e))))
        if not self.training:
            return fr, fer, F.normalize(self.fr_embedding(f), dim=1, eps=1e-10)
        u = F.normalize(t.detach().flatten(1), dim=1, eps=1e-10)
        z = F.normalize(self.unit(u), dim=1, eps=1e-10)
        w = F.softmax(z, dim=1).mean(dim=0)
        return fr, fer, w


def _name_pairs(state):
    """(facemtl name, PyTorch name) of every tensor of a MultiTaskNet state dict."""
    pairs = []
    for torch_name in state:
        parts = torch_name.split(".")
        if parts[-1] == "num_batches_tracked":
            continue
        *module, leaf = parts
        if module[0] == "trunk":
            # trunk.<2 (block - 1)>.<3 (conv - 1) + {0: conv, 1: bn}>
            block, layer = int(module[1]) // 2 + 1, int(module[2])
            kind = "conv" if layer % 3 == 0 else "bn"
            name = f"trunk.block{block}.{layer // 3 + 1}.{kind}.{leaf}"
        elif module[0] in ("fr_block", "fer_block"):
            layer = int(module[1])
            kind = "conv" if layer % 3 == 0 else "bn"
            name = f"{module[0].split('_')[0]}.block.{layer // 3 + 1}.{kind}.{leaf}"
        elif module[0] == "unit":
            name = f"unit.fc.{leaf}"
        else:
            branch, layer = module[0].split("_", 1)
            name = f"{branch}.{layer}.{leaf}"
        pairs.append((name, torch_name))
    return pairs


def facemtl_to_torch(state, inverse=False):
    """A facemtl checkpoint's tensors (`trunk.block1.1.conv.weight`, `fr.logits.bias`,
    `unit.fc.weight`, ...) renamed for `MultiTaskNet.load_state_dict(strict=True)`, with
    the batch-norm counters PyTorch keeps; with `inverse`, a MultiTaskNet state dict
    renamed to facemtl's names (counters dropped)."""
    if inverse:
        return {name: state[torch_name] for name, torch_name in _name_pairs(state)}
    three_blocks = "trunk.block3.1.conv.weight" in state
    two_convs = "trunk.block1.2.conv.weight" in state
    preset = {(True, False): "small", (False, True): "medium", (True, True): "large"}[(three_blocks, two_convs)]
    identities = state["fr.logits.bias"].shape[0]
    expressions = state["fer.logits.bias"].shape[0]
    channels = state["trunk.block1.1.conv.weight"].shape[1]
    template = MultiTaskNet(preset, identities=identities, expressions=expressions, channels=channels).state_dict()
    out = {torch_name: state[name] for name, torch_name in _name_pairs(template)}
    for torch_name, value in template.items():
        if torch_name.endswith("num_batches_tracked"):
            out[torch_name] = torch.zeros_like(value)
    return out


def bench(preset, batch, steps, device):
    torch.manual_seed(0)
    if preset in PAPER_SIZES:
        size = PAPER_SIZES[preset]["input"]
        net = PaperNet(preset, IDENTITIES, EXPRESSIONS).to(device)
    else:
        size = PRESETS[preset][0]
        net = MultiTaskNet(preset).to(device)
    unit_params = list(net.unit.parameters())
    unit_ids = {id(p) for p in unit_params}
    main_params = [p for p in net.parameters() if id(p) not in unit_ids]
    main_opt = torch.optim.Adam(main_params, lr=3e-3, weight_decay=1e-4)
    unit_opt = torch.optim.SGD(unit_params, lr=0.1)
    x = torch.randn(batch, 1, size, size, device=device)
    y_fr = torch.randint(0, IDENTITIES, (batch,), device=device)
    y_fer = torch.randint(0, EXPRESSIONS, (batch,), device=device)
    net.train()

    def step():
        fr, fer, w = net(x)
        l_fr, l_fer = F.cross_entropy(fr, y_fr), F.cross_entropy(fer, y_fer)
        # The host scheduler's one readback: losses and weights.
        losses = torch.stack([l_fr, l_fer]).detach()
        read = torch.cat([losses, w.detach()]).tolist()
        w_fr, w_fer = read[2], read[3]
        main_opt.zero_grad(set_to_none=True)
        unit_opt.zero_grad(set_to_none=True)
        (w_fr * l_fr + w_fer * l_fer).backward()
        torch.nn.utils.clip_grad_norm_(main_params, 5.0)
        main_opt.step()
        unit_loss = (w / (losses + 0.01)).sum()
        unit_loss.backward()
        unit_opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(4):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1e3
    print(f"peer {preset} {batch} {ms:.2f} {batch / ms * 1e3:.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cases", default="small/32,small/64,medium/32")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"# torch {torch.__version__}, {where}", flush=True)
    for case in args.cases.split(","):
        preset, batch = case.split("/")
        bench(preset, int(batch), args.steps, device)


if __name__ == "__main__":
    main()
