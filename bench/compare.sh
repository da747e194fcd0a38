#!/usr/bin/env bash
# Runs tapegrad's and libtorch's benchmarks alternately, several times, and prints the medians
# and the ratios the Performance targets are stated in, plus compile times. Every row is one
# thread but the *_2threads rows, which set two on both sides.
#   bench/compare.sh [runs]        (default 5; needs libbenchmark-dev, libtorch-dev,
#                                   libopenblas0-openmp for a fair libtorch)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
build=build-bench
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_BENCH=ON \
  -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for i in $(seq "$runs"); do
  "$build/bench/bench_tapegrad" --benchmark_format=json >"$tmp/tapegrad_$i.json" 2>/dev/null
  if [ -x "$build/bench/bench_torch" ]; then
    "$build/bench/bench_torch" --benchmark_format=json >"$tmp/torch_$i.json" 2>/dev/null
  fi
done

# Compile time at -O2: the BCE demo against the Eigen-only floor, alternately.
eigen_inc=$(pkg-config --cflags eigen3 2>/dev/null || echo -I/usr/include/eigen3)
for i in $(seq "$runs"); do
  for what in demo floor; do
    src=examples/bce_training.cpp
    [ "$what" = floor ] && src=bench/compile_floor.cpp
    start=$EPOCHREALTIME
    g++ -std=c++17 -O2 -DNDEBUG -Iinclude $eigen_inc -c "$src" -o "$tmp/$what.o"
    echo "$what $start $EPOCHREALTIME" >>"$tmp/compile.txt"
  done
done

python3 - "$tmp" "$runs" <<'PY'
import json, statistics, sys, os, platform, subprocess, datetime
tmp, runs = sys.argv[1], int(sys.argv[2])
def load(side):
    times, counters = {}, {}
    for i in range(1, runs + 1):
        path = os.path.join(tmp, f"{side}_{i}.json")
        if not os.path.exists(path):
            return None, None
        for b in json.load(open(path))["benchmarks"]:
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
            times.setdefault(b["name"], []).append(b["real_time"] * scale)  # microseconds
            if "allocs_per_step" in b:
                counters.setdefault(b["name"], []).append(b["allocs_per_step"])
    return ({k: statistics.median(v) for k, v in times.items()},
            {k: max(v) for k, v in counters.items()})
tg, tg_allocs = load("tapegrad")
th, _ = load("torch")
compile_times = {}
for line in open(os.path.join(tmp, "compile.txt")):
    what, start, end = line.split()
    compile_times.setdefault(what, []).append(float(end) - float(start))
compile_med = {k: statistics.median(v) for k, v in compile_times.items()}
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"machine: {cpu}, {os.cpu_count()} cores; one thread but the 2-thread rows; {runs} alternating runs, medians; {datetime.date.today()}")
print()
print("| workload | tapegrad | libtorch | hand-written Eigen | ratio | target | heap allocs per step |")
print("|---|---|---|---|---|---|---|")
def us(v):
    return "n/a" if v is None else (f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.1f} us")
def allocs_text(bench):
    v = tg_allocs.get(bench)
    return "" if v is None else (f"{v:g}" if v == 0 or v >= 0.01 else f"{v:.1e}")
def row(name, bench, target, floor=None):
    t = tg.get(bench)
    o = th.get(bench) if th else None
    if floor:
        e = tg.get(floor)
        ratio = f"{t / e:.2f}x the Eigen floor"
        cols = (us(t), us(o), us(e))
    else:
        ratio = "n/a" if o is None else f"{o / t:.1f}x faster"
        cols = (us(t), us(o), "")
    print(f"| {name} | {cols[0]} | {cols[1]} | {cols[2]} | {ratio} | {target} | {allocs_text(bench)} |")
row("seed step", "BM_seed", ">= 18x faster than libtorch")
row("seed Hessian-vector product (grad of grad, create_graph)", "BM_hvp", "faster than libtorch")
t, o = tg.get("BM_tiny"), th.get("BM_tiny") if th else None
print(f"| tiny (200 ops + backward) | {us(t)} ({t*1000/200:.0f} ns/op) | {us(o)} | | "
      f"{'n/a' if o is None else f'{o / t:.1f}x faster'} | >= 45x faster | {allocs_text('BM_tiny')} |")
row("mlp step (784-512-512-10, batch 256)", "BM_mlp", "<= 0.95x the floor", floor="BM_mlp_eigen")
if th and "BM_mlp" in th:
    print(f"| mlp step, libtorch | | {us(th['BM_mlp'])} | | {th['BM_mlp'] / tg['BM_mlp']:.2f}x tapegrad's time | | |")
# Two intra-op threads on both sides (tg::set_num_threads(2), torch::set_num_threads(2)); the
# speed-up is against the same side's one-thread row.
for name, bench, one, target in (("mlp step, 2 threads", "BM_mlp_2threads", "BM_mlp", ">= 1.7x one thread, faster than libtorch"),
                                 ("conv2d 16->32 3x3 on (64, 16, 28, 28), 2 threads", "BM_conv_2threads", "BM_conv", "against libtorch"),
                                 ("Fashion-MNIST training step, 2 threads", "BM_fashion_step_2threads", "BM_fashion_step", ""),
                                 ("char_gpt training step, 2 threads", "BM_char_gpt_step_2threads", "BM_char_gpt_step", "")):
    t, o = tg.get(bench), th.get(bench) if th else None
    if t is None:
        continue
    mine = f"{tg[one] / t:.2f}x one thread"
    theirs = "" if o is None or th.get(one) is None else f" (libtorch: {th[one] / o:.2f}x)"
    ratio = "n/a" if o is None else f"{o / t:.2f}x faster; {mine}{theirs}"
    print(f"| {name} | {us(t)} | {us(o)} | | {ratio} | {target} | {allocs_text(bench)} |")
# Conv2d forward + backward (bench_*.cpp's conv_step); GFLOP/s from tapegrad's median time.
conv_flops = {"BM_conv": 3 * 2.0 * 64 * 32 * 28 * 28 * 16 * 9, "BM_conv_mnist1": 2 * 2.0 * 64 * 16 * 28 * 28 * 1 * 9,
              "BM_conv_mnist2": 3 * 2.0 * 64 * 32 * 14 * 14 * 16 * 9}
for name, bench in (("conv2d 16->32 3x3 pad 1 on (64, 16, 28, 28), fwd + bwd (input and weight grads)", "BM_conv"),
                    ("Fashion-MNIST conv1 1->16 3x3 on (64, 1, 28, 28), fwd + bwd (weight grad only)", "BM_conv_mnist1"),
                    ("Fashion-MNIST conv2 16->32 3x3 on (64, 16, 14, 14), fwd + bwd", "BM_conv_mnist2")):
    t = tg.get(bench)
    o = th.get(bench) if th else None
    if t is None:
        continue
    gflops = conv_flops[bench] / (t * 1e3)
    ratio = "n/a" if o is None else f"{o / t:.2f}x libtorch's speed"
    print(f"| {name} | {us(t)} ({gflops:.0f} GFLOP/s) | {us(o)} | | {ratio} | no slower than libtorch | {allocs_text(bench)} |")
# The Fashion-MNIST example's training step: its products are 381.7 MFLOP (conv1 forward and
# weight gradient, conv2 forward and both gradients, the Linear's three products).
t, o = tg.get("BM_fashion_step"), th.get("BM_fashion_step") if th else None
if t is not None:
    ratio = "n/a" if o is None else f"{o / t:.2f}x faster"
    print(f"| Fashion-MNIST training step (the example's CNN, batch 64, cross-entropy, AdamW) | {us(t)} "
          f"({381.7e6 / (t * 1e3):.0f} GFLOP/s) | {us(o)} | | {ratio} | faster than libtorch | {allocs_text('BM_fashion_step')} |")
# char_gpt: examples/char_gpt's training step; attention at context 256 (bench_*.cpp's counts:
# the products only, causal attention counted as full).
gpt_flops = 6.0 * 16 * 64 * (4 * 12.0 * 128 * 128 + 72 * 128) + 6.0 * 4 * 2.0 * 16 * 64 * 64 * 128
attention_flops = 6.0 * 2.0 * 16 * 4 * 256 * 256 * 32
for name, bench, flops, target in (
        ("char_gpt training step (4 layers, 4 heads, 128 wide, context 64, batch 16; AdamW, clipping)", "BM_char_gpt_step",
         gpt_flops, ">= 1.3x faster"),
        ("causal attention at context 256, (16, 4, 256, 32), fwd + bwd", "BM_attention256", attention_flops, "faster")):
    t, o = tg.get(bench), th.get(bench) if th else None
    if t is None:
        continue
    ratio = "n/a" if o is None else f"{o / t:.2f}x faster"
    print(f"| {name} | {us(t)} ({flops / (t * 1e3):.0f} GFLOP/s) | {us(o)} | | {ratio} | {target} | {allocs_text(bench)} |")
d, f = compile_med["demo"], compile_med["floor"]
print(f"| compile -O2: examples/bce_training.cpp vs Eigen-only GEMM | {d:.2f} s | | {f:.2f} s | {d / f:.2f}x | <= 2x | |")
PY
