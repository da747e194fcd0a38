// The MLP step of bench_tapegrad.cpp (784-512-512-10, ReLU, log-softmax loss, Adam 1e-3) on MPI
// ranks, two ways: a global batch of 256 split evenly among them, then 256 samples per rank.
// A plain program (not Google Benchmark: every rank must time the same steps, in step with the
// others). For each way it prints the median step time over the ranks' slowest and the global
// samples per second:
//   local           each rank's step without DistributedDataParallel (no communication)
//   ddp, 25 MB      bucket_cap_mb 25 (torch's default): the whole 2.7 MB of gradients in one
//                   bucket, which can start only when the first layer's gradient is in (no overlap)
//   ddp, 0.25 MB    buckets that start while backward still runs
// (or the bucket sizes given after the step count), and the time the all-reduce adds to a step
// (ddp - local).
// Each rank runs one intra-op thread.
// Run: mpirun -np 1 ./build-bench/bench/bench_ddp [steps [bucket_mb ...]]; likewise -np 2.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include <tapegrad/distributed.hpp>

namespace tg = tapegrad;
namespace dist = tapegrad::distributed;

constexpr int64_t kGlobalBatch = 256, kIn = 784, kHidden = 512, kOut = 10;

// The median over steps of the slowest rank's step time, in milliseconds, each rank on `batch`
// samples. cap_mb <= 0: no DDP.
double median_step_ms(double cap_mb, int steps, int64_t batch) {
  tg::manual_seed(static_cast<uint64_t>(dist::get_rank()));
  auto X = tg::randn({batch, kIn});
  auto onehot = tg::zeros({batch, kOut});
  for (int64_t i = 0; i < batch; ++i) onehot.data()[i * kOut + i % kOut] = 1;
  tg::manual_seed(0);
  tg::nn::Sequential model(tg::nn::Linear(kIn, kHidden), tg::nn::ReLU(), tg::nn::Linear(kHidden, kHidden),
                           tg::nn::ReLU(), tg::nn::Linear(kHidden, kOut));
  std::unique_ptr<tg::nn::parallel::DistributedDataParallel<float>> ddp;
  if (cap_mb > 0) ddp = std::make_unique<tg::nn::parallel::DistributedDataParallel<float>>(model, cap_mb);
  tg::nn::Module<float>& net = ddp ? static_cast<tg::nn::Module<float>&>(*ddp) : model;
  tg::optim::Adam optimizer(model.parameters(), 1e-3);
  auto step = [&] {
    auto z = net(X);
    auto loss = -(onehot * tg::log_softmax(z, 1)).sum() / static_cast<float>(batch);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  };
  for (int i = 0; i < 3; ++i) step();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    dist::barrier();
    const auto start = std::chrono::steady_clock::now();
    step();
    tg::Tensor<double> t = tg::full<double>({1}, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    dist::all_reduce(t, dist::ReduceOp::MAX);
    times.push_back(t.item());
  }
  std::nth_element(times.begin(), times.begin() + steps / 2, times.end());
  return times[static_cast<size_t>(steps / 2)];
}

int main(int argc, char** argv) {
  dist::init_process_group();
  // One intra-op thread per rank (init_process_group would give a single rank both cores):
  // the rows compare ranks, not threads; bench_tapegrad's BM_mlp_2threads has two threads.
  tg::set_num_threads(1);
  const int steps = argc > 1 ? std::atoi(argv[1]) : 30;
  const int world = dist::get_world_size();
  // The bucket sizes to measure, in MB: by default 25 (torch's; one bucket here) and 0.25.
  std::vector<double> caps;
  for (int i = 2; i < argc; ++i) caps.push_back(std::atof(argv[i]));
  if (caps.empty()) caps = {25, 0.25};
  // Two ways to scale: the global batch of 256 split among the ranks (each rank's products
  // shrink, so a rank's step is more than 1 / world of one rank's), and 256 samples per rank
  // (the global batch grows with the ranks, as DDP runs usually scale).
  for (const bool split : {true, false}) {
    const int64_t batch = split ? kGlobalBatch / world : kGlobalBatch, global = batch * world;
    const double local = median_step_ms(0, steps, batch);
    std::vector<double> rows;
    for (double cap : caps) rows.push_back(median_step_ms(cap, steps, batch));
    if (dist::get_rank() != 0) continue;
    std::printf("MLP 784-512-512-10, global batch %ld on %d rank(s) (%ld each), median of %d steps\n",
                static_cast<long>(global), world, static_cast<long>(batch), steps);
    std::printf("  %-22s %8.2f ms/step  %8.0f samples/s\n", "local (no DDP)", local, 1000.0 * global / local);
    for (size_t i = 0; i < caps.size(); ++i) {
      char name[64];
      std::snprintf(name, sizeof(name), "ddp, %g MB buckets", caps[i]);
      std::printf("  %-22s %8.2f ms/step  %8.0f samples/s  all-reduce adds %+.2f ms\n", name, rows[i],
                  1000.0 * global / rows[i], rows[i] - local);
    }
  }
  dist::destroy_process_group();
}
