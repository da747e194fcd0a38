// libtorch's side of the benchmarks: the same workloads as bench_tapegrad.cpp, one thread.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

// As in bench_tapegrad.cpp: a fresh model every 50 steps (untimed), as the demo trains.
struct SeedDemo {
  explicit SeedDemo(uint64_t seed) {
    torch::manual_seed(seed);
    X = torch::randn({100, 10});
    y = (X.sum(1) > 0).to(torch::kFloat).unsqueeze(1);
    model = torch::nn::Sequential(torch::nn::Linear(10, 20), torch::nn::BatchNorm1d(20), torch::nn::ReLU(),
                                  torch::nn::Dropout(0.2), torch::nn::Linear(20, 1), torch::nn::Sigmoid());
    optimizer = std::make_unique<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(0.01));
    model->train();
  }
  torch::Tensor step() {
    auto p = model->forward(X);
    auto loss = -torch::mean(y * torch::log(p + 1e-8) + (1 - y) * torch::log(1 - p + 1e-8));
    optimizer->zero_grad();
    loss.backward();
    optimizer->step();
    return loss;
  }
  torch::Tensor X, y;
  torch::nn::Sequential model{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer;
};

void BM_seed(benchmark::State& state) {
  auto demo = std::make_unique<SeedDemo>(42);
  for (int i = 0; i < 3; ++i) demo->step();
  int steps = 3;
  for (auto _ : state) {
    if (++steps % 50 == 0) {
      state.PauseTiming();
      demo = std::make_unique<SeedDemo>(42 + static_cast<uint64_t>(steps));
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(demo->step().data_ptr());
  }
}
BENCHMARK(BM_seed);

void BM_hvp(benchmark::State& state) {
  SeedDemo demo(42);
  const std::vector<torch::Tensor> params = demo.model->parameters();
  std::vector<torch::Tensor> v;
  for (const auto& p : params) v.push_back(torch::randn(p.sizes()));
  auto step = [&] {
    auto p = demo.model->forward(demo.X);
    auto loss = -torch::mean(demo.y * torch::log(p + 1e-8) + (1 - demo.y) * torch::log(1 - p + 1e-8));
    auto g = torch::autograd::grad({loss}, params, {}, true, true);
    auto gv = (g[0] * v[0]).sum();
    for (size_t i = 1; i < g.size(); ++i) gv = gv + (g[i] * v[i]).sum();
    return torch::autograd::grad({gv}, params, {}, c10::nullopt, false, true);
  };
  for (int i = 0; i < 3; ++i) step();
  for (auto _ : state) benchmark::DoNotOptimize(step()[0].data_ptr());
}
BENCHMARK(BM_hvp);

void BM_tiny(benchmark::State& state) {
  auto x = torch::ones({1}).requires_grad_();
  auto step = [&] {
    auto y = x;
    for (int i = 0; i < 100; ++i) y = y * 1.0001 + 0.0001;
    y.sum().backward();
    x.mutable_grad() = torch::Tensor();
  };
  for (int i = 0; i < 3; ++i) step();
  for (auto _ : state) step();
  state.counters["ns_per_op"] = benchmark::Counter(200.0 * static_cast<double>(state.iterations()),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_tiny);

constexpr int64_t kBatch = 256, kIn = 784, kHidden = 512, kOut = 10;

void BM_mlp(benchmark::State& state) {
  torch::manual_seed(0);
  auto X = torch::randn({kBatch, kIn});
  auto onehot = torch::zeros({kBatch, kOut});
  for (int64_t i = 0; i < kBatch; ++i) onehot[i][i % kOut] = 1;
  torch::nn::Sequential model(torch::nn::Linear(kIn, kHidden), torch::nn::ReLU(), torch::nn::Linear(kHidden, kHidden),
                              torch::nn::ReLU(), torch::nn::Linear(kHidden, kOut));
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  auto step = [&] {
    auto z = model->forward(X);
    auto loss = -(onehot * torch::log_softmax(z, 1)).sum() / kBatch;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss;
  };
  for (int i = 0; i < 2; ++i) step();
  for (auto _ : state) benchmark::DoNotOptimize(step().data_ptr());
}
BENCHMARK(BM_mlp)->Unit(benchmark::kMillisecond);

// conv: as bench_tapegrad.cpp's, torch::nn::Conv2d(cin, cout, 3).padding(1).
void conv_step(benchmark::State& state, int64_t n, int64_t cin, int64_t hw, int64_t cout, bool input_grad) {
  torch::manual_seed(0);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(cin, cout, 3).padding(1));
  auto x = torch::randn({n, cin, hw, hw});
  if (input_grad) x.requires_grad_();
  auto step = [&] {
    conv->zero_grad();
    if (input_grad) x.mutable_grad() = torch::Tensor();
    auto y = conv->forward(x);
    y.sum().backward();
    return y;
  };
  for (int i = 0; i < 2; ++i) step();
  for (auto _ : state) benchmark::DoNotOptimize(step().data_ptr());
  const double forward = 2.0 * n * cout * hw * hw * cin * 9;
  state.counters["GFLOP/s"] = benchmark::Counter(forward * (input_grad ? 3 : 2) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
void BM_conv(benchmark::State& state) { conv_step(state, 64, 16, 28, 32, true); }
BENCHMARK(BM_conv)->Unit(benchmark::kMillisecond);
void BM_conv_mnist1(benchmark::State& state) { conv_step(state, 64, 1, 28, 16, false); }
BENCHMARK(BM_conv_mnist1)->Unit(benchmark::kMillisecond);
void BM_conv_mnist2(benchmark::State& state) { conv_step(state, 64, 16, 14, 32, true); }
BENCHMARK(BM_conv_mnist2)->Unit(benchmark::kMillisecond);

// fashion step: as in bench_tapegrad.cpp.
void BM_fashion_step(benchmark::State& state) {
  torch::manual_seed(0);
  auto X = torch::rand({64, 1, 28, 28});
  auto labels = torch::arange(64, torch::kLong).remainder(10);
  torch::nn::Sequential model(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)), torch::nn::BatchNorm2d(16), torch::nn::ReLU(),
      torch::nn::MaxPool2d(2), torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)), torch::nn::BatchNorm2d(32),
      torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(), torch::nn::Linear(32 * 7 * 7, 10));
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(1e-4));
  model->train();
  auto step = [&] {
    auto loss = torch::nn::functional::cross_entropy(model->forward(X), labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss;
  };
  for (int i = 0; i < 3; ++i) step();
  for (auto _ : state) benchmark::DoNotOptimize(step().data_ptr());
}
BENCHMARK(BM_fashion_step)->Unit(benchmark::kMillisecond);

}  // namespace


int main(int argc, char** argv) {
  torch::set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
