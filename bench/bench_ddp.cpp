// The MLP step of bench_tapegrad.cpp (784-512-512-10, ReLU, log-softmax loss, Adam 1e-3) on MPI
// ranks: a global batch of 256 split evenly among them. A plain program (not Google Benchmark:
// every rank must time the same steps, in step with the others). For each way it prints the
// median step time over the ranks' slowest and the global samples per second:
//   local           each rank's step without DistributedDataParallel (no communication)
//   ddp one bucket  bucket_cap_mb 25: the whole 2.7 MB of gradients in one bucket, which can
//                   start only when the first layer's gradient is in (no overlap)
//   ddp overlap     bucket_cap_mb 0.25: buckets that start while backward still runs
// and the time the all-reduce adds to a step (ddp - local).
// Each rank runs one intra-op thread.
// Run: mpirun -np 1 ./build-bench/bench/bench_ddp [steps]; mpirun -np 2 ./build-bench/bench/bench_ddp [steps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <tapegrad/distributed.hpp>

namespace tg = tapegrad;
namespace dist = tapegrad::distributed;

constexpr int64_t kGlobalBatch = 256, kIn = 784, kHidden = 512, kOut = 10;

// The median over steps of the slowest rank's step time, in milliseconds. cap_mb <= 0: no DDP.
double median_step_ms(double cap_mb, int steps) {
  const int world = dist::get_world_size();
  const int64_t batch = kGlobalBatch / world;
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
  const double local = median_step_ms(0, steps);
  const double one_bucket = median_step_ms(25, steps);
  const double overlap = median_step_ms(0.25, steps);
  if (dist::get_rank() == 0) {
    std::printf("MLP 784-512-512-10, global batch %ld on %d rank(s) (%ld each), median of %d steps\n",
                static_cast<long>(kGlobalBatch), world, static_cast<long>(kGlobalBatch / world), steps);
    const double rows[] = {local, one_bucket, overlap};
    const char* names[] = {"local (no DDP)", "ddp one bucket", "ddp overlap"};
    for (int i = 0; i < 3; ++i) {
      std::printf("  %-16s %8.2f ms/step  %8.0f samples/s", names[i], rows[i], 1000.0 * kGlobalBatch / rows[i]);
      if (i > 0) std::printf("  all-reduce adds %+.2f ms", rows[i] - local);
      std::printf("\n");
    }
  }
  dist::destroy_process_group();
}
