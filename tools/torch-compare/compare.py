#!/usr/bin/env python3
"""One training epoch of a network myelin also trains, in PyTorch (CPU).

    compare.py NET [--threads 2] [--data DIR] [--samples N]
    compare.py NET --prepare DIR [--samples N]

NET is a myelin preset (mnist-mlp, mnist-cnn, mnist-lstm), built here with
the same layers as `myelin train --preset NET`, or one of the MLPerf Tiny
graph networks (resnet8, ds-cnn), which myelin trains from this script's
ONNX export. The training run uses the same optimizer and batch size as
myelin, trains one shuffled epoch on the first SAMPLES training samples and
prints `{"net": ..., "train_seconds": ...}` as one JSON line: the time of the
training steps alone, as myelin's `train_seconds` measures them.

`--prepare DIR` writes, for a graph network, DIR/NET.onnx (the untrained
network, fixed seed, BatchNormalization kept as nodes) and synthetic NumPy
data in myelin's `--data` layout: x_train.npy with SAMPLES + VALIDATION
samples, y_train.npy, and a small x_test.npy / y_test.npy. myelin imports the
ONNX file and trains it on that folder; this script trains the same module,
from the same seed, on the first SAMPLES of the same arrays.

Used by tools/torch-compare/run.sh; never by CI.
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

# Samples myelin holds out for validation (run.sh passes `--validation`);
# the prepared x_train has this many after the SAMPLES both frameworks train on.
VALIDATION = 64
TEST = 64
OPSET = 17


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


class ResidualStack(nn.Module):
    """MLPerf Tiny ResNet stack: conv 3x3 (stride) + BN + ReLU, conv 3x3 + BN,
    plus the input or its 1x1 strided projection, then ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.b2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet8(nn.Module):
    """MLPerf Tiny image classification: 3x32x32, stacks of 16/32/64, average pool, dense 10."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.stacks = nn.Sequential(
            ResidualStack(16, 16, 1), ResidualStack(16, 32, 2), ResidualStack(32, 64, 2)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.stacks(torch.relu(self.bn(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def ds_cnn():
    """MLPerf Tiny keyword spotting: 1x49x10, conv 10x4 stride 2 (64), four
    depthwise 3x3 + pointwise 1x1 pairs with BN and ReLU, average pool, dense 12.
    Padding (5, 1) gives TFLite's "same" output (25x5) with even sides."""
    layers = [nn.Conv2d(1, 64, (10, 4), stride=2, padding=(5, 1)), nn.BatchNorm2d(64), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Conv2d(64, 64, 3, padding=1, groups=64), nn.BatchNorm2d(64), nn.ReLU()]
        layers += [nn.Conv2d(64, 64, 1), nn.BatchNorm2d(64), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 12)]
    return nn.Sequential(*layers)


def adam(p):
    return torch.optim.Adam(p, lr=2e-3)


# Graph networks: module factory, per-sample input shape, classes.
GRAPHS = {
    "resnet8": (ResNet8, (3, 32, 32), 10),
    "ds-cnn": (ds_cnn, (1, 49, 10), 12),
}


def network(name):
    """The network's module and optimizer (as host/src/net.rs for the presets;
    Adam, lr 2e-3, no weight decay, as run.sh tells myelin, for the graphs)."""
    torch.manual_seed(1)
    if name == "mnist-mlp":
        net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
        )
        opt = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4)
    elif name == "mnist-cnn":
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
    elif name == "mnist-lstm":
        net = Lstm()
        opt = adam
    elif name in GRAPHS:
        net = GRAPHS[name][0]()
        opt = adam
    else:
        raise SystemExit(f"compare.py: unknown network {name!r}")
    return net, opt(net.parameters())


def prepare(name, out, samples):
    """Writes the ONNX export and the synthetic data set of a graph network."""
    if name not in GRAPHS:
        raise SystemExit(f"compare.py: --prepare takes a graph network ({', '.join(GRAPHS)}), not {name!r}")
    _, shape, classes = GRAPHS[name]
    os.makedirs(out, exist_ok=True)
    net, _ = network(name)
    net.eval()
    torch.onnx.export(
        net,
        (torch.zeros((1,) + shape),),
        os.path.join(out, name + ".onnx"),
        dynamo=False,
        opset_version=OPSET,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        # Without folding BatchNormalization stays a node (trained, as here).
        do_constant_folding=False,
    )
    rng = np.random.default_rng(7)
    for split, n in (("train", samples + VALIDATION), ("test", TEST)):
        np.save(os.path.join(out, f"x_{split}.npy"), rng.standard_normal((n,) + shape, np.float32))
        np.save(os.path.join(out, f"y_{split}.npy"), rng.integers(0, classes, n, dtype=np.uint8))
    params = sum(p.numel() for p in net.parameters())
    print(json.dumps({"net": name, "onnx": os.path.join(out, name + ".onnx"), "parameters": params}))


def training_data(name, data, samples):
    """Inputs and labels: MNIST's first images for a preset, the prepared arrays for a graph."""
    if name in GRAPHS:
        x = np.load(os.path.join(data, "x_train.npy"))[:samples]
        y = np.load(os.path.join(data, "y_train.npy"))[:samples]
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))
    images = idx(os.path.join(data, "train-images-idx3-ubyte.gz"))[:samples]
    labels = idx(os.path.join(data, "train-labels-idx1-ubyte.gz"))[:samples]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).view(-1, 1, 28, 28)
    return x, torch.from_numpy(labels.astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("net")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--samples", type=int, default=55000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prepare", metavar="DIR")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.prepare:
        prepare(a.net, a.prepare, a.samples)
        return
    x, y = training_data(a.net, a.data, a.samples)
    net, opt = network(a.net)
    net.train()
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
    print(json.dumps({"net": a.net, "train_seconds": secs, "loss": loss.item(), "samples": len(y)}))


if __name__ == "__main__":
    main()
