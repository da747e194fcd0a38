// tapegrad's side of the benchmarks (issue: Performance), plus the hand-written Eigen floor
// for the MLP. bench_torch.cpp has the same workloads in libtorch; compare.sh runs both.
// Each benchmark reports allocs_per_step: global operator new calls per timed step.
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.hpp>

#include "../examples/common/char_gpt_model.hpp"
#include "alloc_counter.hpp"

namespace tg = tapegrad;

namespace {

// Reports the heap allocations made while the benchmark loop ran, less the untimed ones.
struct AllocationScope {
  explicit AllocationScope(benchmark::State& s, const long long& untimed = none)
      : state(s), untimed(untimed), start(bench::heap_allocations.load()) {}
  ~AllocationScope() {
    const double steps = static_cast<double>(state.iterations());
    state.counters["allocs_per_step"] =
        static_cast<double>(bench::heap_allocations.load() - start - untimed) / steps;
  }
  static inline const long long none = 0;
  benchmark::State& state;
  const long long& untimed;
  long long start;
};

// seed: the demo's training step: X (100, 10), Linear-BatchNorm-ReLU-Dropout-Linear-Sigmoid,
// the manual BCE, Adam(0.01). Like the demo, each model trains for 50 steps and is then built
// afresh (untimed): trained on much longer, its gradients underflow into subnormal floats
// and the step would measure the FPU's slow path rather than the library.
struct SeedDemo {
  explicit SeedDemo(uint64_t seed) {
    tg::manual_seed(seed);
    X = tg::randn({100, 10});
    y = (X.sum(1) > 0).unsqueeze(1);
    model.train();
  }
  tg::Tensor<float> step() {
    auto p = model(X);
    auto loss = -tg::mean(y * tg::log(p + 1e-8) + (1 - y) * tg::log(1 - p + 1e-8));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss;
  }
  tg::Tensor<float> X, y;
  tg::nn::Sequential<float> model{tg::nn::Linear(10, 20), tg::nn::BatchNorm1d(20), tg::nn::ReLU(),
                                  tg::nn::Dropout(0.2), tg::nn::Linear(20, 1), tg::nn::Sigmoid()};
  tg::optim::Adam<float> optimizer{model.parameters(), 0.01};
};

void BM_seed(benchmark::State& state) {
  auto demo = std::make_unique<SeedDemo>(42);
  for (int i = 0; i < 3; ++i) demo->step();  // warm the pools
  long long untimed_allocations = 0;
  AllocationScope allocations(state, untimed_allocations);
  int steps = 3;
  for (auto _ : state) {
    if (++steps % 50 == 0) {
      state.PauseTiming();
      const long long before = bench::heap_allocations.load();
      demo = std::make_unique<SeedDemo>(42 + static_cast<uint64_t>(steps));
      untimed_allocations += bench::heap_allocations.load() - before;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(demo->step().data());
  }
}
BENCHMARK(BM_seed);

// hvp: a Hessian-vector product of the seed model's loss in its parameters (training mode:
// BatchNorm's batch statistics and Dropout's mask, drawn afresh each step, are differentiated
// through): g = grad(loss, params, create_graph), then grad(sum(g * v), params).
void BM_hvp(benchmark::State& state) {
  SeedDemo demo(42);
  const std::vector<tg::Tensor<float>> params = demo.model.parameters();
  std::vector<tg::Tensor<float>> v;
  for (const auto& p : params) v.push_back(tg::randn(p.shape()));
  auto step = [&] {
    auto p = demo.model(demo.X);
    auto loss = -tg::mean(demo.y * tg::log(p + 1e-8) + (1 - demo.y) * tg::log(1 - p + 1e-8));
    auto g = tg::autograd::grad({loss}, params, {}, true, true);
    auto gv = (g[0] * v[0]).sum();
    for (size_t i = 1; i < g.size(); ++i) gv = gv + (g[i] * v[i]).sum();
    return tg::autograd::grad({gv}, params, {}, std::nullopt, false, true);
  };
  for (int i = 0; i < 3; ++i) step();
  AllocationScope allocations(state);
  for (auto _ : state) benchmark::DoNotOptimize(step()[0].data());
}
BENCHMARK(BM_hvp);

// tiny: per-op overhead: 200 scalar ops on a one-element tensor, then backward.
void BM_tiny(benchmark::State& state) {
  auto x = tg::ones({1}).requires_grad_();
  auto step = [&] {
    auto y = x;
    for (int i = 0; i < 100; ++i) y = y * 1.0001 + 0.0001;
    y.sum().backward();
    x.set_grad(tg::Tensor<float>());
  };
  for (int i = 0; i < 3; ++i) step();
  {
    AllocationScope allocations(state);  // closed before the counter below allocates its map node
    for (auto _ : state) step();
  }
  state.counters["ns_per_op"] = benchmark::Counter(200.0 * static_cast<double>(state.iterations()),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_tiny);

// Runs a benchmark on `n` threads, then back to one.
struct ThreadCount {
  explicit ThreadCount(int n) { tg::set_num_threads(n); }
  ~ThreadCount() { tg::set_num_threads(1); }
};

constexpr int64_t kBatch = 256, kIn = 784, kHidden = 512, kOut = 10;

// mlp: batch 256, 784-512-512-10 with ReLU, loss -(onehot * log_softmax(z, 1)).sum() / 256,
// Adam(1e-3).
void mlp_step(benchmark::State& state, int threads) {
  ThreadCount count(threads);
  tg::manual_seed(0);
  auto X = tg::randn({kBatch, kIn});
  auto onehot = tg::zeros({kBatch, kOut});
  for (int64_t i = 0; i < kBatch; ++i) onehot.data()[i * kOut + i % kOut] = 1;
  tg::nn::Sequential model(tg::nn::Linear(kIn, kHidden), tg::nn::ReLU(), tg::nn::Linear(kHidden, kHidden),
                           tg::nn::ReLU(), tg::nn::Linear(kHidden, kOut));
  tg::optim::Adam optimizer(model.parameters(), 1e-3);
  auto step = [&] {
    auto z = model(X);
    auto loss = -(onehot * tg::log_softmax(z, 1)).sum() / kBatch;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss;
  };
  for (int i = 0; i < 2; ++i) step();
  AllocationScope allocations(state);
  for (auto _ : state) benchmark::DoNotOptimize(step().data());
}
void BM_mlp(benchmark::State& state) { mlp_step(state, 1); }
BENCHMARK(BM_mlp)->Unit(benchmark::kMillisecond);
// The same step on two threads (core/parallel.hpp), against libtorch on two.
void BM_mlp_2threads(benchmark::State& state) { mlp_step(state, 2); }
BENCHMARK(BM_mlp_2threads)->Unit(benchmark::kMillisecond);

// The floor: the same MLP step written by hand in Eigen (row-major, noalias GEMMs, Adam).
void BM_mlp_eigen(benchmark::State& state) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Row = Eigen::Matrix<float, 1, Eigen::Dynamic>;
  tg::manual_seed(0);
  Mat X = tg::randn({kBatch, kIn}).matrix();
  Mat onehot = Mat::Zero(kBatch, kOut);
  for (int64_t i = 0; i < kBatch; ++i) onehot(i, i % kOut) = 1;
  struct Layer {
    Mat W;  // (out, in)
    Row b;
    Mat gW, mW, vW;
    Row gb, mb, vb;
  };
  auto make = [](int64_t in, int64_t out) {
    Layer l;
    const float bound = 1.0f / std::sqrt(static_cast<float>(in));
    l.W = Mat::Random(out, in) * bound;
    l.b = Row::Random(out) * bound;
    l.gW = l.mW = l.vW = Mat::Zero(out, in);
    l.gb = l.mb = l.vb = Row::Zero(out);
    return l;
  };
  Layer L1 = make(kIn, kHidden), L2 = make(kHidden, kHidden), L3 = make(kHidden, kOut);
  Mat h1(kBatch, kHidden), h2(kBatch, kHidden), z(kBatch, kOut), dz(kBatch, kOut), dh2(kBatch, kHidden),
      dh1(kBatch, kHidden);
  int step_count = 0;
  auto adam = [&](auto& p, auto& g, auto& m, auto& v) {
    const float b1 = 0.9f, b2 = 0.999f, lr = 1e-3f, eps = 1e-8f;
    const float bc1 = 1 - std::pow(b1, static_cast<float>(step_count));
    const float bc2_sqrt = std::sqrt(1 - std::pow(b2, static_cast<float>(step_count)));
    m.array() = m.array() * b1 + (1 - b1) * g.array();
    v.array() = v.array() * b2 + (1 - b2) * g.array() * g.array();
    p.array() -= (lr / bc1) * (m.array() / (v.array().sqrt() / bc2_sqrt + eps));
  };
  auto step = [&] {
    // forward: h1 = relu(X W1^T + b1), h2 = relu(h1 W2^T + b2), z = h2 W3^T + b3
    h1.noalias() = X * L1.W.transpose();
    h1 = (h1.rowwise() + L1.b).cwiseMax(0.0f);
    h2.noalias() = h1 * L2.W.transpose();
    h2 = (h2.rowwise() + L2.b).cwiseMax(0.0f);
    z.noalias() = h2 * L3.W.transpose();
    z.rowwise() += L3.b;
    // loss = -(onehot * log_softmax(z)).sum() / N; dz = (softmax(z) * rowsum(onehot) - onehot) / N
    Eigen::VectorXf m = z.rowwise().maxCoeff();
    Mat e = (z.colwise() - m).array().exp().matrix();
    Eigen::VectorXf s = e.rowwise().sum();
    Mat logp = (z.colwise() - m).colwise() - s.array().log().matrix();
    const float loss = -(onehot.cwiseProduct(logp)).sum() / kBatch;
    dz = ((e.array().colwise() / s.array()).colwise() * onehot.rowwise().sum().array() - onehot.array()).matrix() / kBatch;
    // backward
    L3.gW.noalias() = dz.transpose() * h2;
    L3.gb = dz.colwise().sum();
    dh2.noalias() = dz * L3.W;
    dh2 = dh2.cwiseProduct((h2.array() > 0).cast<float>().matrix());
    L2.gW.noalias() = dh2.transpose() * h1;
    L2.gb = dh2.colwise().sum();
    dh1.noalias() = dh2 * L2.W;
    dh1 = dh1.cwiseProduct((h1.array() > 0).cast<float>().matrix());
    L1.gW.noalias() = dh1.transpose() * X;
    L1.gb = dh1.colwise().sum();
    ++step_count;
    for (Layer* l : {&L1, &L2, &L3}) {
      adam(l->W, l->gW, l->mW, l->vW);
      adam(l->b, l->gb, l->mb, l->vb);
    }
    return loss;
  };
  for (int i = 0; i < 2; ++i) step();
  AllocationScope allocations(state);
  for (auto _ : state) benchmark::DoNotOptimize(step());
}
BENCHMARK(BM_mlp_eigen)->Unit(benchmark::kMillisecond);

// conv: Conv2d(cin, cout, 3, padding 1) forward + backward of y.sum() on x (n, cin, hw, hw),
// the input's gradient too when `input_grad` (a hidden layer; not the first, whose input is
// data). GFLOP/s: forward 2 n cout hw^2 cin 9, backward as much per gradient computed.
void conv_step(benchmark::State& state, int64_t n, int64_t cin, int64_t hw, int64_t cout, bool input_grad) {
  tg::manual_seed(0);
  tg::nn::Conv2d conv(cin, cout, 3, 1, 1);
  auto x = tg::randn({n, cin, hw, hw});
  if (input_grad) x.requires_grad_();
  auto step = [&] {
    conv.zero_grad();
    x.set_grad(tg::Tensor<float>());
    auto y = conv(x);
    y.sum().backward();
    return y;
  };
  for (int i = 0; i < 2; ++i) step();
  {
    AllocationScope allocations(state);
    for (auto _ : state) benchmark::DoNotOptimize(step().data());
  }
  const double forward = 2.0 * n * cout * hw * hw * cin * 9;
  state.counters["GFLOP/s"] = benchmark::Counter(forward * (input_grad ? 3 : 2) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
void BM_conv(benchmark::State& state) { conv_step(state, 64, 16, 28, 32, true); }
BENCHMARK(BM_conv)->Unit(benchmark::kMillisecond);
void BM_conv_2threads(benchmark::State& state) {
  ThreadCount count(2);
  conv_step(state, 64, 16, 28, 32, true);
}
BENCHMARK(BM_conv_2threads)->Unit(benchmark::kMillisecond);
// The Fashion-MNIST example's two conv layers, batch 64.
void BM_conv_mnist1(benchmark::State& state) { conv_step(state, 64, 1, 28, 16, false); }
BENCHMARK(BM_conv_mnist1)->Unit(benchmark::kMillisecond);
void BM_conv_mnist2(benchmark::State& state) { conv_step(state, 64, 16, 14, 32, true); }
BENCHMARK(BM_conv_mnist2)->Unit(benchmark::kMillisecond);

// fashion step: the Fashion-MNIST example's training step on a batch of 64 (random images,
// labels i % 10): Conv2d(1, 16, 3, pad 1) - BatchNorm2d - ReLU - MaxPool2d(2) - Conv2d(16, 32,
// 3, pad 1) - BatchNorm2d - ReLU - MaxPool2d(2) - Flatten - Linear(1568, 10), cross-entropy,
// AdamW(2e-3, weight decay 1e-4).
void BM_fashion_step(benchmark::State& state) {
  tg::manual_seed(0);
  auto X = tg::rand({64, 1, 28, 28});
  auto labels = tg::empty({64});
  for (int64_t i = 0; i < 64; ++i) labels.data()[i] = static_cast<float>(i % 10);
  tg::nn::Sequential model(tg::nn::Conv2d(1, 16, 3, 1, 1), tg::nn::BatchNorm2d(16), tg::nn::ReLU(), tg::nn::MaxPool2d(2),
                           tg::nn::Conv2d(16, 32, 3, 1, 1), tg::nn::BatchNorm2d(32), tg::nn::ReLU(), tg::nn::MaxPool2d(2),
                           tg::nn::Flatten(), tg::nn::Linear(32 * 7 * 7, 10));
  tg::optim::AdamW optimizer(model.parameters(), tg::optim::AdamWOptions(2e-3).weight_decay(1e-4));
  tg::nn::CrossEntropyLoss loss_fn;
  model.train();
  auto step = [&] {
    auto loss = loss_fn(model(X), labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss;
  };
  for (int i = 0; i < 3; ++i) step();
  AllocationScope allocations(state);
  for (auto _ : state) benchmark::DoNotOptimize(step().data());
}
BENCHMARK(BM_fashion_step)->Unit(benchmark::kMillisecond);
void BM_fashion_step_2threads(benchmark::State& state) {
  ThreadCount count(2);
  BM_fashion_step(state);
}
BENCHMARK(BM_fashion_step_2threads)->Unit(benchmark::kMillisecond);

// char_gpt step: examples/char_gpt's training step at its default size (4 layers, 4 heads, 128
// wide, context 64, batch 16, 72 characters): forward, cross-entropy, backward, clipping, two
// AdamW steps and their cosine schedules, on one fixed random batch. GFLOP/s counts the matrix
// products only (6 flops per parameter per token for the Linears and the tied head, and the
// causal attention's two products, forward 2 and backward 4 per multiply-add, as if full).
void BM_char_gpt_step(benchmark::State& state) {
  tg::manual_seed(1337);
  examples::GPTConfig config;
  examples::GPT<float> model(config);
  examples::GPTTraining<float> training(model, 1e-3, 1000000);
  const int64_t B = 16, L = config.block_size, E = config.n_embd;
  const auto x = tg::randint<float>(0, config.vocab_size, {B, L}), y = tg::randint<float>(0, config.vocab_size, {B, L});
  for (int i = 0; i < 3; ++i) training.step(x, y);
  {
    AllocationScope allocations(state);
    for (auto _ : state) benchmark::DoNotOptimize(training.step(x, y));
  }
  const double linear_params = config.n_layer * 12.0 * E * E + config.vocab_size * E;
  const double attention = config.n_layer * 2.0 * B * L * L * E;  // multiply-adds, both products
  state.counters["GFLOP/s"] = benchmark::Counter((6.0 * B * L * linear_params + 6.0 * attention) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_char_gpt_step)->Unit(benchmark::kMillisecond);
void BM_char_gpt_step_2threads(benchmark::State& state) {
  ThreadCount count(2);
  BM_char_gpt_step(state);
}
BENCHMARK(BM_char_gpt_step_2threads)->Unit(benchmark::kMillisecond);

// attention at context 256: causal scaled_dot_product_attention of q, k, v (16, 4, 256, 32),
// forward and backward of the output's sum into all three. GFLOP/s as for char_gpt (full).
void BM_attention256(benchmark::State& state) {
  tg::manual_seed(0);
  const int64_t B = 16, H = 4, L = 256, D = 32;
  auto q = tg::randn({B, H, L, D}).requires_grad_(), k = tg::randn({B, H, L, D}).requires_grad_(),
       v = tg::randn({B, H, L, D}).requires_grad_();
  auto step = [&] {
    for (auto* t : {&q, &k, &v}) t->set_grad(tg::Tensor<float>());
    auto out = tg::nn::functional::scaled_dot_product_attention(q, k, v, tg::Tensor<float>(), 0.0, true);
    out.sum().backward();
    return out;
  };
  for (int i = 0; i < 2; ++i) step();
  {
    AllocationScope allocations(state);
    for (auto _ : state) benchmark::DoNotOptimize(step().data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(6.0 * 2.0 * B * H * L * L * D / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_attention256)->Unit(benchmark::kMillisecond);

}  // namespace


// Every row runs on one thread but the *_2threads rows, whatever TAPEGRAD_NUM_THREADS or
// OMP_NUM_THREADS say.
int main(int argc, char** argv) {
  tg::set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
