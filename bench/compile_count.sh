#!/usr/bin/env bash
# Counts the instructions the compiler executes to compile a file at -O2 (valgrind's
# cachegrind without its cache model): unlike wall time, the count is the same on every run,
# so it shows what a change to the headers costs to a fraction of a percent.
#   bench/compile_count.sh [file ...]   (default: the BCE demo and the Eigen-only floor;
#                                        needs valgrind; about a minute per file)
set -euo pipefail
cd "$(dirname "$0")/.."
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(examples/bce_training.cpp bench/compile_floor.cpp)
eigen_inc=$(pkg-config --cflags eigen3 2>/dev/null || echo -I/usr/include/eigen3)
cc1plus=$(g++ -print-prog-name=cc1plus)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "${files[@]}"; do
  g++ -std=c++17 -O2 -DNDEBUG -Iinclude $eigen_inc -E "$f" -o "$tmp/unit.ii"
  count=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$cc1plus" -quiet -O2 -std=c++17 "$tmp/unit.ii" -o /dev/null 2>&1 |
    awk '/I *refs:/ {gsub(",", "", $4); print $4}')
  awk -v f="$f" -v n="$count" 'BEGIN { printf "%-40s %6.2f billion instructions\n", f, n / 1e9 }'
done
