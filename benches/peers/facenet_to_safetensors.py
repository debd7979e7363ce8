"""Converts facenet-pytorch's InceptionResnetV1 weights to facemtl's `facenet` preset.

FaceNet's modules become facemtl's parameter names (the network is the same: `paper`'s
trunk, FaceNet's last Block8 as the FR branch's own, `last_linear` / `last_bn` as the
embedding and its batch norm). The last Block8 is also copied to the FER branch's own
Block8, as its starting point. The classifier (`logits`, 8631 VGGFace2 or 10575
CASIA-WebFace identities) and the batch norms' step counters are left out.

    pip install facenet-pytorch              # the architecture; torch from PyPI
    python3 benches/peers/facenet_to_safetensors.py vggface2 facenet-vggface2.safetensors
    python3 benches/peers/facenet_to_safetensors.py STATE_DICT.pt facenet.safetensors

`vggface2` / `casia-webface` have facenet-pytorch download its pretrained weights (needs
internet); a `.pt` file is a state dict saved from InceptionResnetV1. Then:

    facemtl train --preset facenet --color rgb --init-from facenet-vggface2.safetensors ...
"""

import re
import sys

STEM = {"conv2d_1a": "conv1a", "conv2d_2a": "conv2a", "conv2d_2b": "conv2b",
        "conv2d_3b": "conv3b", "conv2d_4a": "conv4a", "conv2d_4b": "conv4b"}


def block_tail(rest):
    """A residual block's own names: its branches' layers and its projection."""
    # A branch that is one BasicConv2d (no Sequential): layer 0 of the branch.
    m = re.fullmatch(r"branch(\d)\.(conv|bn)\.(.+)", rest)
    if m:
        return f"branch{m[1]}.0.{m[2]}.{m[3]}"
    m = re.fullmatch(r"branch(\d)\.(\d)\.(.+)", rest)
    if m:
        return f"branch{m[1]}.{m[2]}.{m[3]}"
    m = re.fullmatch(r"conv2d\.(weight|bias)", rest)
    if m:
        return f"project.{m[1]}"
    raise ValueError(f"unexpected block tensor {rest}")


def facemtl_names(name):
    """The facemtl names of one FaceNet tensor (none for what facemtl leaves out)."""
    if name.endswith("num_batches_tracked") or name.startswith("logits."):
        return []
    head, _, rest = name.partition(".")
    if head in STEM:
        return [f"trunk.stem.{STEM[head]}.{rest}"]
    m = re.fullmatch(r"repeat_(\d)\.(\d+)\.(.+)", name)
    if m:
        kind = {"1": "block35", "2": "block17", "3": "block8"}[m[1]]
        return [f"trunk.{kind}.{m[2]}.{block_tail(m[3])}"]
    if head == "mixed_6a":
        return [f"trunk.reduction_a.{block_tail(rest)}"]
    if head == "mixed_7a":
        return [f"trunk.reduction_b.{block_tail(rest)}"]
    if head == "block8":
        tail = block_tail(rest)
        return [f"fr.block8.{tail}", f"fer.block8.{tail}"]
    if head == "last_linear":
        return [f"fr.embedding.{rest}"]
    if head == "last_bn":
        return [f"fr.embedding_bn.{rest}"]
    raise ValueError(f"unexpected FaceNet tensor {name}")


def convert(state_dict):
    """facemtl's tensors (float32, contiguous) from an InceptionResnetV1 state dict."""
    out = {}
    for name, tensor in state_dict.items():
        for target in facemtl_names(name):
            out[target] = tensor.detach().float().contiguous().clone()
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    import torch
    from safetensors.torch import save_file
    source, target = sys.argv[1], sys.argv[2]
    if source in ("vggface2", "casia-webface"):
        from facenet_pytorch import InceptionResnetV1
        state = InceptionResnetV1(pretrained=source).state_dict()
    else:
        state = torch.load(source, map_location="cpu")
    tensors = convert(state)
    save_file(tensors, target, metadata={"source": f"facenet-pytorch InceptionResnetV1 ({source})"})
    print(f"wrote {len(tensors)} tensors to {target}")


if __name__ == "__main__":
    main()
