#!/usr/bin/env python3
"""One training epoch of a myelin preset's network in PyTorch (CPU).

    compare.py PRESET [--threads 2] [--data data/mnist] [--samples 55000]

Builds the same layers as `myelin train --preset PRESET` (mnist-mlp,
mnist-cnn, mnist-lstm), the same optimizer and batch size, trains one
shuffled epoch on the first SAMPLES MNIST training images and prints
`{"preset": ..., "train_seconds": ...}` as one JSON line: the time of the
training steps alone, as myelin's `train_seconds` measures them. Used by
tools/torch-compare/run.sh; never by CI.
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
from torch import nn


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Lstm(nn.Module):
    """Rows of the image as 28 time steps; logits from the last hidden state."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        h, _ = self.lstm(x.view(-1, 28, 28))
        return self.out(h[:, -1])


def network(preset):
    """The preset's layers, optimizer factory (as in host/src/net.rs)."""
    if preset == "mnist-mlp":
        net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
        )
        opt = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4)
    elif preset == "mnist-cnn":
        net = nn.Sequential(
            nn.Conv2d(1, 8, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, 10),
        )
        opt = lambda p: torch.optim.Adam(p, lr=2e-3)
    elif preset == "mnist-lstm":
        net = Lstm()
        opt = lambda p: torch.optim.Adam(p, lr=2e-3)
    else:
        raise SystemExit(f"compare.py: unknown preset {preset!r}")
    return net, opt(net.parameters())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("preset")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--samples", type=int, default=55000)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    images = idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"))[: a.samples]
    labels = idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"))[: a.samples]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).view(-1, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    net, opt = network(a.preset)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(y))
    start = time.perf_counter()
    for i in range(0, len(y), a.batch):
        rows = order[i : i + a.batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x[rows]), y[rows])
        loss.backward()
        opt.step()
    secs = time.perf_counter() - start
    print(json.dumps({"preset": a.preset, "train_seconds": secs, "loss": loss.item()}))


if __name__ == "__main__":
    main()
