// A small CNN on Fashion-MNIST (Zalando's 70000 28x28 greyscale images of ten kinds of clothing,
// the drop-in successor of MNIST): two Conv2d - BatchNorm2d - ReLU - MaxPool2d blocks, then
// Flatten - Linear, cross-entropy, AdamW under a cosine learning-rate schedule, batches of 64.
// Shows the progress line, prints the test accuracy after each epoch and writes the curves.
// Debian's dataset-fashion-mnist package puts the IDX files in /usr/share/datasets/fashion-mnist.
// Run: ./build/examples/fashion_mnist [dir] [epochs] [train images] [test images] [curves.svg]
//      (0 images: all of them)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "common/fashion_mnist.hpp"
#include "common/metrics.hpp"
#include "common/progress.hpp"
#include "common/svg_plot.hpp"

namespace tg = tapegrad;

using examples::count_correct;
using examples::first_examples;

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 3;
  const int64_t train_limit = argc > 3 ? std::atoll(argv[3]) : 0;
  const int64_t test_limit = argc > 4 ? std::atoll(argv[4]) : 0;
  const std::string plot_path = argc > 5 ? argv[5] : "fashion_mnist_curves.svg";

  const tg::data::TensorDataset<float> train = first_examples(tg::data::MNIST<float>(dir, /*train=*/true), train_limit);
  const tg::data::TensorDataset<float> test = first_examples(tg::data::MNIST<float>(dir, /*train=*/false), test_limit);

  tg::manual_seed(0);
  tg::nn::Sequential model = examples::fashion_cnn();
  tg::optim::AdamW optimizer(model.parameters(), tg::optim::AdamWOptions(2e-3).weight_decay(1e-4));
  tg::optim::CosineAnnealingLR schedule(optimizer, epochs);
  tg::nn::CrossEntropyLoss loss_fn;
  tg::Generator shuffle_gen(0);
  tg::data::DataLoader<float> loader(train, /*batch_size=*/64, /*shuffle=*/true, /*drop_last=*/false, shuffle_gen);
  tg::data::DataLoader<float> test_loader(test, /*batch_size=*/500);
  std::printf("Fashion-MNIST from %s: train %ld images, test %ld images, %d epochs\n", dir.c_str(),
              static_cast<long>(train.size()), static_cast<long>(test.size()), epochs);

  // The curves: the training loss averaged over each stretch of ~1/10 epoch, and the test
  // loss and accuracy after each epoch.
  std::vector<double> train_at, train_loss, test_at, test_loss, test_accuracy;
  const int64_t stretch = std::max<int64_t>(1, loader.size() / 10);
  examples::ProgressLine progress(epochs, loader.size());
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    progress.start_epoch(epoch);
    model.train();
    int64_t step = 0;
    double stretch_loss = 0;
    for (const auto& [xb, yb] : loader) {
      auto logits = model(xb);
      auto loss = loss_fn(logits, yb);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      const double loss_value = loss.item();
      progress.step(loss_value, xb.size(0), count_correct(logits, yb));
      stretch_loss += loss_value;
      if (++step % stretch == 0) {
        train_at.push_back(epoch - 1 + static_cast<double>(step) / static_cast<double>(loader.size()));
        train_loss.push_back(stretch_loss / static_cast<double>(stretch));
        stretch_loss = 0;
      }
    }
    schedule.step();

    // The test set in eval mode (BatchNorm's running statistics), in batches of 500.
    model.eval();
    tg::NoGradGuard no_grad;
    double total_loss = 0;
    int64_t correct = 0;
    for (const auto& [xb, yb] : test_loader) {
      auto logits = model(xb);
      total_loss += loss_fn(logits, yb).item() * static_cast<double>(xb.size(0));
      correct += count_correct(logits, yb);
    }
    test_at.push_back(epoch);
    test_loss.push_back(total_loss / static_cast<double>(test.size()));
    test_accuracy.push_back(100.0 * static_cast<double>(correct) / static_cast<double>(test.size()));
    char note[64];
    std::snprintf(note, sizeof note, "test loss %.4f  test accuracy %.2f%%", test_loss.back(), test_accuracy.back());
    progress.end_epoch(note);
  }
  progress.finish();
  std::printf("test accuracy: %.2f%%\n", test_accuracy.back());

  examples::svg::Figure figure;
  figure.title = "Fashion-MNIST CNN: cross-entropy, AdamW, cosine schedule, batch 64";
  figure.x_label = "epoch";
  figure.panels.push_back({"cross-entropy", {{"train", train_at, train_loss}, {"test", test_at, test_loss}}});
  examples::svg::Panel accuracy{"test accuracy (%)", {{"test", test_at, test_accuracy}}};
  figure.panels.push_back(accuracy);
  if (!examples::svg::write_file(figure, plot_path)) {
    std::fprintf(stderr, "cannot write %s\n", plot_path.c_str());
    return 1;
  }
  std::printf("Curves written to %s\n", plot_path.c_str());
}
