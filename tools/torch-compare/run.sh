#!/usr/bin/env bash
# Interleaved one-epoch training times, myelin vs PyTorch, same networks.
#
#   tools/torch-compare/run.sh [MYELIN_BIN] [ROUNDS] [NET...]
#
# MYELIN_BIN defaults to target/release/myelin, ROUNDS to 3, the networks to
# mnist-mlp mnist-cnn mnist-lstm resnet8 ds-cnn.
#
# A preset (mnist-*) trains one epoch of `myelin train --preset P --epochs 1
# --threads 2` (55,000 MNIST samples after the preset's 5,000 held out,
# batch 64) against compare.py's PyTorch copy of its layers and optimizer.
# A graph network (resnet8, ds-cnn: MLPerf Tiny's shapes) is built once in
# PyTorch by `compare.py NET --prepare`, exported to ONNX with synthetic
# NumPy data of GRAPH_SAMPLES (default 6400) training samples, imported with
# `myelin import`, and trained by `myelin train --resume NET.myl` (Adam,
# lr 2e-3, no weight decay, batch 64, one epoch) and by compare.py from the
# same module and arrays. PyTorch runs with 2 threads, myelin with
# `--threads 2`; both time the training steps alone (`train_seconds`).
# Each round runs every network once in each framework, alternating. Prints
# per network the median train_seconds of each and the median of the
# per-round ratios myelin/PyTorch, and the load average before the first
# round. With BASELINE=OTHER_MYELIN_BIN each round also times that binary
# (before the other two) and the table adds its median, its ratio to
# PyTorch and the ratio myelin/baseline: a before/after of an engine change
# on the same load. Needs python3 with torch, numpy and onnx; not run in CI.
#
# PyTorch's OpenMP threads spin while they wait (OMP_WAIT_POLICY=ACTIVE,
# its default and the fair setting on an idle machine). On a machine with
# more runnable threads than cores that spinning slows it many times over:
# set OMP_WAIT_POLICY=PASSIVE there, and quote both figures as loaded.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-ACTIVE}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/target/release/myelin} rounds=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
nets=("$@")
[ ${#nets[@]} -gt 0 ] || nets=(mnist-mlp mnist-cnn mnist-lstm resnet8 ds-cnn)
graph_samples=${GRAPH_SAMPLES:-6400}
base=${BASELINE:-}
[ -x "$bin" ] || { echo "run.sh: no myelin binary at $bin (cargo build --release)" >&2; exit 1; }
[ -z "$base" ] || [ -x "$base" ] || { echo "run.sh: no baseline binary at $base" >&2; exit 1; }
python3 -c 'import torch, numpy, onnx' 2>/dev/null ||
    { echo "run.sh: python3 with torch, numpy and onnx is needed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

is_graph() { case $1 in mnist-*) return 1 ;; *) return 0 ;; esac; }
seconds() { sed -n 's/.*"train_seconds": *\([0-9.e+-]*\).*/\1/p'; }
prepare() { # NET: ONNX export and data in $tmp/NET, imported as $tmp/NET/NET.myl
    python3 -W ignore "$here/compare.py" "$1" --prepare "$tmp/$1" \
        --samples "$graph_samples" >/dev/null
    "$bin" import "$tmp/$1/$1.onnx" --out "$tmp/$1/$1.myl" >/dev/null
}
myelin_epoch() { # BIN NET
    local bin=$1
    shift
    if is_graph "$1"; then
        # The prepared x_train holds compare.py's 64 validation samples
        # after the training ones.
        "$bin" train --resume "$tmp/$1/$1.myl" --data "$tmp/$1" --optimizer adam \
            --lr 2e-3 --weight-decay 0 --batch 64 --validation 64 --epochs 1 \
            --threads 2 --json --out "$tmp/m.myl" 2>/dev/null | seconds
    else
        (cd "$root" && "$bin" train --preset "$1" --epochs 1 --threads 2 --json \
            --out "$tmp/m.myl" 2>/dev/null) | seconds
    fi
}
torch_epoch() { # NET
    if is_graph "$1"; then
        python3 "$here/compare.py" "$1" --threads 2 --data "$tmp/$1" \
            --samples "$graph_samples" | seconds
    else
        python3 "$here/compare.py" "$1" --threads 2 --data "$root/data/mnist" \
            --samples 55000 | seconds
    fi
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for n in "${nets[@]}"; do
    if is_graph "$n"; then prepare "$n"; fi
    : >"$tmp/$n.m"; : >"$tmp/$n.t"; : >"$tmp/$n.r"; : >"$tmp/$n.b"; : >"$tmp/$n.bt"; : >"$tmp/$n.mb"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $rounds rounds; OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
for r in $(seq "$rounds"); do
    for n in "${nets[@]}"; do
        b=
        [ -z "$base" ] || b=$(myelin_epoch "$base" "$n")
        m=$(myelin_epoch "$bin" "$n"); t=$(torch_epoch "$n")
        echo "round $r $n: ${b:+baseline $b s, }myelin $m s, pytorch $t s" >&2
        echo "$m" >>"$tmp/$n.m"; echo "$t" >>"$tmp/$n.t"
        awk -v m="$m" -v t="$t" 'BEGIN {print m / t}' >>"$tmp/$n.r"
        if [ -n "$base" ]; then
            echo "$b" >>"$tmp/$n.b"
            awk -v b="$b" -v t="$t" 'BEGIN {print b / t}' >>"$tmp/$n.bt"
            awk -v m="$m" -v b="$b" 'BEGIN {print m / b}' >>"$tmp/$n.mb"
        fi
    done
done
if [ -z "$base" ]; then
    printf '%-12s %10s %10s %14s\n' net myelin_s pytorch_s myelin/pytorch
    for n in "${nets[@]}"; do
        printf '%-12s %10.2f %10.2f %14.2f\n' "$n" "$(median <"$tmp/$n.m")" \
            "$(median <"$tmp/$n.t")" "$(median <"$tmp/$n.r")"
    done
else
    printf '%-12s %10s %10s %10s %16s %14s %15s\n' net baseline_s myelin_s pytorch_s \
        baseline/pytorch myelin/pytorch myelin/baseline
    for n in "${nets[@]}"; do
        printf '%-12s %10.2f %10.2f %10.2f %16.2f %14.2f %15.2f\n' "$n" "$(median <"$tmp/$n.b")" \
            "$(median <"$tmp/$n.m")" "$(median <"$tmp/$n.t")" "$(median <"$tmp/$n.bt")" \
            "$(median <"$tmp/$n.r")" "$(median <"$tmp/$n.mb")"
    done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
