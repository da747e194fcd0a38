// A real binary classifier: the Wisconsin diagnostic breast cancer data (569 x 30), a seeded
// 80/20 split, standardised features, an MLP with BatchNorm and Dropout, BCE and Adam over
// mini-batches. Prints the epoch losses and the test accuracy.
// Run: ./build/examples/breast_cancer [epochs] [seed] [path/to/breast_cancer.csv]
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
  std::printf("train %zu rows, test %zu rows, %d epochs\n", n_train, order.size() - n_train, epochs);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    model.train();
    shuffle(train_rows, split_gen);
    double total = 0;
    for (size_t first = 0; first < n_train; first += batch) {
      const size_t last = std::min(n_train, first + batch);
      if (last - first < 2) continue;  // BatchNorm needs two rows to train
      auto [xb, yb] = gather(standardised, train_rows, first, last);
      auto loss = loss_fn(model(xb), yb);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      total += loss.item() * static_cast<double>(last - first);
    }
    if (epoch % 10 == 0 || epoch == 1) std::printf("Epoch %d, Loss: %.4f\n", epoch, total / static_cast<double>(n_train));
  }

  model.eval();
  tg::NoGradGuard no_grad;
  auto correct = ((model(x_test) > 0.5f) == y_test).sum().item();
  std::printf("Test accuracy: %.2f%% (%d of %ld)\n", 100.0 * correct / static_cast<double>(y_test.numel()),
              static_cast<int>(correct), static_cast<long>(y_test.numel()));
}
