"""LeNet5 (BatchNorm before every activation, as in splash) trained for one epoch with PyTorch
on the CPU; prints images per second. Used by scripts/bench-train.sh.

Usage: python bench_torch.py MNIST_DIR DIGITS THREADS ACTIVATION(relu|splash)
"""
import gzip
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Splash(nn.Module):
    """h(x) = sum_s a+_s max(0, x - b_s) + a-_s max(0, -x - b_s), hinges (0, 1, 2, 2.5)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("hinges", torch.tensor([0.0, 1.0, 2.0, 2.5]))
        self.a_plus = nn.Parameter(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.a_minus = nn.Parameter(torch.zeros(4))

    def forward(self, x):
        out = 0
        for s in range(4):
            b = self.hinges[s]
            out = out + self.a_plus[s] * F.relu(x - b) + self.a_minus[s] * F.relu(-x - b)
        return out


def lenet5(act):
    a = (lambda: Splash()) if act == "splash" else (lambda: nn.ReLU())
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), a(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), a(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.BatchNorm1d(120), a(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), a(), nn.Linear(84, 10),
    )


def main():
    data_dir, n, threads, act = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    raw = gzip.open(f"{data_dir}/train-images-idx3-ubyte.gz").read()
    lab = gzip.open(f"{data_dir}/train-labels-idx1-ubyte.gz").read()
    count = struct.unpack(">I", raw[4:8])[0]
    n = min(n, count)
    x = torch.frombuffer(bytearray(raw[16:16 + n * 784]), dtype=torch.uint8).float().div(255).view(n, 1, 28, 28)
    y = torch.frombuffer(bytearray(lab[8:8 + n]), dtype=torch.uint8).long()
    x = (x - 0.1307) / 0.3081
    model = lenet5(act)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    # One warm-up pass over a few batches, then the timed epoch.
    for i in range(0, 640, 64):
        opt.zero_grad()
        F.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
        opt.step()
    order = torch.randperm(n)
    start = time.perf_counter()
    for i in range(0, n, 64):
        idx = order[i:i + 64]
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    secs = time.perf_counter() - start
    print(f"{n / secs:.1f} images/s torch {torch.__version__} threads {threads} act {act}")


if __name__ == "__main__":
    main()
