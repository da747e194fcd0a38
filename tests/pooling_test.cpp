// 2-d pooling (max_pool2d, avg_pool2d, adaptive_avg_pool2d and their layers) against PyTorch's
// goldens (tools/gen_pooling_golden.py -> tests/golden/pooling.txt) in float and double,
// gradcheck and gradgradcheck in double, the layers' defaults, and every error message.
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>

#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace F = tapegrad::nn::functional;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;

namespace {

template <class T>
using PoolFn = std::function<tg::Tensor<T>(const tg::Tensor<T>&)>;

// The C++ twin of tools/gen_pooling_golden.py's CASES: same names, same calls.
template <class T>
std::map<std::string, PoolFn<T>> pool_cases() {
  using X = const tg::Tensor<T>&;
  return {
      {"max_k2", [](X x) { return F::max_pool2d(x, 2); }},
      {"max_k3s2p1", [](X x) { return F::max_pool2d(x, 3, 2, 1); }},
      {"max_rect", [](X x) { return F::max_pool2d(x, {3, 2}, {2, 1}, {1, 0}, {1, 2}); }},
      {"max_ceil", [](X x) { return F::max_pool2d(x, 3, 2, 1, 1, true); }},
      {"max_ceil_last", [](X x) { return F::max_pool2d(x, 3, 3, 1, 1, true); }},
      {"max_dil", [](X x) { return F::max_pool2d(x, 3, 1, 1, 2); }},
      {"max_unbatched", [](X x) { return F::max_pool2d(x, 2, 1); }},
      {"max_ties", [](X x) { return F::max_pool2d(x, 3, 1, 1); }},
      {"max_specials", [](X x) { return F::max_pool2d(x, 2, 1); }},
      {"max_empty_batch", [](X x) { return F::max_pool2d(x, 2); }},
      {"avg_k2", [](X x) { return F::avg_pool2d(x, 2); }},
      {"avg_k3s2p1", [](X x) { return F::avg_pool2d(x, 3, 2, 1); }},
      {"avg_k3s2p1_nopad", [](X x) { return F::avg_pool2d(x, 3, 2, 1, false, false); }},
      {"avg_ceil", [](X x) { return F::avg_pool2d(x, 3, 2, 1, true); }},
      {"avg_ceil_nopad", [](X x) { return F::avg_pool2d(x, 3, 2, 1, true, false); }},
      {"avg_ceil_last", [](X x) { return F::avg_pool2d(x, 3, 3, 1, true); }},
      {"avg_ceil_nopadding", [](X x) { return F::avg_pool2d(x, 4, 3, 0, true); }},
      {"avg_divisor", [](X x) { return F::avg_pool2d(x, 3, 2, 1, false, true, 5); }},
      {"avg_rect", [](X x) { return F::avg_pool2d(x, {3, 2}, {1, 2}, {1, 1}); }},
      {"avg_unbatched", [](X x) { return F::avg_pool2d(x, 2, 1); }},
      {"adaptive_3x4", [](X x) { return F::adaptive_avg_pool2d(x, {3, 4}); }},
      {"adaptive_same", [](X x) { return F::adaptive_avg_pool2d(x, 5); }},
      {"adaptive_1", [](X x) { return F::adaptive_avg_pool2d(x, 1); }},
      {"adaptive_unbatched", [](X x) { return F::adaptive_avg_pool2d(x, {4, 3}); }},
      {"adaptive_up", [](X x) { return F::adaptive_avg_pool2d(x, {5, 4}); }},
  };
}

// Pooling sums a handful of values in PyTorch's order: float to a few ulps, double to ~1e-15.
template <class T>
struct PoolTol {
  static constexpr double rtol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
  static constexpr double atol = std::is_same_v<T, float> ? 1e-7 : 1e-15;
};

template <class T>
void check_pool_goldens() {
  const Golden& g = golden_file("pooling.txt");
  const auto cases = pool_cases<T>();
  // every golden case has its twin here, and every twin its golden
  CHECK(golden_case_names(g, "." + dtype_tag<T>() + ".y", "-").size() == cases.size());
  for (const auto& entry : cases) {
    const std::string p = "pool." + entry.first + "." + dtype_tag<T>();
    INFO("case " << p);
    auto x = golden_tensor<T>(g, p + ".x").requires_grad_();
    auto y = entry.second(x);
    expect_golden(y, g, p + ".y", PoolTol<T>::rtol, PoolTol<T>::atol);
    y.backward(golden_tensor<T>(g, p + ".g"));
    if (x.numel() == 0) continue;  // an empty batch: no gradient values to compare
    expect_golden(x.grad(), g, p + ".gx", PoolTol<T>::rtol, PoolTol<T>::atol);
  }
}

// Values in random order at least 0.1 apart: each window has one max, and a finite-difference
// step never changes which.
Td distinct_leaf(const tg::Shape& s, uint64_t seed) {
  tg::manual_seed(seed);
  Td keys = tg::rand<double>(s);
  const int64_t n = keys.numel();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys.data()[a] < keys.data()[b]; });
  Td x = tg::empty<double>(s);
  for (int64_t j = 0; j < n; ++j) x.data()[order[static_cast<size_t>(j)]] = 0.1 * static_cast<double>(j) - 0.05 * static_cast<double>(n);
  return x.requires_grad_();
}

}  // namespace

TEST_CASE("golden: pooling forward and backward against PyTorch, double") { check_pool_goldens<double>(); }
TEST_CASE("golden: pooling forward and backward against PyTorch, float") { check_pool_goldens<float>(); }

TEST_CASE("gradcheck: max_pool2d with padding, stride, dilation and ceil_mode") {
  using In = std::vector<Td>;
  require_gradcheck([](const In& x) { return F::max_pool2d(x[0], 3, 2, 1, 1, true); }, {distinct_leaf({2, 2, 7, 6}, 31)});
  require_gradcheck([](const In& x) { return F::max_pool2d(x[0], {3, 2}, {2, 1}, {1, 0}, {1, 2}); }, {distinct_leaf({1, 2, 7, 9}, 32)});
  require_gradcheck([](const In& x) { return F::max_pool2d(x[0], 2, 1); }, {distinct_leaf({3, 5, 4}, 33)});
}

TEST_CASE("gradcheck: avg_pool2d and adaptive_avg_pool2d") {
  using In = std::vector<Td>;
  tg::manual_seed(34);
  const Td x = tg::randn<double>({2, 2, 7, 7}).requires_grad_();
  require_gradcheck([](const In& v) { return F::avg_pool2d(v[0], 3, 2, 1, true); }, {x});
  require_gradcheck([](const In& v) { return F::avg_pool2d(v[0], 3, 2, 1, true, false); }, {x});
  require_gradcheck([](const In& v) { return F::avg_pool2d(v[0], {3, 2}, {1, 2}, {1, 1}, false, true, 4); }, {x});
  require_gradcheck([](const In& v) { return F::adaptive_avg_pool2d(v[0], {3, 4}); }, {x});
  require_gradcheck([](const In& v) { return F::adaptive_avg_pool2d(v[0], {9, 8}); }, {x});
}

TEST_CASE("max_pool2d: ties pick the first index of the window, a NaN the last NaN") {
  // one window of four equal values: the gradient goes to the first
  Td x = leaf<double>({1, 1, 1, 1}, {1, 1, 2, 2});
  F::max_pool2d(x, 2).sum().backward();
  check_close(x.grad(), {1, 0, 0, 0}, {1, 1, 2, 2}, 0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Td z = leaf<double>({nan, 5, nan, 1}, {1, 2, 2});
  Td y = F::max_pool2d(z, 2);
  CHECK(std::isnan(y.data()[0]));
  y.sum().backward();
  check_close(z.grad(), {0, 0, 1, 0}, {1, 2, 2}, 0);
}

TEST_CASE("pooling layers: defaults, braced sizes and deduced float") {
  tg::nn::MaxPool2d pool(2);
  static_assert(std::is_same_v<decltype(pool), tg::nn::MaxPool2d<float>>);
  CHECK(pool.stride == tg::ExpandingArray<2>(2));
  CHECK(pool.padding == tg::ExpandingArray<2>(0));
  CHECK(pool.dilation == tg::ExpandingArray<2>(1));
  tg::nn::MaxPool2d rect({3, 2});
  static_assert(std::is_same_v<decltype(rect), tg::nn::MaxPool2d<float>>);
  CHECK(rect.stride == tg::ExpandingArray<2>({3, 2}));
  tg::nn::AvgPool2d avg(3, 1, 1);
  tg::nn::AvgPool2d avg_rect({3, 2});
  static_assert(std::is_same_v<decltype(avg_rect), tg::nn::AvgPool2d<float>>);
  static_assert(std::is_same_v<decltype(avg), tg::nn::AvgPool2d<float>>);
  CHECK(avg.count_include_pad);
  tg::nn::AdaptiveAvgPool2d adaptive({2, 3});
  static_assert(std::is_same_v<decltype(adaptive), tg::nn::AdaptiveAvgPool2d<float>>);

  tg::manual_seed(40);
  const auto x = tg::randn<float>({2, 3, 6, 7});
  check_close(pool(x), F::max_pool2d(x, 2, 2), 0);
  check_close(rect(x), F::max_pool2d(x, {3, 2}), 0);
  check_close(avg(x), F::avg_pool2d(x, 3, 1, 1), 0);
  CHECK(adaptive(x).sizes() == tg::Dims{2, 3, 2, 3});
  CHECK(tg::nn::MaxPool2d(3, {}, 1)(x).sizes() == tg::Dims{2, 3, 2, 3});  // {} stride: the kernel
}

TEST_CASE("pooling errors name the op, the shapes and the settings") {
  const auto x = tg::randn<float>({1, 2, 5, 5});
  CHECK_THROWS_WITH(F::max_pool2d(tg::randn<float>({5, 5}), 2),
                    "max_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape [5, 5]");
  CHECK_THROWS_WITH(F::avg_pool2d(tg::randn<float>({1, 0, 5, 5}), 2),
                    "avg_pool2d: expected an input with non-zero channel, height and width (the batch may be empty), got shape [1, 0, 5, 5]");
  CHECK_THROWS_WITH(F::max_pool2d(x, {0, 2}), "max_pool2d: kernel size should be greater than zero, but got kernel [0, 2]");
  CHECK_THROWS_WITH(F::max_pool2d(x, 2, {1, 0}), "max_pool2d: stride should be greater than zero, but got stride [1, 0]");
  CHECK_THROWS_WITH(F::max_pool2d(x, 2, 1, 0, 0), "max_pool2d: dilation should be greater than zero, but got dilation [0, 0]");
  CHECK_THROWS_WITH(F::avg_pool2d(x, 2, 1, -1), "avg_pool2d: padding should be non-negative, but got padding [-1, -1]");
  CHECK_THROWS_WITH(F::max_pool2d(x, 3, 1, 2, 2),
                    "max_pool2d: pad should be at most half of kernel size, but got padding [2, 2] for kernel [3, 3]");
  CHECK_THROWS_WITH(F::max_pool2d(x, 6),
                    "max_pool2d: input of shape [1, 2, 5, 5] is too small for kernel [6, 6] (stride [6, 6], padding [0, 0], "
                    "dilation [1, 1]): output size [0, 0]");
  CHECK_THROWS_WITH(F::max_pool2d(x, 3, 1, 0, 3),
                    "max_pool2d: input of shape [1, 2, 5, 5] is too small for kernel [3, 3] (stride [1, 1], padding [0, 0], "
                    "dilation [3, 3]): output size [-1, -1]");
  CHECK_THROWS_WITH(F::max_pool2d(x, 2, int64_t(1) << 31),
                    "max_pool2d: kernel [2, 2], stride [2147483648, 2147483648], padding [0, 0] and dilation [1, 1] must each be "
                    "below 2^31");
  CHECK_THROWS_WITH(F::avg_pool2d(x, 2, 1, 0, false, true, 0), "avg_pool2d: divisor_override must be non-zero, but got 0");
  CHECK_THROWS_WITH(F::adaptive_avg_pool2d(x, {2, -1}),
                    "adaptive_avg_pool2d: output_size must be non-negative and below 2^31, but got [2, -1] for input of shape [1, 2, 5, 5]");
  CHECK_THROWS_WITH(F::adaptive_avg_pool2d(x, {int64_t(1) << 31, 1}),
                    "adaptive_avg_pool2d: output_size must be non-negative and below 2^31, but got [2147483648, 1] for input of shape [1, 2, 5, 5]");
  CHECK(F::adaptive_avg_pool2d(x, {0, 3}).sizes() == tg::Dims{1, 2, 0, 3});  // an empty output, as PyTorch
  CHECK_THROWS_WITH(F::adaptive_avg_pool2d(tg::randn<float>({5}), 1),
                    "adaptive_avg_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape [5]");
  CHECK_THROWS_WITH(F::max_pool2d(tg::Tensor<float>(), 2), "max_pool2d: expected a defined tensor, got an undefined one");
}

// ---- BatchNorm2d ---------------------------------------------------------------------------

namespace {

template <class T>
void assign(tg::Tensor<T>& target, const GoldenTensor& values) {
  REQUIRE(target.shape() == values.shape);
  for (size_t i = 0; i < values.values.size(); ++i) target.data()[i] = static_cast<T>(values.values[i]);
}

// As nn_test.cpp's BatchNorm1d goldens: two training calls (the first with backward), the
// running statistics, then one eval call with backward (tests/golden/pooling_batchnorm2d.txt).
template <class T>
void check_batchnorm2d(const std::string& name, double eps, double momentum) {
  const Golden& g = golden_file("pooling_batchnorm2d.txt");
  const std::string p = name + "." + dtype_tag<T>();
  INFO("case " << p);
  const double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-12, atol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
  const auto& w0 = golden_entry(g, p + ".weight");
  tg::nn::BatchNorm2d<T> bn(w0.shape[0], eps, momentum);
  assign(bn.weight, w0);
  assign(bn.bias, golden_entry(g, p + ".bias"));
  const auto check_call = [&](const std::string& k) {
    auto x = golden_tensor<T>(g, p + ".x" + k).requires_grad_();
    auto y = bn(x);
    y.backward(golden_tensor<T>(g, p + ".g" + k));
    expect_golden(y, g, p + ".y" + k, rtol, atol);
    expect_golden(x.grad(), g, p + ".gx" + k, rtol, atol);
    expect_golden(bn.weight.grad(), g, p + ".gw" + k, rtol, atol);
    expect_golden(bn.bias.grad(), g, p + ".gb" + k, rtol, atol);
  };
  check_call("1");
  expect_golden(bn(golden_tensor<T>(g, p + ".x2")), g, p + ".y2", rtol, atol);
  expect_golden(bn.running_mean, g, p + ".running_mean", rtol, atol);
  expect_golden(bn.running_var, g, p + ".running_var", rtol, atol);
  expect_golden(bn.num_batches_tracked, g, p + ".num_batches_tracked", 0, 0);
  bn.eval();
  bn.zero_grad();
  check_call("e");
  expect_golden(bn.running_mean, g, p + ".running_mean", rtol, atol);
  expect_golden(bn.num_batches_tracked, g, p + ".num_batches_tracked", 0, 0);
}

}  // namespace

TEST_CASE("golden: BatchNorm2d on (N, C, H, W), training and eval, double") {
  check_batchnorm2d<double>("bn4d", 1e-5, 0.1);
  check_batchnorm2d<double>("bn4d_big", 1e-3, 0.25);
}
TEST_CASE("golden: BatchNorm2d on (N, C, H, W), training and eval, float") {
  check_batchnorm2d<float>("bn4d", 1e-5, 0.1);
  check_batchnorm2d<float>("bn4d_big", 1e-3, 0.25);
}

TEST_CASE("gradcheck: batch_norm on (N, C, H, W) and (N, C, D, H, W), training and eval") {
  using In = std::vector<Td>;
  tg::manual_seed(51);
  const Td x = tg::randn<double>({3, 2, 3, 4}).requires_grad_();
  const Td w = (tg::randn<double>({2}) + 1.5).detach().requires_grad_(), b = tg::randn<double>({2}).requires_grad_();
  const Td mean = tg::randn<double>({2}), var = tg::rand<double>({2}) + 0.5;
  for (bool training : {true, false}) {
    INFO("training " << training);
    tg::nn::functional::BatchNormOptions opt;
    opt.training = training;
    require_gradcheck([&](const In& v) { return F::batch_norm(v[0], mean.clone(), var.clone(), v[1], v[2], opt); }, {x, w, b});
    const Td x5 = tg::randn<double>({2, 2, 2, 3, 2}).requires_grad_();
    require_gradcheck([&](const In& v) { return F::batch_norm(v[0], mean.clone(), var.clone(), v[1], v[2], opt); }, {x5, w, b});
  }
}

TEST_CASE("BatchNorm2d: keys, integral counter, deduced float, and its errors") {
  tg::nn::BatchNorm2d bn(3);
  static_assert(std::is_same_v<decltype(bn), tg::nn::BatchNorm2d<float>>);
  std::vector<std::string> names;
  for (const auto& entry : bn.state_dict()) names.push_back(entry.first);
  CHECK(names == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(bn.integral_state_keys() == std::vector<std::string>{"num_batches_tracked"});
  const Watch watch(bn);
  check_refused([&] { return bn(tg::ones({2, 3, 4})); }, "BatchNorm2d: expected 4D input (got 3D input of shape [2, 3, 4])", watch);
  check_refused([&] { return bn(tg::ones({2, 4, 2, 2})); },
                "batch_norm: input shape [2, 4, 2, 2] has 4 channels but a parameter or running statistic has shape [3]", watch);
  check_refused([&] { return bn(tg::ones({1, 3, 1, 1})); },
                "batch_norm: expected more than 1 value per channel when training, got input of shape [1, 3, 1, 1]", watch);
  check_refused([] { return tg::nn::BatchNorm2d(0); }, "BatchNorm2d: num_features must be positive, got 0", watch);
  CHECK_THROWS_WITH(F::batch_norm(tg::ones({3}), tg::Tensor<float>(), tg::Tensor<float>(), tg::Tensor<float>(), tg::Tensor<float>(), {}),
                    "batch_norm: expected an input of at least 2 dims (N, C, *), got shape [3]");
  CHECK(bn(tg::randn({2, 3, 2, 2})).shape() == tg::Shape{2, 3, 2, 2});
  CHECK(bn(tg::randn({0, 3, 2, 2})).shape() == tg::Shape{0, 3, 2, 2});  // an empty batch passes
  CHECK(bn.num_batches_tracked.item() == 2.0f);
}

// ---- flatten ----------------------------------------------------------------------------------

TEST_CASE("flatten: torch.flatten's shapes, shared values, gradient reshaped back, errors") {
  tg::manual_seed(71);
  Td x = tg::randn<double>({2, 3, 4, 5}).requires_grad_();
  CHECK(x.flatten().sizes() == tg::Dims{120});
  CHECK(x.flatten(1).sizes() == tg::Dims{2, 60});
  CHECK(tg::flatten(x, 1, 2).sizes() == tg::Dims{2, 12, 5});
  CHECK(x.flatten(-2, -1).sizes() == tg::Dims{2, 3, 20});
  CHECK(x.flatten(2, 2).sizes() == tg::Dims{2, 3, 4, 5});
  CHECK(tg::scalar_tensor(3.0).flatten().sizes() == tg::Dims{1});  // 0-d becomes [1], as torch
  CHECK(tg::zeros<double>({0, 3, 2}).flatten(1).sizes() == tg::Dims{0, 6});
  Td y = x.flatten(1, 2);
  CHECK(y.data() == x.data());  // a view
  const Td w = tg::randn<double>({2, 12, 5});
  (y * w).sum().backward();
  check_close(x.grad(), w.reshape({2, 3, 4, 5}), 0);
  require_gradcheck([](const std::vector<Td>& v) { return tg::flatten(v[0], 0, 1) * tg::flatten(v[0], 0, 1); }, {tg::randn<double>({2, 3, 2}).requires_grad_()});

  tg::nn::Flatten flat;
  static_assert(std::is_same_v<decltype(flat), tg::nn::Flatten<float>>);
  CHECK(flat(tg::ones({4, 2, 3, 3})).sizes() == tg::Dims{4, 18});
  CHECK(tg::nn::Flatten(0, 1)(tg::ones({4, 2, 3})).sizes() == tg::Dims{8, 3});

  CHECK_THROWS_WITH(x.flatten(3, 1), "flatten: start_dim 3 comes after end_dim 1 for input of shape [2, 3, 4, 5]");
  CHECK_THROWS_WITH(x.flatten(4),
                    "flatten: dim 4 is out of range for a tensor of shape [2, 3, 4, 5] (expected a dim in [-4, 3])");
  CHECK_THROWS_WITH(tg::flatten(tg::Tensor<float>()), "flatten: expected a defined tensor, got an undefined one");
}

TEST_CASE("max_pool2d 2x2 stride 2 with ceil_mode on odd sizes clips the last windows (a reference loop)") {
  // The fixed 2x2 path must not take these: their last windows run past the input.
  tg::manual_seed(3);
  auto x = tg::randn<double>({2, 3, 5, 7}).requires_grad_();
  auto y = F::max_pool2d(x, 2, 2, 0, 1, /*ceil_mode=*/true);
  REQUIRE(y.shape() == tg::Shape{2, 3, 3, 4});
  std::vector<double> expected, expected_grad(static_cast<size_t>(x.numel()), 0.0);
  for (int64_t p = 0; p < 6; ++p) {
    for (int64_t oh = 0; oh < 3; ++oh) {
      for (int64_t ow = 0; ow < 4; ++ow) {
        int64_t best = -1;
        for (int64_t ih = 2 * oh; ih < std::min<int64_t>(2 * oh + 2, 5); ++ih) {
          for (int64_t iw = 2 * ow; iw < std::min<int64_t>(2 * ow + 2, 7); ++iw) {
            const int64_t at = p * 35 + ih * 7 + iw;
            if (best < 0 || x.data()[at] > x.data()[best]) best = at;
          }
        }
        expected.push_back(x.data()[best]);
        expected_grad[static_cast<size_t>(best)] += 1;
      }
    }
  }
  check_close(y, expected, y.shape(), 0.0, 0.0);
  y.sum().backward();
  check_close(x.grad(), expected_grad, x.shape(), 0.0, 0.0);
}
