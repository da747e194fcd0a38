// A small CNN on real handwritten digits: the UCI set scikit-learn ships (1797 images of 8x8,
// pixel values 0..16, ten classes; examples/data/README.md), a seeded 80/20 split,
// Conv2d - ReLU - MaxPool2d - Conv2d - ReLU - Flatten - Linear, cross-entropy and Adam over
// shuffled mini-batches. Prints the loss of every epoch and, at the end, the test accuracy.
// Run: ./build/examples/digits_cnn [epochs] [seed] [path/to/digits.csv.gz]
#include <cstdio>
#include <cstdlib>
#include <string>

#include <tapegrad/tapegrad.hpp>

#include "common/digits.hpp"
#include "common/metrics.hpp"
#include "common/progress.hpp"

namespace tg = tapegrad;

#ifndef TAPEGRAD_EXAMPLES_DATA_DIR
#define TAPEGRAD_EXAMPLES_DATA_DIR "examples/data"
#endif

using examples::count_correct;

int main(int argc, char** argv) {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : 30;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  const std::string path = argc > 3 ? argv[3] : TAPEGRAD_EXAMPLES_DATA_DIR "/digits.csv.gz";
  const examples::Digits<float> digits = examples::load_digits<float>(path);  // images (1797, 1, 8, 8) in [0, 1], targets (1797)

  // A seeded split: the first 80% of a random permutation train, the rest test.
  tg::manual_seed(seed);
  tg::Generator split_gen(seed);
  const std::vector<int64_t> order = tg::randperm(digits.images.size(0), split_gen);
  const int64_t n_train = digits.images.size(0) * 4 / 5;
  const tg::data::TensorDataset<float> all(digits.images, digits.targets);
  auto [x_train, y_train] = all.get_batch({order.begin(), order.begin() + n_train});
  auto [x_test, y_test] = all.get_batch({order.begin() + n_train, order.end()});

  // (N, 1, 8, 8) -> conv 3x3 -> (N, 16, 8, 8) -> pool -> (N, 16, 4, 4) -> conv 3x3 -> (N, 32, 4, 4)
  tg::nn::Sequential model(tg::nn::Conv2d(1, 16, 3, /*stride=*/1, /*padding=*/1), tg::nn::ReLU(),
                           tg::nn::MaxPool2d(2), tg::nn::Conv2d(16, 32, 3, 1, 1), tg::nn::ReLU(),
                           tg::nn::Flatten(), tg::nn::Linear(32 * 4 * 4, 10));
  tg::optim::Adam optimizer(model.parameters(), 2e-3);
  tg::nn::CrossEntropyLoss loss_fn;
  tg::data::DataLoader<float> loader({x_train, y_train}, /*batch_size=*/32, /*shuffle=*/true, /*drop_last=*/false,
                                     split_gen);
  std::printf("train %ld images, test %ld images, %d epochs\n", static_cast<long>(n_train),
              static_cast<long>(x_test.size(0)), epochs);

  examples::ProgressLine::Options progress_options;
  progress_options.report_every_epochs = 1;
  examples::ProgressLine progress(epochs, loader.size(), progress_options);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    progress.start_epoch(epoch);
    model.train();
    for (const auto& [xb, yb] : loader) {
      auto logits = model(xb);
      auto loss = loss_fn(logits, yb);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      progress.step(loss.item(), xb.size(0), count_correct(logits, yb));
    }
    progress.end_epoch();
  }
  progress.finish();

  model.eval();
  tg::NoGradGuard no_grad;
  const int64_t correct = count_correct(model(x_test), y_test);
  std::printf("test accuracy: %.1f%% (%ld of %ld)\n", 100.0 * static_cast<double>(correct) / static_cast<double>(y_test.numel()),
              static_cast<long>(correct), static_cast<long>(y_test.numel()));
}
