#!/usr/bin/env bash
# myelin beside LiteRT on the MLPerf Tiny models: runs the criterion benchmark
# (`cargo bench --bench mlperf`) and bench_litert.py alternately ROUNDS times
# (default 3), then prints, per model, the median over the rounds of each
# figure (µs per inference, thread CPU time) and myelin's time over LiteRT's.
#
# needs: pip install ai-edge-litert numpy      (not used by CI)
# usage: tools/litert-bench/compare.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
out=$(mktemp -d)
crit=${CARGO_TARGET_DIR:-target}/criterion
cargo bench --bench mlperf --no-run
for r in $(seq "$rounds"); do
    echo "round $r/$rounds: myelin" >&2
    cargo bench --bench mlperf -- --noplot >"$out/myelin-$r.log" 2>&1
    python3 - "$crit" >"$out/myelin-$r.json" <<'PY'
import json, os, sys
for group in ["myelin run batch 1", "infer_int8 batch 1", "myelin run batch 16"]:
    for name in ["ad01", "kws", "resnet"]:
        e = json.load(open(os.path.join(sys.argv[1], group, name, "new", "estimates.json")))
        per = 16 if group.endswith("16") else 1
        print(json.dumps({"name": name, "what": group, "us": e["median"]["point_estimate"] / 1e3 / per}))
PY
    echo "round $r/$rounds: LiteRT" >&2
    python3 tools/litert-bench/bench_litert.py --json 2>/dev/null >"$out/litert-$r.json"
done
python3 - "$out" "$rounds" <<'PY'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
runs = {}
for r in range(1, rounds + 1):
    for line in open(os.path.join(out, f"myelin-{r}.json")):
        d = json.loads(line)
        runs.setdefault((d["name"], "myelin " + d["what"]), []).append(d["us"])
    for line in open(os.path.join(out, f"litert-{r}.json")):
        d = json.loads(line)
        runs.setdefault((d["name"], "LiteRT " + d["resolver"]), []).append(d["cpu_us"])
cols = ["myelin myelin run batch 1", "myelin infer_int8 batch 1", "myelin myelin run batch 16",
        "LiteRT xnnpack", "LiteRT builtin", "LiteRT ref"]
heads = ["myelin run b1", "infer_int8 b1", "myelin run b16 /16", "LiteRT XNNPACK", "LiteRT builtin", "LiteRT ref", "run b1 / XNNPACK"]
print(f"medians of {rounds} interleaved rounds, µs per inference (thread CPU time)")
print("| model | " + " | ".join(heads) + " |")
print("| --- |" + " ---: |" * len(heads))
for name in ["ad01", "kws", "resnet"]:
    med = {c: statistics.median(runs[(name, c)]) for c in cols}
    cells = [f"{med[c]:.1f}" for c in cols]
    cells.append(f"{med[cols[0]] / med['LiteRT xnnpack']:.2f}")
    print(f"| {name} | " + " | ".join(cells) + " |")
print("per round:")
for k, v in sorted(runs.items()):
    print(f"  {k[0]:<7} {k[1]:<28} " + " ".join(f"{x:.1f}" for x in v))
print(f"raw logs: {out}")
PY
