// A real binary classifier: the Wisconsin diagnostic breast cancer data (569 x 30), a seeded
// 80/20 split, standardised features, an MLP with BatchNorm and Dropout, BCE and Adam over
// mini-batches. Shows a progress line (loss, accuracy, speed, time left), prints the test
// accuracy and writes the loss and accuracy curves, train and test, to an SVG file.
// Run: ./build/examples/breast_cancer [epochs] [seed] [path/to/breast_cancer.csv] [curves.svg]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "common/progress.hpp"
#include "common/svg_plot.hpp"

namespace tg = tapegrad;

#ifndef TAPEGRAD_EXAMPLES_DATA_DIR
#define TAPEGRAD_EXAMPLES_DATA_DIR "examples/data"
#endif

struct Dataset {
  int64_t rows = 0, features = 0;
  std::vector<float> x;  // (rows, features), row-major
  std::vector<float> y;  // (rows), 1 = benign
};

// Reads scikit-learn's csv: a header "rows,features,name0,name1", then features and target.
Dataset read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  Dataset d;
  std::string line;
  std::getline(in, line);
  std::sscanf(line.c_str(), "%ld,%ld", &d.rows, &d.features);
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string field;
    for (int64_t j = 0; j <= d.features && std::getline(fields, field, ','); ++j) {
      (j < d.features ? d.x : d.y).push_back(std::stof(field));
    }
  }
  if (static_cast<int64_t>(d.y.size()) != d.rows) throw std::runtime_error("malformed " + path);
  return d;
}

// The rows `order[first, last)` of the data as tensors.
std::pair<tg::Tensor<float>, tg::Tensor<float>> gather(const Dataset& d, const std::vector<int64_t>& order,
                                                       size_t first, size_t last) {
  const auto n = static_cast<int64_t>(last - first);
  auto x = tg::empty({n, d.features});
  auto y = tg::empty({n, 1});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = order[first + static_cast<size_t>(i)];
    std::copy_n(d.x.data() + r * d.features, d.features, x.data() + i * d.features);
    y.data()[i] = d.y[static_cast<size_t>(r)];
  }
  return {x, y};
}

// Fisher-Yates with draws from tapegrad's generator, so the split follows the seed.
void shuffle(std::vector<int64_t>& v, tg::Generator& gen) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.random() % i]);
}

int main(int argc, char** argv) {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : 60;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  const std::string path = argc > 3 ? argv[3] : TAPEGRAD_EXAMPLES_DATA_DIR "/breast_cancer.csv";
  const std::string plot_path = argc > 4 ? argv[4] : "breast_cancer_curves.svg";
  const Dataset data = read_csv(path);

  tg::manual_seed(seed);
  tg::Generator split_gen(seed);
  std::vector<int64_t> order(static_cast<size_t>(data.rows));
  std::iota(order.begin(), order.end(), 0);
  shuffle(order, split_gen);
  const size_t n_train = static_cast<size_t>(data.rows) * 4 / 5;
  std::vector<int64_t> train_rows(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_train));
  auto [x_test, y_test] = gather(data, order, n_train, order.size());

  // Standardise with the training rows' statistics: x: (N, 30)
  auto [x_train_all, y_train_all] = gather(data, train_rows, 0, train_rows.size());
  auto mean = x_train_all.mean(0, true);
  auto std = tg::sqrt(x_train_all.var(0, false, true) + 1e-8);
  Dataset standardised = data;
  for (int64_t r = 0; r < data.rows; ++r) {
    for (int64_t j = 0; j < data.features; ++j) {
      float& v = standardised.x[static_cast<size_t>(r * data.features + j)];
      v = (v - mean.data()[j]) / std.data()[j];
    }
  }
  std::tie(x_test, y_test) = gather(standardised, order, n_train, order.size());

  tg::nn::Sequential model(tg::nn::Linear(30, 32), tg::nn::BatchNorm1d(32), tg::nn::ReLU(), tg::nn::Dropout(0.2),
                           tg::nn::Linear(32, 16), tg::nn::ReLU(), tg::nn::Linear(16, 1), tg::nn::Sigmoid());
  tg::optim::Adam optimizer(model.parameters(), tg::optim::AdamOptions(3e-3).weight_decay(1e-4));
  tg::nn::BCELoss loss_fn;

  const size_t batch = 64;
  const size_t batches = n_train / batch + (n_train % batch >= 2);  // BatchNorm needs two rows to train
  std::printf("train %zu rows, test %zu rows, %d epochs\n", n_train, order.size() - n_train, epochs);

  // per epoch, for the plot
  std::vector<double> epoch_numbers, train_loss, test_loss, train_accuracy, test_accuracy;
  examples::ProgressLine::Options progress_options;
  progress_options.report_every_epochs = examples::ProgressLine::round_interval(epochs, 6);
  examples::ProgressLine progress(epochs, static_cast<int64_t>(batches), progress_options);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    progress.start_epoch(epoch);
    model.train();
    shuffle(train_rows, split_gen);
    double total = 0;
    int64_t correct = 0;
    for (size_t first = 0; first < n_train; first += batch) {
      const size_t last = std::min(n_train, first + batch);
      if (last - first < 2) continue;
      auto [xb, yb] = gather(standardised, train_rows, first, last);
      auto output = model(xb);
      auto loss = loss_fn(output, yb);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      // accuracy in training mode, Dropout on: what the optimiser saw
      const auto batch_correct = static_cast<int64_t>(((output > 0.5f) == yb).sum().item());
      total += loss.item() * static_cast<double>(last - first);
      correct += batch_correct;
      progress.step(loss.item(), static_cast<int64_t>(last - first), batch_correct);
    }

    // The test set after each epoch, in eval mode (BatchNorm's running statistics, no
    // Dropout): neither draws random numbers nor updates a buffer, so training is unchanged.
    model.eval();
    tg::NoGradGuard no_grad;
    auto test_output = model(x_test);
    const double test_loss_value = loss_fn(test_output, y_test).item();
    const double test_correct = ((test_output > 0.5f) == y_test).sum().item();
    epoch_numbers.push_back(epoch);
    train_loss.push_back(total / static_cast<double>(n_train));
    test_loss.push_back(test_loss_value);
    train_accuracy.push_back(100.0 * static_cast<double>(correct) / static_cast<double>(n_train));
    test_accuracy.push_back(100.0 * test_correct / static_cast<double>(y_test.numel()));
    char note[64];
    std::snprintf(note, sizeof note, "test loss %.4f  test acc %.2f%%", test_loss.back(), test_accuracy.back());
    progress.end_epoch(note);
  }
  progress.finish();

  model.eval();
  tg::NoGradGuard no_grad;
  auto correct = ((model(x_test) > 0.5f) == y_test).sum().item();
  std::printf("Test accuracy: %.2f%% (%d of %ld)\n", 100.0 * correct / static_cast<double>(y_test.numel()),
              static_cast<int>(correct), static_cast<long>(y_test.numel()));

  examples::svg::Figure figure;
  figure.title = "Breast cancer MLP: BCE and Adam, batch 64";
  figure.x_label = "epoch";
  figure.panels.push_back({"BCE loss", {{"train", epoch_numbers, train_loss}, {"test", epoch_numbers, test_loss}}});
  examples::svg::Panel accuracy{"accuracy (%)", {{"train", epoch_numbers, train_accuracy}, {"test", epoch_numbers, test_accuracy}}};
  accuracy.y_max = 100;
  figure.panels.push_back(accuracy);
  if (examples::svg::write_file(figure, plot_path)) {
    std::printf("Curves written to %s\n", plot_path.c_str());
  } else {
    std::fprintf(stderr, "cannot write %s\n", plot_path.c_str());
    return 1;
  }
}
