#!/usr/bin/env bash
# Interleaved one-epoch training times, myelin vs PyTorch, same networks.
#
#   tools/torch-compare/run.sh [MYELIN_BIN] [ROUNDS] [PRESET...]
#
# MYELIN_BIN defaults to target/release/myelin, ROUNDS to 3, the presets to
# mnist-mlp mnist-cnn mnist-lstm. Each round runs, per preset, one epoch of
# `myelin train --preset P --epochs 1 --threads 2` (55,000 training samples
# after the preset's 5,000 held out, batch 64) and then compare.py on the
# same layers, optimizer, batch and sample count with 2 PyTorch threads.
# Prints per preset the median train_seconds of each and the median of the
# per-round ratios myelin/PyTorch, and the load average before the first
# round. Needs python3 with torch and numpy; not run in CI.
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
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(mnist-mlp mnist-cnn mnist-lstm)
[ -x "$bin" ] || { echo "run.sh: no myelin binary at $bin (cargo build --release)" >&2; exit 1; }
python3 -c 'import torch, numpy' 2>/dev/null ||
    { echo "run.sh: python3 with torch and numpy is needed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

seconds() { sed -n 's/.*"train_seconds": *\([0-9.e+-]*\).*/\1/p'; }
myelin_epoch() { # PRESET
    (cd "$root" && "$bin" train --preset "$1" --epochs 1 --threads 2 --json \
        --out "$tmp/m.myl" 2>/dev/null) | seconds
}
torch_epoch() { # PRESET
    python3 "$here/compare.py" "$1" --threads 2 --data "$root/data/mnist" \
        --samples 55000 | seconds
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $rounds rounds; OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
for p in "${presets[@]}"; do : >"$tmp/$p.m"; : >"$tmp/$p.t"; : >"$tmp/$p.r"; done
for r in $(seq "$rounds"); do
    for p in "${presets[@]}"; do
        m=$(myelin_epoch "$p"); t=$(torch_epoch "$p")
        echo "round $r $p: myelin $m s, pytorch $t s" >&2
        echo "$m" >>"$tmp/$p.m"; echo "$t" >>"$tmp/$p.t"
        awk -v m="$m" -v t="$t" 'BEGIN {print m / t}' >>"$tmp/$p.r"
    done
done
printf '%-12s %10s %10s %14s\n' preset myelin_s pytorch_s myelin/pytorch
for p in "${presets[@]}"; do
    printf '%-12s %10.2f %10.2f %14.2f\n' "$p" "$(median <"$tmp/$p.m")" \
        "$(median <"$tmp/$p.t")" "$(median <"$tmp/$p.r")"
done
