#!/usr/bin/env bash
# DistributedDataParallel over a slow network, simulated on one machine: two ranks of
# bench_ddp talk over TCP on the loopback interface (Open MPI's tcp transport instead of shared
# memory), and `tc` limits the loopback's rate (a token bucket), as a cluster's network would. For each rate it prints bench_ddp's rows for several bucket sizes, so the
# effect of bucket size and of overlapping the all-reduce with backward can be read off.
#   sudo bench/ddp_slow_network.sh [steps]   (needs root for tc; build-bench/bench/bench_ddp built)
# The rate limit is removed on exit, whatever happens. Loopback traffic of other programs is
# slowed while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-20}
bench=build-bench/bench/bench_ddp
[ -x "$bench" ] || { echo "build $bench first (cmake -DTAPEGRAD_BUILD_BENCH=ON)" >&2; exit 1; }
command -v tc >/dev/null || { echo "needs tc (apt-get install iproute2)" >&2; exit 1; }
trap 'tc qdisc del dev lo root 2>/dev/null || true' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run() {
  mpirun -np 2 --oversubscribe --mca btl self,tcp --mca btl_tcp_if_include lo --mca pml ob1 "$bench" "$steps" 25 2 0.5 0.1
}
echo "== loopback TCP, no limit"
run
# The rates of a 10 GbE and a 1 GbE cluster network (a token bucket; the loopback's own latency,
# tens of microseconds, stays: netem, which could add more, is not in every kernel).
for rate in 10gbit 1gbit; do
  tc qdisc del dev lo root 2>/dev/null || true
  tc qdisc add dev lo root tbf rate "$rate" burst 256kb latency 50ms
  echo "== loopback TCP limited to $rate"
  run
done
