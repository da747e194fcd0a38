// examples/fashion_mnist.cpp's CNN trained data-parallel: one process per rank under mpirun,
// nn::parallel::DistributedDataParallel averaging the gradients and data::DistributedSampler
// giving each rank its share of every epoch (seed 0, set_epoch each epoch, as in torch). The
// global batch stays 64 (64 / world size per rank), so an epoch makes as many optimizer steps as
// the single-process example; BatchNorm2d's batch statistics are each rank's own and its running
// statistics rank 0's (torch's DDP without SyncBatchNorm does the same), so the numbers are not
// the single process's. The test set is split among the ranks too; all_reduce sums the counts.
// Run: mpirun -np 2 ./build/examples/ddp_fashion_mnist [dir] [epochs] [train images] [test images]
//      (0 images: all of them; as root add --allow-run-as-root)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <tapegrad/distributed.hpp>

#include "common/fashion_mnist.hpp"
#include "common/metrics.hpp"

namespace tg = tapegrad;
namespace dist = tapegrad::distributed;

using examples::count_correct;
using examples::first_examples;

int main(int argc, char** argv) {
  dist::init_process_group();
  const int rank = dist::get_rank(), world = dist::get_world_size();
  const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 3;
  const int64_t train_limit = argc > 3 ? std::atoll(argv[3]) : 0;
  const int64_t test_limit = argc > 4 ? std::atoll(argv[4]) : 0;
  const int64_t batch = std::max<int64_t>(1, 64 / world);  // per rank: 64 in all

  const tg::data::TensorDataset<float> train = first_examples(tg::data::MNIST<float>(dir, /*train=*/true), train_limit);
  const tg::data::TensorDataset<float> test = first_examples(tg::data::MNIST<float>(dir, /*train=*/false), test_limit);

  tg::manual_seed(0);
  tg::nn::Sequential model = examples::fashion_cnn();
  tg::nn::parallel::DistributedDataParallel ddp(model);  // every rank starts from rank 0's weights
  tg::optim::AdamW optimizer(ddp.parameters(), tg::optim::AdamWOptions(2e-3).weight_decay(1e-4));
  tg::optim::CosineAnnealingLR schedule(optimizer, epochs);
  tg::nn::CrossEntropyLoss loss_fn;
  tg::data::DistributedSampler sampler(train.size(), world, rank, /*shuffle=*/true, /*seed=*/0);
  tg::data::DistributedSampler test_sampler(test.size(), world, rank, /*shuffle=*/false);
  if (rank == 0) {
    std::printf("Fashion-MNIST from %s on %d rank(s): train %ld images, test %ld images, %d epochs, batch %ld per rank\n",
                dir.c_str(), world, static_cast<long>(train.size()), static_cast<long>(test.size()), epochs,
                static_cast<long>(batch));
  }

  double accuracy = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    sampler.set_epoch(epoch - 1);
    ddp.train();
    dist::barrier();  // time the epoch from a common start
    const auto start = std::chrono::steady_clock::now();
    const std::vector<int64_t>& mine = sampler.indices();
    double loss_sum = 0;
    int64_t steps = 0;
    for (size_t first = 0; first < mine.size(); first += static_cast<size_t>(batch)) {
      const size_t last = std::min(mine.size(), first + static_cast<size_t>(batch));
      const auto [xb, yb] = train.get_batch(std::vector<int64_t>(mine.begin() + first, mine.begin() + last));
      auto loss = loss_fn(ddp(xb), yb);
      optimizer.zero_grad();
      loss.backward();  // the gradients arrive averaged over the ranks
      optimizer.step();
      loss_sum += loss.item();
      ++steps;
    }
    dist::barrier();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    schedule.step();

    // Each rank scores its share of the test set; the sums of the counts are the whole set's.
    ddp.eval();
    tg::NoGradGuard no_grad;
    tg::Tensor<double> counts = tg::zeros<double>({3});  // correct, examples, summed train loss
    const std::vector<int64_t>& share = test_sampler.indices();
    for (size_t first = 0; first < share.size(); first += 500) {
      const size_t last = std::min(share.size(), first + 500);
      const auto [xb, yb] = test.get_batch(std::vector<int64_t>(share.begin() + first, share.begin() + last));
      counts.data()[0] += static_cast<double>(count_correct(ddp(xb), yb));
      counts.data()[1] += static_cast<double>(xb.size(0));
    }
    counts.data()[2] = steps > 0 ? loss_sum / static_cast<double>(steps) : 0;
    dist::all_reduce(counts, dist::ReduceOp::SUM);
    accuracy = 100.0 * counts.data()[0] / counts.data()[1];
    if (rank == 0) {
      // (the sampler pads the test set to a multiple of the world size: a few images count twice)
      std::printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.2f s, %.0f training images/s\n", epoch,
                  counts.data()[2] / world, accuracy, seconds,
                  static_cast<double>(sampler.total_size()) / seconds);
    }
  }
  if (rank == 0) std::printf("test accuracy: %.2f%%\n", accuracy);
  dist::destroy_process_group();
}
