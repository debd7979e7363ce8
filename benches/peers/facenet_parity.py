"""FaceNet parity: facenet-pytorch's InceptionResnetV1 and facemtl's `facenet` preset give
the same 512-d embedding for the same faces.

The model is built without downloading anything, given random weights and random batch-norm
running statistics (seeded), converted by `facenet_to_safetensors.py`, loaded into facemtl
(`examples/facenet_embed.rs`), and both embed the same 160 x 160 RGB faces in evaluation
mode with FaceNet's fixed standardisation. Faces: crops of real photos when a manifest with
MTCNN boxes is given (facenet-pytorch's `extract_face`: the box, 0-pixel margin, resized to
160), else random images. Prints the cosine similarity per image (the check: >= 0.9999)
and the largest absolute difference.

    pip install torch safetensors pillow numpy && pip install --no-deps facenet-pytorch requests tqdm
    python3 benches/peers/facenet_parity.py [--faces MANIFEST.csv] [--n 32] [--seed 0]
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facenet_to_safetensors import convert  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def randomised_facenet(seed):
    from facenet_pytorch import InceptionResnetV1
    torch.manual_seed(seed)
    model = InceptionResnetV1(pretrained=None, classify=False)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                c = module.num_features
                module.weight.copy_(0.5 + torch.rand(c, generator=g))
                module.bias.copy_(0.1 * torch.randn(c, generator=g))
                module.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                module.running_var.copy_(0.5 + torch.rand(c, generator=g))
            elif isinstance(module, torch.nn.Conv2d) and module.bias is not None:
                module.bias.copy_(0.05 * torch.randn(module.bias.shape, generator=g))
    return model.eval()


def faces(manifest, n, seed):
    """[n, 3, 160, 160] float32 with FaceNet's fixed standardisation."""
    if manifest is None:
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 256, size=(n, 3, 160, 160)).astype(np.float32)
        return (pixels - 127.5) / 128.0, "random images"
    import csv
    from PIL import Image
    base = os.path.dirname(os.path.abspath(manifest))
    rows = [r for r in csv.DictReader(open(manifest)) if r.get("x")][:n]
    out = []
    for r in rows:
        box = [float(r[k]) for k in ("x", "y", "w", "h")]
        image = Image.open(os.path.join(base, r["path"])).convert("RGB")
        crop = image.crop((int(box[0]), int(box[1]), int(box[0] + box[2]), int(box[1] + box[3])))
        crop = crop.resize((160, 160), Image.BILINEAR)
        out.append(np.asarray(crop, dtype=np.float32).transpose(2, 0, 1))
    pixels = np.stack(out)
    return (pixels - 127.5) / 128.0, f"{len(rows)} face crops from {manifest}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", help="a manifest with MTCNN boxes (x,y,w,h)")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = randomised_facenet(args.seed)
    images, what = faces(args.faces, args.n, args.seed)
    with torch.no_grad():
        reference = model(torch.from_numpy(images)).numpy()
    from safetensors.torch import save_file
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "facenet.safetensors")
        save_file(convert(model.state_dict()), weights)
        images_path, out_path = os.path.join(tmp, "images.f32"), os.path.join(tmp, "out.f32")
        images.astype("<f4").tofile(images_path)
        subprocess.run(["cargo", "run", "--release", "--quiet", "--example", "facenet_embed", "--",
                        weights, images_path, out_path], cwd=ROOT, check=True)
        got = np.fromfile(out_path, dtype="<f4").reshape(reference.shape)
    cosine = (got * reference).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
    print(f"{what}: {len(images)} faces, 512-d embeddings, evaluation mode")
    print(f"cosine similarity facemtl / facenet-pytorch: min {cosine.min():.7f}, mean {cosine.mean():.7f}")
    print(f"largest absolute difference: {np.abs(got - reference).max():.3e} (embeddings L2-normalised)")
    ok = cosine.min() >= 0.9999
    print("parity:", "PASS (every image >= 0.9999)" if ok else "FAIL (an image under 0.9999)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
