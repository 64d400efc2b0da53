#!/usr/bin/env bash
# Interleaved training-speed comparison of two myelin binaries.
#
#   tools/train-speed-ab.sh OLD_BIN NEW_BIN [ROUNDS] [PRESET...]
#
# For each preset (default: mnist-mlp mnist-cnn mnist-lstm), runs one epoch
# of `myelin train --preset P --epochs 1 --threads 2 --json` with the old and
# the new binary in turn, ROUNDS times (default 5), and prints the median
# epoch time of each and the median of the per-round ratios new/old. Runs
# alternate so that load from other jobs falls on both sides alike.
set -euo pipefail
old=$1 new=$2 rounds=${3:-5}
shift $(( $# < 3 ? $# : 3 ))
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(mnist-mlp mnist-cnn mnist-lstm)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

epoch_seconds() { # BIN PRESET
    "$1" train --preset "$2" --epochs 1 --threads 2 --json --out "$tmp/m.myl" 2>/dev/null |
        sed -n 's/.*"train_seconds":\([0-9.e+-]*\).*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '%-12s %10s %10s %12s\n' preset old_s new_s new/old
for p in "${presets[@]}"; do
    : >"$tmp/old" ; : >"$tmp/new" ; : >"$tmp/ratio"
    for _ in $(seq "$rounds"); do
        o=$(epoch_seconds "$old" "$p"); n=$(epoch_seconds "$new" "$p")
        echo "$o" >>"$tmp/old"; echo "$n" >>"$tmp/new"
        awk -v o="$o" -v n="$n" 'BEGIN {print n / o}' >>"$tmp/ratio"
    done
    printf '%-12s %10.3f %10.3f %12.3f\n' "$p" "$(median <"$tmp/old")" \
        "$(median <"$tmp/new")" "$(median <"$tmp/ratio")"
done
