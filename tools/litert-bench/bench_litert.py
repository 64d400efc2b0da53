#!/usr/bin/env python3
"""LiteRT's interpreter on the MLPerf Tiny int8 models, for comparison with
myelin's host benchmark (`cargo bench --bench mlperf`).

For each model of models/mlperf-tiny/ and each op resolver, one interpreter
with num_threads=1 runs the 16 golden inputs (goldens/NAME/inputs.npy) in
turn, --repeats times over after --warmup rounds. Each invoke() is timed
alone (the input is set before the clock starts) by the thread's CPU time,
as the criterion benchmark measures, and by wall time; the medians in µs per
inference are printed, with how many of the 16 outputs equal the golden
(reference-kernel) outputs bit for bit.

Resolvers: `xnnpack` (LiteRT's default, AUTO: the XNNPACK delegate takes
the ops it supports, the builtin optimized kernels run the rest), `builtin`
(the optimized kernels alone, BUILTIN_WITHOUT_DEFAULT_DELEGATES) and `ref`
(the reference kernels, BUILTIN_REF, which the goldens come from).

needs: pip install ai-edge-litert numpy      (not used by CI)
usage: tools/litert-bench/bench_litert.py [--repeats 200] [--warmup 20]
           [--resolvers xnnpack,builtin,ref] [--models ad01,kws,resnet] [--json]
"""
import argparse, importlib.metadata, json, os, statistics, sys, time

import numpy as np
from ai_edge_litert import interpreter as litert

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODELS = {"ad01": "ad01_int8", "kws": "kws_ref_model", "resnet": "pretrainedResnet_quant"}
RESOLVERS = {
    "xnnpack": litert.OpResolverType.AUTO,
    "builtin": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    "ref": litert.OpResolverType.BUILTIN_REF,
}


def bench(stem, resolver, repeats, warmup):
    d = os.path.join(ROOT, "models", "mlperf-tiny")
    it = litert.Interpreter(model_path=os.path.join(d, stem + ".tflite"), num_threads=1,
                            experimental_op_resolver_type=RESOLVERS[resolver])
    it.allocate_tensors()
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    xs = np.load(os.path.join(d, "goldens", stem, "inputs.npy"))
    want = np.load(os.path.join(d, "goldens", stem, "outputs.npy"))
    shape = tuple(inp["shape"])
    equal = 0
    for x, w in zip(xs, want):
        it.set_tensor(inp["index"], x.reshape(shape))
        it.invoke()
        equal += int(np.array_equal(it.get_tensor(out["index"]).reshape(w.shape), w))
    cpu, wall = [], []
    for r in range(warmup + repeats):
        for x in xs:
            it.set_tensor(inp["index"], x.reshape(shape))
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            it.invoke()
            w1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            if r >= warmup:
                cpu.append(c1 - c0)
                wall.append(w1 - w0)
    delegated = sum(o["op_name"] == "DELEGATE" for o in it._get_ops_details())
    return {
        "model": stem, "resolver": resolver, "inferences": len(cpu),
        "cpu_us": statistics.median(cpu) / 1e3, "wall_us": statistics.median(wall) / 1e3,
        "delegate_partitions": delegated, "equal_to_goldens": equal, "of": len(xs),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=200, help="rounds over the 16 inputs that are timed")
    ap.add_argument("--warmup", type=int, default=20, help="rounds run before timing")
    ap.add_argument("--resolvers", default="xnnpack,builtin,ref")
    ap.add_argument("--models", default="ad01,kws,resnet")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    a = ap.parse_args()
    for name in a.models.split(","):
        if name not in MODELS:
            sys.exit(f"unknown model `{name}` (models: {', '.join(MODELS)})")
    for res in a.resolvers.split(","):
        if res not in RESOLVERS:
            sys.exit(f"unknown resolver `{res}` (resolvers: {', '.join(RESOLVERS)})")
    if not a.json:
        print(f"LiteRT {importlib.metadata.version('ai-edge-litert')}, num_threads=1, {a.repeats} x 16 timed inferences each")
        print(f"{'model':<8} {'resolver':<8} {'cpu µs':>9} {'wall µs':>9} {'delegated':>9} {'= goldens':>9}")
    for name in a.models.split(","):
        for res in a.resolvers.split(","):
            r = bench(MODELS[name], res, a.repeats, a.warmup)
            r["name"] = name
            if a.json:
                print(json.dumps(r), flush=True)
            else:
                print(f"{name:<8} {res:<8} {r['cpu_us']:>9.2f} {r['wall_us']:>9.2f} "
                      f"{r['delegate_partitions']:>9} {r['equal_to_goldens']:>6}/{r['of']}", flush=True)


if __name__ == "__main__":
    main()
