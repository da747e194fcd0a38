// Intra-op threads (core/parallel.hpp): parallel_for's chunks, and the promise that results
// are the same bits for every thread count: the GEMM at every shape that splits, an MLP and
// the digits CNN trained with 1, 2 and 3 threads, every parameter compared bitwise.
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
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

TEST_CASE("set_num_threads sets the count get_num_threads reports, below 1 throws and changes nothing") {
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

TEST_CASE("parallel_for covers 0 .. n-1 once, in chunks on multiples of the grain, on several threads") {
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

TEST_CASE("parallel_for rethrows a chunk's exception after every chunk is done, and nested loops run inline") {
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
// fixed random output gradient.
template <class T>
struct OpRun {
  const char* name;
  std::function<std::vector<tg::Tensor<T>>()> run;
};

// x's values from the seed, requiring grad.
template <class T>
tg::Tensor<T> leaf(const tg::Shape& shape) {
  return tg::randn<T>(shape).requires_grad_();
}

// The parallel loops the last forward_backward ran (its op's forward and backward only).
uint64_t op_loops = 0;

// y = forward() and the backward of a random output gradient; y and the inputs' gradients.
template <class T, class F>
std::vector<tg::Tensor<T>> forward_backward(F forward, const std::vector<tg::Tensor<T>>& inputs) {
  const uint64_t before = loops_run();
  const tg::Tensor<T> y = forward();
  op_loops = loops_run() - before;
  const auto w = tg::randn<T>(y.shape());
  const uint64_t before_backward = loops_run();
  y.backward(w);
  op_loops += loops_run() - before_backward;
  std::vector<tg::Tensor<T>> out{y.detach()};
  for (const auto& x : inputs) out.push_back(x.grad());
  return out;
}

template <class T>
std::vector<tg::Tensor<T>> with_parameter_grads(std::vector<tg::Tensor<T>> out, const nn::Module<T>& m) {
  for (const auto& p : m.parameters()) out.push_back(p.grad());
  return out;
}

// The ops, at sizes whose chunks start on packet multiples and at odd sizes whose chunks start
// mid-packet (7, 10007, ...).
template <class T>
std::vector<OpRun<T>> splitting_ops() {
  using L = std::vector<tg::Tensor<T>>;
  return {
      {"layer_norm", [] {
         auto x = leaf<T>({512, 128});
         nn::LayerNorm<T> ln(128);
         return with_parameter_grads(forward_backward<T>([&] { return ln(x); }, {x}), ln);
       }},
      {"layer_norm, odd sizes", [] {
         auto x = leaf<T>({7, 10007});
         nn::LayerNorm<T> ln(10007);
         return with_parameter_grads(forward_backward<T>([&] { return ln(x); }, {x}), ln);
       }},
      {"batch_norm1d", [] {
         auto x = leaf<T>({4096, 64});
         nn::BatchNorm1d<T> bn(64);
         L out = with_parameter_grads(forward_backward<T>([&] { return bn(x); }, {x}), bn);
         out.push_back(bn.buffers()[0].clone());
         return out;
       }},
      {"batch_norm1d, odd sizes", [] {
         auto x = leaf<T>({10007, 5});
         nn::BatchNorm1d<T> bn(5);
         return with_parameter_grads(forward_backward<T>([&] { return bn(x); }, {x}), bn);
       }},
      {"batch_norm2d", [] {
         auto x = leaf<T>({16, 32, 14, 13});
         nn::BatchNorm2d<T> bn(32);
         return with_parameter_grads(forward_backward<T>([&] { return bn(x); }, {x}), bn);
       }},
      {"max_pool2d", [] {
         auto x = leaf<T>({16, 32, 28, 28});
         return forward_backward<T>([&] { return nn::MaxPool2d<T>(2)(x); }, {x});
       }},
      {"max_pool2d 3x3 stride 2 padding 1", [] {
         auto x = leaf<T>({16, 31, 27, 29});
         return forward_backward<T>([&] { return nn::MaxPool2d<T>(3, 2, 1)(x); }, {x});
       }},
      {"avg_pool2d", [] {
         auto x = leaf<T>({16, 32, 28, 28});
         return forward_backward<T>([&] { return nn::AvgPool2d<T>(3, 2, 1)(x); }, {x});
       }},
      {"conv2d direct", [] {
         auto x = leaf<T>({8, 16, 28, 28});
         nn::Conv2d<T> conv(16, 32, 3, 1, 1);
         return with_parameter_grads(forward_backward<T>([&] { return conv(x); }, {x}), conv);
       }},
      {"conv2d lowered (stride 2)", [] {
         auto x = leaf<T>({8, 16, 28, 28});
         nn::Conv2d<T> conv(16, 32, 3, 2, 1);
         return with_parameter_grads(forward_backward<T>([&] { return conv(x); }, {x}), conv);
       }},
      {"sum over dims 0 and 1, var over dims 0 and 1, mean", [] {
         auto x = leaf<T>({333, 4099});
         return forward_backward<T>([&] {
           return tg::cat({tg::sum(x, 0), tg::sum(x, 1), tg::var(x, 1), tg::var(x, 0), tg::mean(x, 0)});
         }, {x});
       }},
      {"softmax and log_softmax", [] {
         auto x = leaf<T>({1024, 64});
         return forward_backward<T>([&] { return tg::softmax(x, 1) + tg::log_softmax(x, 0); }, {x});
       }},
      {"softmax, odd sizes", [] {
         auto x = leaf<T>({5, 40001});
         return forward_backward<T>([&] { return tg::softmax(x, 1); }, {x});
       }},
      {"broadcast arithmetic, where, permute, transpose", [] {
         auto x = leaf<T>({64, 33, 47});
         auto row = leaf<T>({47});
         auto column = leaf<T>({64, 1, 1});
         auto mask = (tg::randn<T>({64, 1, 47}) > T(0));
         return forward_backward<T>([&] {
           return tg::where(mask, x * row, x + column).permute({2, 0, 1}).transpose(0, 2).exp();
         }, {x, row, column});
       }},
      {"batched matmul (heads)", [] {
         auto a = leaf<T>({64, 64, 32});
         auto b = leaf<T>({64, 32, 64});
         return forward_backward<T>([&] { return tg::matmul(a, b); }, {a, b});
       }},
      {"linear, and the few-rows product", [] {
         auto x = leaf<T>({512, 300});
         auto few = leaf<T>({3, 300});
         nn::Linear<T> fc(300, 4001);
         return with_parameter_grads(forward_backward<T>([&] { return tg::cat({fc(x), fc(few)}); }, {x, few}), fc);
       }},
  };
}

}  // namespace

TEMPLATE_TEST_CASE("each op that splits gives the same bits for 1, 2 and 3 threads, and does split its forward or backward",
                   "", float, double) {
  using T = TestType;
  for (const auto& op : splitting_ops<T>()) {
    INFO(op.name);
    auto run = [&](int threads) {
      ThreadCount count(threads);
      tg::manual_seed(9);
      std::vector<T> out;
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

TEST_CASE("SGD with momentum, nesterov and weight decay, AdamW and Adam with amsgrad: the same bits for 1, 2 and 3 threads") {
  auto train = [](int threads, int which) {
    ThreadCount count(threads);
    tg::manual_seed(5);
    nn::Linear<float> fc(700, 300);
    std::unique_ptr<tg::optim::Optimizer<float>> optimizer;
    if (which == 0) {
      optimizer = std::make_unique<tg::optim::SGD<float>>(
          fc.parameters(), tg::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-2));
    } else if (which == 1) {
      optimizer = std::make_unique<tg::optim::AdamW<float>>(fc.parameters(), tg::optim::AdamWOptions(1e-3).weight_decay(0.1));
    } else {
      optimizer = std::make_unique<tg::optim::Adam<float>>(fc.parameters(), tg::optim::AdamOptions(1e-3).amsgrad(true));
    }
    const auto x = tg::randn<float>({64, 700});
    for (int step = 0; step < 3; ++step) {
      auto loss = fc(x).square().mean();
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
    }
    return values(fc.parameters());
  };
  for (int which = 0; which < 3; ++which) {
    INFO("optimizer " << which);
    const auto one = train(1, which);
    CHECK(same_bits(one, train(2, which)));
    CHECK(same_bits(one, train(3, which)));
  }
}

TEST_CASE("empty tensors take every split op's path without dividing by zero") {
  ThreadCount count(2);
  const auto wide = tg::zeros<float>({3, 0});
  CHECK(tg::sum(wide, 0).shape() == tg::Shape{0});
  CHECK(tg::sum(wide, 1).to_vector() == std::vector<float>{0, 0, 0});
  CHECK(tg::mean(tg::zeros<float>({0, 5}), 0).shape() == tg::Shape{5});
  CHECK(tg::var(wide, 0).shape() == tg::Shape{0});
  CHECK(tg::softmax(tg::zeros<float>({0, 4}), 1).shape() == tg::Shape{0, 4});
  CHECK(tg::matmul(tg::zeros<float>({0, 4}), tg::zeros<float>({4, 5})).shape() == tg::Shape{0, 5});
  CHECK((tg::zeros<float>({0, 4}) + tg::zeros<float>({4})).shape() == tg::Shape{0, 4});
}

TEST_CASE("set_num_threads inside a parallel loop throws instead of waiting for itself, and part 0 may throw too") {
  ThreadCount count(2);
  std::atomic<int> refused{0};
  tg::detail::parallel_for(2, 1, [&](int64_t, int64_t) {
    try {
      tg::set_num_threads(3);
    } catch (const tg::Error& e) {
      if (std::string(e.what()).find("inside a parallel loop") != std::string::npos) refused.fetch_add(1);
    }
  });
  CHECK(refused == 2);
  CHECK(tg::get_num_threads() == 2);
  std::atomic<int> others{0};
  CHECK_THROWS_AS(tg::detail::parallel_for(2, 1,
                                           [&](int64_t begin, int64_t) {
                                             if (begin == 0) throw std::runtime_error("part 0");
                                             others.fetch_add(1);
                                           }),
                  std::runtime_error);
  CHECK(others == 1);
}
