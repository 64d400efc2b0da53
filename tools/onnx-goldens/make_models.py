#!/usr/bin/env python3
"""Writes the ONNX reference models of models/onnx-tests/.

Each model is a small PyTorch module with fixed-seed weights, exported with the
TorchScript exporter (`dynamo=False`, opset 17, batch axis dynamic) and run by
onnxruntime on a few fixed-seed inputs:

    NAME.onnx          the exported graph
    NAME.inputs.npy    f32 inputs, batch first
    NAME.outputs.npy   onnxruntime's f32 outputs for those inputs

Usage (from the repository root):

    pip install torch onnx onnxruntime numpy
    python3 tools/onnx-goldens/make_models.py [--out models/onnx-tests]
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

OPSET = 17
SAMPLES = 4


class Residual(nn.Module):
    """A conv - BN - relu - conv - BN block with an identity skip."""

    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(x + y)


class ResCnn(nn.Module):
    """Residual CNN: stem conv + BN, two residual blocks, max pool, global average pool, dense."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.r1 = Residual(8)
        self.pool = nn.MaxPool2d(2)
        self.r2 = Residual(8)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = self.pool(self.r1(x))
        x = self.r2(x)
        x = self.gap(x).flatten(1)
        return self.fc(x)


class DsCnn(nn.Module):
    """Depthwise-separable CNN with relu6 (Clip), average pool and a softmax head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw1 = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw1 = nn.Conv2d(8, 16, 1)
        self.dw2 = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16)
        self.pw2 = nn.Conv2d(16, 16, 1)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(16 * 2 * 2, 6)

    def forward(self, x):
        x = nn.functional.relu6(self.stem(x))
        x = nn.functional.relu6(self.pw1(nn.functional.relu6(self.dw1(x))))
        x = nn.functional.relu6(self.pw2(nn.functional.relu6(self.dw2(x))))
        x = self.pool(x)
        x = torch.flatten(x, 1)
        return torch.softmax(self.fc(x), dim=1)


class TabularMlp(nn.Module):
    """Tabular MLP: dense - tanh - dropout - dense - leaky relu - dense - sigmoid."""

    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(13, 32)
        self.drop = nn.Dropout(0.2)
        self.l2 = nn.Linear(32, 16)
        self.l3 = nn.Linear(16, 3)

    def forward(self, x):
        x = self.drop(torch.tanh(self.l1(x)))
        x = nn.functional.leaky_relu(self.l2(x), 0.1)
        return torch.sigmoid(self.l3(x))


class LstmNet(nn.Module):
    """One forward LSTM layer over time (batch first), dense head on the last step."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=6, hidden_size=12, num_layers=1, batch_first=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1, :])


class Conv1dNet(nn.Module):
    """Time-series conv1d net: two conv1d - relu - max pool stages, mean over time, dense."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 8, 5, padding=2)
        self.c2 = nn.Conv1d(8, 16, 3, stride=1, padding=1)
        self.p = nn.MaxPool1d(2)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.p(torch.relu(self.c1(x)))
        x = self.p(torch.relu(self.c2(x)))
        x = x.mean(dim=2)
        return self.fc(x)


def randomize_bn(module, gen):
    """Gives every batch norm non-trivial running statistics and affine terms."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


# name, module class, per-sample input shape, keep BatchNormalization nodes
MODELS = [
    ("res_cnn", ResCnn, (1, 16, 16), False),
    ("res_cnn_bn", ResCnn, (1, 16, 16), True),
    ("ds_cnn", DsCnn, (3, 16, 16), False),
    ("tabular_mlp", TabularMlp, (13,), False),
    ("lstm", LstmNet, (10, 6), False),
    ("conv1d", Conv1dNet, (3, 32), False),
]


def export(name, cls, shape, keep_bn, out_dir, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1000)
    model = cls()
    with torch.no_grad():
        randomize_bn(model, gen)
    model.eval()
    x = torch.randn((SAMPLES,) + shape, generator=gen)
    path = os.path.join(out_dir, name + ".onnx")
    torch.onnx.export(
        model,
        (x,),
        path,
        dynamo=False,
        opset_version=OPSET,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        # Without folding BatchNormalization stays a node of its own.
        do_constant_folding=not keep_bn,
    )
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    xs = x.numpy().astype(np.float32)
    (ys,) = sess.run(None, {"input": xs})
    with torch.no_grad():
        ref = model(x).numpy()
    err = float(np.max(np.abs(ref - ys)))
    if err > 1e-4:
        sys.exit(f"{name}: onnxruntime and PyTorch differ by {err}")
    np.save(os.path.join(out_dir, name + ".inputs.npy"), xs)
    np.save(os.path.join(out_dir, name + ".outputs.npy"), ys.astype(np.float32))
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    size = os.path.getsize(path)
    print(f"{name}: {size} bytes, inputs {xs.shape}, outputs {ys.shape}, max |torch - ort| {err:.2e}, ops {ops}")
    return {"name": name, "bytes": size, "ops": ops, "torch_vs_ort": err}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="models/onnx-tests")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for i, (name, cls, shape, keep_bn) in enumerate(MODELS):
        export(name, cls, shape, keep_bn, args.out, seed=17 + i)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "onnx": onnx.__version__,
                "onnxruntime": ort.__version__,
                "numpy": np.__version__,
                "opset": OPSET,
            }
        )
    )


if __name__ == "__main__":
    main()
