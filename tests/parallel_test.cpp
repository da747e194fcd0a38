// Intra-op threads (core/parallel.hpp): parallel_for's chunks, and the promise that results
// are the same bits for every thread count: the GEMM at every shape that splits, an MLP and
// the digits CNN trained with 1, 2 and 3 threads, every parameter compared bitwise.
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/helpers.hpp"
#if defined(TAPEGRAD_WITH_ZLIB)
#include "../examples/common/digits.hpp"
#endif

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

namespace {

// Restores the thread count a test changed.
struct ThreadCount {
  explicit ThreadCount(int n) : saved(tg::get_num_threads()) { tg::set_num_threads(n); }
  ~ThreadCount() { tg::set_num_threads(saved); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;
  int saved;
};

uint64_t loops_run() { return tg::detail::ThreadPool::instance().loops_run(); }

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
std::vector<T> values(const std::vector<tg::Tensor<T>>& tensors) {
  std::vector<T> out;
  for (const auto& t : tensors) out.insert(out.end(), t.data(), t.data() + t.numel());
  return out;
}

}  // namespace

TEST_CASE("set_num_threads sets the count get_num_threads reports; below 1 throws and changes nothing") {
  ThreadCount restore(tg::get_num_threads());
  CHECK(tg::get_num_threads() >= 1);
  tg::set_num_threads(3);
  CHECK(tg::get_num_threads() == 3);
  tg::set_num_threads(1);
  CHECK(tg::get_num_threads() == 1);
  CHECK_THROWS_AS(tg::set_num_threads(0), tg::Error);
  CHECK(tapegrad_test::error_of([] { tg::set_num_threads(0); }) ==
        "set_num_threads: the number of threads must be at least 1, got 0");
  CHECK(tapegrad_test::error_of([] { tg::set_num_threads(-2); }) ==
        "set_num_threads: the number of threads must be at least 1, got -2");
  CHECK(tg::get_num_threads() == 1);
}

TEST_CASE("the default thread count reads TAPEGRAD_NUM_THREADS, then OMP_NUM_THREADS, then the cores") {
  ::unsetenv("TAPEGRAD_NUM_THREADS");
  ::unsetenv("OMP_NUM_THREADS");
  const int cores = tg::detail::default_num_threads();
  CHECK(cores >= 1);
  ::setenv("OMP_NUM_THREADS", "5", 1);
  CHECK(tg::detail::default_num_threads() == 5);
  ::setenv("TAPEGRAD_NUM_THREADS", "7", 1);
  CHECK(tg::detail::default_num_threads() == 7);
  ::setenv("TAPEGRAD_NUM_THREADS", "two", 1);  // not a number: the next source
  CHECK(tg::detail::default_num_threads() == 5);
  ::setenv("OMP_NUM_THREADS", "0", 1);
  CHECK(tg::detail::default_num_threads() == cores);
  ::unsetenv("TAPEGRAD_NUM_THREADS");
  ::unsetenv("OMP_NUM_THREADS");
}

TEST_CASE("parallel_for covers [0, n) once, in chunks on multiples of the grain, on several threads") {
  for (int threads : {1, 2, 3, 5}) {
    ThreadCount count(threads);
    for (int64_t n : {1, 7, 64, 65, 1000, 4097}) {
      for (int64_t grain : {1, 16, 64, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> calls{0}, misaligned{0};
        const uint64_t before = loops_run();
        tg::detail::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
          calls.fetch_add(1);
          if (begin % grain != 0 || (end != n && end % grain != 0) || begin >= end) misaligned.fetch_add(1);
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
        int wrong = 0;
        for (auto& h : hits) wrong += h.load() != 1;
        INFO("threads " << threads << ", n " << n << ", grain " << grain);
        CHECK(wrong == 0);
        CHECK(misaligned == 0);
        const int64_t chunks = (n + grain - 1) / grain;
        const int64_t expected_parts = std::min<int64_t>(chunks, threads);
        CHECK(calls == expected_parts);
        CHECK(loops_run() - before == (expected_parts > 1 ? 1u : 0u));
      }
    }
  }
}

TEST_CASE("parallel_for rethrows a chunk's exception after every chunk is done; nested loops run inline") {
  ThreadCount count(3);
  std::atomic<int> finished{0};
  CHECK_THROWS_AS(tg::detail::parallel_for(300, 100,
                                           [&](int64_t begin, int64_t) {
                                             if (begin == 100) throw std::runtime_error("chunk 1");
                                             finished.fetch_add(1);
                                           }),
                  std::runtime_error);
  CHECK(finished == 2);
  // The pool is usable again, and a loop inside a chunk runs on that chunk's thread.
  std::atomic<int> inner_calls{0};
  std::vector<int> sums(3, 0);
  tg::detail::parallel_for(3, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      tg::detail::parallel_for(1000, 10, [&](int64_t b, int64_t e) {
        inner_calls.fetch_add(1);
        for (int64_t j = b; j < e; ++j) sums[static_cast<size_t>(i)] += 1;
      });
    }
  });
  CHECK(inner_calls == 3);
  CHECK(sums == std::vector<int>{1000, 1000, 1000});
}

TEST_CASE("threads that each run ops while the pool is busy get the same values") {
  ThreadCount count(2);
  tg::manual_seed(3);
  const auto a = tg::randn<float>({200, 300}), b = tg::randn<float>({300, 260});
  const auto expected = tg::matmul(a, b).exp();
  std::vector<std::vector<float>> results(3);
  std::vector<std::thread> threads;
  for (auto& r : results) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto c = tg::matmul(a, b).exp();
        r.assign(c.data(), c.data() + c.numel());
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::vector<float> want(expected.data(), expected.data() + expected.numel());
  for (const auto& r : results) CHECK(same_bits(r, want));
}

TEMPLATE_TEST_CASE("the matrix product is the same bits for 1, 2, 3 and 4 threads", "", float, double) {
  using T = TestType;
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  // Shapes on both sides of the split's choice (columns when C is wide, else rows) and of the
  // tiles, each operand order, = and +=.
  const std::vector<std::array<int64_t, 3>> shapes = {
      {256, 512, 784}, {784, 512, 256}, {256, 10, 512}, {1000, 37, 300}, {3, 2000, 200},
      {97, 301, 129},  {2, 700, 400},   {700, 3, 400},  {64, 1024, 64}};
  const uint64_t before = loops_run();
  int compared = 0;
  for (const auto& [m, n, k] : shapes) {
    for (int form = 0; form < 8; ++form) {
      const bool ta = form & 1, tb = form & 2, acc = form & 4;
      std::vector<T> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n)), c0(static_cast<size_t>(m * n));
      for (auto* v : {&a, &b, &c0}) {
        for (T& x : *v) x = static_cast<T>(u(rng));
      }
      std::vector<T> reference;
      for (int threads : {1, 2, 3, 4}) {
        ThreadCount count(threads);
        std::vector<T> c = c0;
        tg::detail::gemm(a.data(), ta, b.data(), tb, c.data(), m, n, k, acc);
        if (threads == 1) {
          reference = c;
        } else {
          INFO(m << " x " << n << " x " << k << ", form " << form << ", threads " << threads);
          CHECK(same_bits(c, reference));
          ++compared;
        }
      }
    }
  }
  CHECK(compared == 3 * 8 * static_cast<int>(shapes.size()));
  CHECK(loops_run() - before >= 3 * 8 * 8);  // all but the smallest shapes split
}

namespace {

// An MLP on 784 features, batch 256 (the benchmark's shape, smaller), Adam: its GEMMs, ReLU,
// bias, cross-entropy and the optimizer's update all cross the thresholds where work splits.
template <class T>
std::vector<T> train_mlp(int threads, int steps) {
  ThreadCount count(threads);
  tg::manual_seed(42);
  nn::Sequential<T> model(nn::Linear<T>(784, 256), nn::ReLU<T>(), nn::Linear<T>(256, 128), nn::ReLU<T>(),
                          nn::Linear<T>(128, 10));
  tg::optim::Adam<T> optimizer(model.parameters(), 1e-3);
  nn::CrossEntropyLoss<T> loss_fn;
  const auto x = tg::randn<T>({256, 784});
  const auto y = tg::randint<T>(0, 10, {256});
  std::vector<T> trace;
  for (int step = 0; step < steps; ++step) {
    auto loss = loss_fn(model(x), y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    trace.push_back(loss.item());
  }
  std::vector<T> state = values(model.parameters());
  state.insert(state.end(), trace.begin(), trace.end());
  return state;
}

// The digits CNN of examples/digits_cnn.cpp, on the digits themselves where zlib reads them.
std::vector<float> train_digits_cnn(int threads, int steps) {
  ThreadCount count(threads);
  tg::manual_seed(0);
#if defined(TAPEGRAD_WITH_ZLIB)
  const auto digits = examples::load_digits<float>(std::string(TAPEGRAD_EXAMPLES_DATA_DIR) + "/digits.csv.gz");
  const auto images = digits.images.narrow(0, 0, 512), targets = digits.targets.narrow(0, 0, 512);
#else
  const auto images = tg::rand<float>({512, 1, 8, 8});
  const auto targets = tg::randint<float>(0, 10, {512});
#endif
  nn::Sequential<float> model(nn::Conv2d(1, 16, 3, 1, 1), nn::ReLU(), nn::MaxPool2d(2), nn::Conv2d(16, 32, 3, 1, 1),
                              nn::ReLU(), nn::Flatten(), nn::Linear(32 * 4 * 4, 10));
  tg::optim::Adam<float> optimizer(model.parameters(), 2e-3);
  nn::CrossEntropyLoss<float> loss_fn;
  std::vector<float> trace;
  for (int step = 0; step < steps; ++step) {
    const auto x = images.narrow(0, (step % 2) * 256, 256), y = targets.narrow(0, (step % 2) * 256, 256);
    auto loss = loss_fn(model(x), y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    trace.push_back(loss.item());
  }
  std::vector<float> state = values(model.parameters());
  state.insert(state.end(), trace.begin(), trace.end());
  return state;
}

}  // namespace

TEMPLATE_TEST_CASE("an MLP trained with 1, 2 and 3 threads ends with the same bits", "", float, double) {
  using T = TestType;
  const auto one = train_mlp<T>(1, 4);
  const uint64_t before = loops_run();
  const auto two = train_mlp<T>(2, 4);
  CHECK(loops_run() - before > 4 * 10);  // the step's work did split
  const auto three = train_mlp<T>(3, 4);
  CHECK(same_bits(one, two));
  CHECK(same_bits(one, three));
  CHECK(one.back() < one[one.size() - 4]);  // and it trains: the loss fell
}

TEST_CASE("the digits CNN trained with 1, 2 and 3 threads ends with the same bits") {
  const auto one = train_digits_cnn(1, 4);
  const uint64_t before = loops_run();
  const auto two = train_digits_cnn(2, 4);
  CHECK(loops_run() - before > 4 * 4);
  const auto three = train_digits_cnn(3, 4);
  CHECK(same_bits(one, two));
  CHECK(same_bits(one, three));
  CHECK(one.back() < one[one.size() - 4]);
}

namespace {

// One op (or module) at a size where it splits: its output and its inputs' gradients for a
// fixed random output gradient, all as one vector of values.
struct OpRun {
  const char* name;
  std::function<std::vector<tg::Tensor<float>>()> run;
};

// x's values from the seed, requiring grad.
tg::Tensor<float> leaf(const tg::Shape& shape) { return tg::randn<float>(shape).requires_grad_(); }

// The parallel loops the last forward_backward ran (its op's forward and backward only).
uint64_t op_loops = 0;

// y = forward() and the backward of a random output gradient; y and the inputs' gradients.
template <class F>
std::vector<tg::Tensor<float>> forward_backward(F forward, const std::vector<tg::Tensor<float>>& inputs) {
  const uint64_t before = loops_run();
  const tg::Tensor<float> y = forward();
  op_loops = loops_run() - before;
  const auto w = tg::randn<float>(y.shape());
  const uint64_t before_backward = loops_run();
  y.backward(w);
  op_loops += loops_run() - before_backward;
  std::vector<tg::Tensor<float>> out{y.detach()};
  for (const auto& x : inputs) out.push_back(x.grad());
  return out;
}

std::vector<OpRun> splitting_ops() {
  return {
      {"layer_norm", [] {
         auto x = leaf({512, 128});
         nn::LayerNorm<float> ln(128);
         auto out = forward_backward([&] { return ln(x); }, {x});
         for (const auto& p : ln.parameters()) out.push_back(p.grad());
         return out;
       }},
      {"batch_norm1d", [] {
         auto x = leaf({4096, 64});
         nn::BatchNorm1d<float> bn(64);
         auto out = forward_backward([&] { return bn(x); }, {x});
         for (const auto& p : bn.parameters()) out.push_back(p.grad());
         out.push_back(bn.buffers()[0].clone());
         return out;
       }},
      {"batch_norm2d", [] {
         auto x = leaf({16, 32, 14, 14});
         nn::BatchNorm2d<float> bn(32);
         auto out = forward_backward([&] { return bn(x); }, {x});
         for (const auto& p : bn.parameters()) out.push_back(p.grad());
         return out;
       }},
      {"max_pool2d", [] {
         auto x = leaf({16, 32, 28, 28});
         return forward_backward([&] { return nn::MaxPool2d(2)(x); }, {x});
       }},
      {"max_pool2d 3x3 stride 2 padding 1", [] {
         auto x = leaf({16, 32, 28, 28});
         return forward_backward([&] { return nn::MaxPool2d(3, 2, 1)(x); }, {x});
       }},
      {"avg_pool2d", [] {
         auto x = leaf({16, 32, 28, 28});
         return forward_backward([&] { return nn::AvgPool2d(3, 2, 1)(x); }, {x});
       }},
      {"conv2d direct", [] {
         auto x = leaf({8, 16, 28, 28});
         nn::Conv2d conv(16, 32, 3, 1, 1);
         auto out = forward_backward([&] { return conv(x); }, {x});
         for (const auto& p : conv.parameters()) out.push_back(p.grad());
         return out;
       }},
      {"conv2d lowered (stride 2)", [] {
         auto x = leaf({8, 16, 28, 28});
         nn::Conv2d conv(16, 32, 3, 2, 1);
         auto out = forward_backward([&] { return conv(x); }, {x});
         for (const auto& p : conv.parameters()) out.push_back(p.grad());
         return out;
       }},
      {"sum over dims 0 and 1, var over dim 1", [] {
         auto x = leaf({300, 400});
         return forward_backward([&] { return tg::cat({tg::sum(x, 0), tg::sum(x, 1), tg::var(x, 1)}); }, {x});
       }},
      {"softmax and log_softmax", [] {
         auto x = leaf({1024, 64});
         return forward_backward([&] { return tg::softmax(x, 1) + tg::log_softmax(x, 0); }, {x});
       }},
      {"broadcast arithmetic, where, permute", [] {
         auto x = leaf({64, 32, 48});
         auto row = leaf({48});
         auto column = leaf({64, 1, 1});
         auto mask = (tg::randn<float>({64, 32, 48}) > 0.0f);
         return forward_backward([&] { return tg::where(mask, x * row, x + column).permute({2, 0, 1}); }, {x, row, column});
       }},
      {"batched matmul (heads)", [] {
         auto a = leaf({64, 64, 32});
         auto b = leaf({64, 32, 64});
         return forward_backward([&] { return tg::matmul(a, b); }, {a, b});
       }},
      {"linear", [] {
         auto x = leaf({512, 300});
         nn::Linear<float> fc(300, 200);
         auto out = forward_backward([&] { return fc(x); }, {x});
         for (const auto& p : fc.parameters()) out.push_back(p.grad());
         return out;
       }},
  };
}

}  // namespace

TEST_CASE("each op that splits gives the same bits for 1, 2 and 3 threads, and does split its forward or backward") {
  for (const auto& op : splitting_ops()) {
    INFO(op.name);
    auto run = [&](int threads) {
      ThreadCount count(threads);
      tg::manual_seed(9);
      std::vector<float> out;
      for (const auto& t : op.run()) {
        REQUIRE(t.defined());
        out.insert(out.end(), t.data(), t.data() + t.numel());
      }
      return out;
    };
    const auto one = run(1);
    CHECK(op_loops == 0);
    const auto two = run(2);
    CHECK(op_loops > 0);  // the op itself split, not only what surrounds it
    const auto three = run(3);
    CHECK(!one.empty());
    CHECK(same_bits(one, two));
    CHECK(same_bits(one, three));
  }
}
