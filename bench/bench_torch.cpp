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

// Runs a benchmark on `n` intra-op threads, then back to one (main's setting).
struct ThreadCount {
  explicit ThreadCount(int n) { torch::set_num_threads(n); }
  ~ThreadCount() { torch::set_num_threads(1); }
};

constexpr int64_t kBatch = 256, kIn = 784, kHidden = 512, kOut = 10;

void mlp_step(benchmark::State& state, int threads) {
  ThreadCount count(threads);
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
void BM_mlp(benchmark::State& state) { mlp_step(state, 1); }
BENCHMARK(BM_mlp)->Unit(benchmark::kMillisecond);
void BM_mlp_2threads(benchmark::State& state) { mlp_step(state, 2); }
BENCHMARK(BM_mlp_2threads)->Unit(benchmark::kMillisecond);

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
void BM_conv_2threads(benchmark::State& state) {
  ThreadCount count(2);
  conv_step(state, 64, 16, 28, 32, true);
}
BENCHMARK(BM_conv_2threads)->Unit(benchmark::kMillisecond);
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
void BM_fashion_step_2threads(benchmark::State& state) {
  ThreadCount count(2);
  BM_fashion_step(state);
}
BENCHMARK(BM_fashion_step_2threads)->Unit(benchmark::kMillisecond);

// char_gpt step: as bench_tapegrad.cpp's, nanoGPT's model in libtorch (tools/char_gpt_torch.py
// module for module; 1.13 has no fused scaled_dot_product_attention, so nanoGPT's own
// matmul - masked_fill - softmax - matmul), AdamW in two groups, cosine, clipping.
struct GPTBlock : torch::nn::Module {
  GPTBlock(int64_t E, int64_t H) : heads(H) {
    ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({E})));
    c_attn = register_module("c_attn", torch::nn::Linear(E, 3 * E));
    attn_proj = register_module("attn_proj", torch::nn::Linear(E, E));
    ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({E})));
    c_fc = register_module("c_fc", torch::nn::Linear(E, 4 * E));
    mlp_proj = register_module("mlp_proj", torch::nn::Linear(4 * E, E));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& future) {
    const int64_t B = x.size(0), L = x.size(1), E = x.size(2);
    auto qkv = c_attn->forward(ln_1->forward(x)).split(E, 2);
    auto heads_of = [&](const torch::Tensor& t) { return t.view({B, L, heads, E / heads}).transpose(1, 2); };
    auto q = heads_of(qkv[0]), k = heads_of(qkv[1]), v = heads_of(qkv[2]);
    auto att = torch::matmul(q / std::sqrt(static_cast<double>(q.size(-1))), k.transpose(-2, -1));
    att = att.masked_fill(future, -INFINITY);
    auto y = torch::matmul(torch::softmax(att, -1), v).transpose(1, 2).reshape({B, L, E});
    auto h = x + attn_proj->forward(y);
    return h + mlp_proj->forward(torch::gelu(c_fc->forward(ln_2->forward(h))));
  }
  int64_t heads;
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  torch::nn::Linear c_attn{nullptr}, attn_proj{nullptr}, c_fc{nullptr}, mlp_proj{nullptr};
};

struct GPT : torch::nn::Module {
  GPT(int64_t V, int64_t L, int64_t E, int64_t H, int64_t layers) {
    wte = register_module("wte", torch::nn::Embedding(V, E));
    wpe = register_module("wpe", torch::nn::Embedding(L, E));
    for (int64_t i = 0; i < layers; ++i) blocks.push_back(register_module("h" + std::to_string(i), std::make_shared<GPTBlock>(E, H)));
    ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({E})));
  }
  torch::Tensor forward(const torch::Tensor& idx) {
    const int64_t L = idx.size(1);
    auto future = ~torch::ones({L, L}, torch::kBool).tril();
    auto x = wte->forward(idx) + wpe->forward(torch::arange(L));
    for (auto& block : blocks) x = block->forward(x, future);
    return torch::nn::functional::linear(ln_f->forward(x), wte->weight);
  }
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  std::vector<std::shared_ptr<GPTBlock>> blocks;
  torch::nn::LayerNorm ln_f{nullptr};
};

void BM_char_gpt_step(benchmark::State& state) {
  torch::manual_seed(1337);
  const int64_t V = 72, L = 64, E = 128, H = 4, layers = 4, B = 16;
  auto model = std::make_shared<GPT>(V, L, E, H, layers);
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).betas({0.9, 0.99}).weight_decay(0.1)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).betas({0.9, 0.99}).weight_decay(0.0)));
  torch::optim::AdamW optimizer(std::move(groups), torch::optim::AdamWOptions(1e-3));
  const auto x = torch::randint(V, {B, L}), y = torch::randint(V, {B, L});
  int64_t iteration = 0;
  auto step = [&] {
    auto logits = model->forward(x);
    auto loss = torch::nn::functional::cross_entropy(logits.view({-1, V}), y.view({-1}));
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    // CosineAnnealingLR's closed form, as the tapegrad side's schedule sets it.
    const double lr = 1e-4 + (1e-3 - 1e-4) * (1 + std::cos(M_PI * static_cast<double>(++iteration) / 1e6)) / 2;
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
    return loss;
  };
  for (int i = 0; i < 3; ++i) step();
  for (auto _ : state) benchmark::DoNotOptimize(step().data_ptr());
  const double linear_params = layers * 12.0 * E * E + V * E, attention = layers * 2.0 * B * L * L * E;
  state.counters["GFLOP/s"] = benchmark::Counter((6.0 * B * L * linear_params + 6.0 * attention) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_char_gpt_step)->Unit(benchmark::kMillisecond);
void BM_char_gpt_step_2threads(benchmark::State& state) {
  ThreadCount count(2);
  BM_char_gpt_step(state);
}
BENCHMARK(BM_char_gpt_step_2threads)->Unit(benchmark::kMillisecond);

// attention at context 256: as bench_tapegrad.cpp's, nanoGPT's causal attention in libtorch.
void BM_attention256(benchmark::State& state) {
  torch::manual_seed(0);
  const int64_t B = 16, H = 4, L = 256, D = 32;
  auto q = torch::randn({B, H, L, D}).requires_grad_(), k = torch::randn({B, H, L, D}).requires_grad_(),
       v = torch::randn({B, H, L, D}).requires_grad_();
  const auto future = ~torch::ones({L, L}, torch::kBool).tril();
  auto step = [&] {
    for (auto* t : {&q, &k, &v}) t->mutable_grad() = torch::Tensor();
    auto att = torch::matmul(q / std::sqrt(static_cast<double>(D)), k.transpose(-2, -1)).masked_fill(future, -INFINITY);
    auto out = torch::matmul(torch::softmax(att, -1), v);
    out.sum().backward();
    return out;
  };
  for (int i = 0; i < 2; ++i) step();
  for (auto _ : state) benchmark::DoNotOptimize(step().data_ptr());
  state.counters["GFLOP/s"] = benchmark::Counter(6.0 * 2.0 * B * H * L * L * D / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_attention256)->Unit(benchmark::kMillisecond);

}  // namespace


int main(int argc, char** argv) {
  torch::set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
