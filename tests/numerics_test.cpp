// Edge numerics: saturation, overflow-safe softmax, the BCE log clamp, degenerate batches,
// NaN propagation and empty tensors, each as PyTorch 1.13 computes them.
#include <limits>

#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace F = tg::nn::functional;
using tapegrad_test::leaf;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <class T>
bool all_nan(const tg::Tensor<T>& t) {
  for (T v : t.to_vector()) {
    if (!std::isnan(v)) return false;
  }
  return true;
}

}  // namespace

TEMPLATE_TEST_CASE("sigmoid saturates to 1 at +400 with gradient exactly 0", "[numerics]", float, double) {
  auto x = leaf<TestType>({400, -400}, {2});
  auto y = tg::sigmoid(x);
  y.sum().backward();
  CHECK(y.data()[0] == TestType(1));
  CHECK(x.grad().data()[0] == TestType(0));
  // at -400 float underflows to exactly 0; double keeps 1 / (1 + e^400) = 1.9e-174, as PyTorch
  if constexpr (std::is_same_v<TestType, float>) {
    CHECK(y.data()[1] == 0.0f);
    CHECK(x.grad().data()[1] == 0.0f);
  } else {
    CHECK(y.data()[1] == 1.0 / (1.0 + std::exp(400.0)));
    CHECK(x.grad().data()[1] > 0.0);
  }
}

TEMPLATE_TEST_CASE("tanh saturates to +-1 with gradient exactly 0", "[numerics]", float, double) {
  auto x = leaf<TestType>({400, -400}, {2});
  auto y = tg::tanh(x);
  y.sum().backward();
  CHECK(y.to_vector() == std::vector<TestType>{1, -1});
  CHECK(x.grad().to_vector() == std::vector<TestType>{0, 0});
}

TEMPLATE_TEST_CASE("softmax and log_softmax do not overflow", "[numerics]", float, double) {
  auto x = leaf<TestType>({1000, 1000}, {2});
  auto s = tg::softmax(x, 0);
  CHECK(s.to_vector() == std::vector<TestType>{0.5, 0.5});
  auto l = tg::log_softmax(leaf<TestType>({1000, 0}, {2}), 0);
  CHECK(l.to_vector() == std::vector<TestType>{0, -1000});
  // -inf is a zero probability; a row of only -inf has no distribution (NaN, as PyTorch)
  auto m = tg::log_softmax(tg::tensor<TestType>({-TestType(kInf), 0}, {2}), 0);
  CHECK(m.to_vector() == std::vector<TestType>{-TestType(kInf), 0});
  CHECK(all_nan(tg::softmax(tg::full<TestType>({2}, -TestType(kInf)), 0)));
  // and their gradients stay finite at the extremes
  (s * tg::tensor<TestType>({1, 2}, {2})).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<TestType>{-0.25, 0.25});
}

TEMPLATE_TEST_CASE("BCE at p = 0 and p = 1 is finite: the -100 log clamp", "[numerics]", float, double) {
  auto p = leaf<TestType>({0, 1, 0, 1}, {4});
  auto y = tg::tensor<TestType>({1, 0, 0, 1}, {4});
  auto loss = F::binary_cross_entropy(p, y);
  loss.backward();
  CHECK(loss.item() == TestType(50));  // (100 + 100 + 0 + 0) / 4
  // PyTorch's backward divides by max(p (1 - p), 1e-12): (p - y) / 1e-12 / 4
  const auto g = p.grad().to_vector();
  CHECK(g[0] == Approx(-0.25e12).epsilon(1e-6));
  CHECK(g[1] == Approx(0.25e12).epsilon(1e-6));
  CHECK(g[2] == TestType(0));
  CHECK(g[3] == TestType(0));
  // the demo's hand-written BCE with + 1e-8 stays finite too
  auto q = leaf<TestType>({0, 1}, {2});
  auto t = tg::tensor<TestType>({1, 0}, {2});
  auto manual = -tg::mean(t * tg::log(q + 1e-8) + (1 - t) * tg::log(1 - q + 1e-8));
  manual.backward();
  CHECK(std::isfinite(manual.item()));
  for (TestType v : q.grad().to_vector()) CHECK(std::isfinite(v));
}

TEMPLATE_TEST_CASE("BatchNorm of a constant input returns beta", "[numerics]", float, double) {
  tg::nn::BatchNorm1d<TestType> bn(3);
  bn.weight.data()[0] = 2;
  bn.weight.data()[1] = -1;
  bn.bias.data()[0] = 0.5;
  bn.bias.data()[1] = -3;
  bn.bias.data()[2] = 7;
  auto x = tg::full<TestType>({4, 3}, 42).requires_grad_();
  auto y = bn(x);
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t c = 0; c < 3; ++c) CHECK(y.data()[n * 3 + c] == bn.bias.data()[c]);
  }
  (y * y).sum().backward();
  for (TestType v : x.grad().to_vector()) CHECK(std::isfinite(v));
  CHECK(bn.running_var.to_vector() == std::vector<TestType>(3, TestType(0.9)));  // the variance was 0
}

TEMPLATE_TEST_CASE("relu, abs and max at their kinks follow PyTorch's subgradients", "[numerics]", float, double) {
  auto x = leaf<TestType>({0, -0.0, 1}, {3});
  tg::relu(x).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<TestType>{0, 0, 1});  // relu'(0) = 0
  auto a = leaf<TestType>({0}, {1});
  tg::abs(a).sum().backward();
  CHECK(a.grad().item() == TestType(0));
  // a full max shares its gradient among ties; a max over a dim gives it to the first
  auto m = leaf<TestType>({3, 3, 1}, {1, 3});
  m.max().backward();
  CHECK(m.grad().to_vector() == std::vector<TestType>{0.5, 0.5, 0});
  auto d = leaf<TestType>({3, 3, 1}, {1, 3});
  d.max(1).sum().backward();
  CHECK(d.grad().to_vector() == std::vector<TestType>{1, 0, 0});
}

TEMPLATE_TEST_CASE("log, sqrt and pow(x, 0.5) at 0 give PyTorch's infinite slopes", "[numerics]", float, double) {
  auto x = leaf<TestType>({0}, {1});
  auto y = tg::log(x);
  y.backward(tg::ones<TestType>({1}));
  CHECK(y.item() == -TestType(kInf));
  CHECK(x.grad().item() == TestType(kInf));
  auto s = leaf<TestType>({0}, {1});
  tg::sqrt(s).sum().backward();
  CHECK(s.grad().item() == TestType(kInf));
  auto p = leaf<TestType>({0}, {1});
  tg::pow(p, 0.5).sum().backward();
  CHECK(p.grad().item() == TestType(kInf));
  auto q = leaf<TestType>({0}, {1});
  tg::pow(q, 2).sum().backward();
  CHECK(q.grad().item() == TestType(0));
}

TEMPLATE_TEST_CASE("NaN propagates through every op instead of being hidden", "[numerics]", float, double) {
  const TestType nan = std::numeric_limits<TestType>::quiet_NaN();
  auto x = leaf<TestType>({1, nan, 2}, {3});
  CHECK(std::isnan(x.sum().item()));
  CHECK(std::isnan(x.mean().item()));
  CHECK(std::isnan(x.max().item()));
  CHECK(std::isnan(x.var(0).item()));
  CHECK(std::isnan(tg::exp(x).data()[1]));
  CHECK(std::isnan(tg::relu(x).data()[1]));
  CHECK(std::isnan(tg::sigmoid(x).data()[1]));
  CHECK(std::isnan(tg::tanh(x).data()[1]));
  CHECK(std::isnan(tg::abs(x).data()[1]));
  CHECK(all_nan(tg::softmax(x, 0)));
  CHECK(all_nan(tg::log_softmax(x, 0)));
  CHECK(all_nan(tg::matmul(x, x.detach()).reshape({1})));
  CHECK(std::isnan(F::mse_loss(x, tg::zeros<TestType>({3})).item()));
  // comparisons with NaN are false, except !=
  CHECK((x > 0).to_vector() == std::vector<TestType>{1, 0, 1});
  CHECK((x == x).to_vector() == std::vector<TestType>{1, 0, 1});
  CHECK((x != x).to_vector() == std::vector<TestType>{0, 1, 0});
  // max over a dim picks the NaN and sends it the gradient
  auto m = leaf<TestType>({1, nan, 0.5, 2, 3, nan}, {2, 3});
  auto v = m.max(1);
  CHECK(all_nan(v));
  v.sum().backward();
  CHECK(m.grad().to_vector() == std::vector<TestType>{0, 1, 0, 0, 0, 1});
  // relu lets the gradient through a NaN (PyTorch masks only x <= 0)
  auto r = leaf<TestType>({1, nan}, {2});
  tg::relu(r).sum().backward();
  CHECK(r.grad().to_vector() == std::vector<TestType>{1, 1});
  // a NaN gradient reaches the parameters through Adam rather than being skipped
  auto w = leaf<TestType>({1, 2}, {2});
  tg::optim::Adam<TestType> opt({w}, 0.1);
  (w * tg::tensor<TestType>({nan, 1}, {2})).sum().backward();
  opt.step();
  CHECK(std::isnan(w.data()[0]));
  CHECK(std::isfinite(w.data()[1]));
}

TEMPLATE_TEST_CASE("empty tensors: sums are 0, means and variances NaN, shapes as PyTorch", "[numerics]", float,
                   double) {
  auto e = leaf<TestType>({}, {0, 3});
  CHECK(e.sum().item() == TestType(0));
  CHECK(std::isnan(e.mean().item()));
  CHECK(e.sum(0).to_vector() == std::vector<TestType>(3, 0));
  CHECK(all_nan(e.mean(0)));
  CHECK(e.mean(0).shape() == tg::Shape{3});
  CHECK(e.sum(1).shape() == tg::Shape{0});
  CHECK(std::isnan(tg::ones<TestType>({1}).var(0).item()));  // one value, unbiased
  CHECK(tg::softmax(e, 1).shape() == tg::Shape{0, 3});
  CHECK(tg::log_softmax(e, 0).shape() == tg::Shape{0, 3});
  e.sum().backward();
  CHECK(e.grad().shape() == tg::Shape{0, 3});
  // (2, 0) @ (0, 3) is a (2, 3) matrix of zeros, with empty gradients
  auto a = tg::ones<TestType>({2, 0}).requires_grad_();
  auto b = tg::ones<TestType>({0, 3}).requires_grad_();
  auto c = tg::matmul(a, b);
  CHECK(c.to_vector() == std::vector<TestType>(6, 0));
  c.sum().backward();
  CHECK(a.grad().shape() == tg::Shape{2, 0});
  CHECK(b.grad().shape() == tg::Shape{0, 3});
  CHECK(std::isnan(F::mse_loss(tg::ones<TestType>({0}), tg::ones<TestType>({0})).item()));
  CHECK(std::isnan(F::binary_cross_entropy(tg::ones<TestType>({0}), tg::ones<TestType>({0})).item()));
}

TEMPLATE_TEST_CASE("zero-size batches through Linear, ReLU, Dropout and BatchNorm", "[numerics]", float, double) {
  tg::manual_seed(0);
  tg::nn::Linear<TestType> lin(3, 2);
  auto x = tg::ones<TestType>({0, 3}).requires_grad_();
  auto y = lin(x);
  CHECK(y.shape() == tg::Shape{0, 2});
  y.sum().backward();
  CHECK(lin.weight.grad().to_vector() == std::vector<TestType>(6, 0));
  CHECK(lin.bias.grad().to_vector() == std::vector<TestType>(2, 0));
  CHECK(tg::nn::ReLU<TestType>()(y).shape() == tg::Shape{0, 2});
  CHECK(tg::nn::Dropout<TestType>(0.5)(y).shape() == tg::Shape{0, 2});

  // PyTorch: an empty batch in training leaves the running statistics alone, still counts the
  // batch, and gives zero gradients
  tg::nn::BatchNorm1d<TestType> bn(3);
  auto bx = tg::ones<TestType>({0, 3}).requires_grad_();
  auto by = bn(bx);
  CHECK(by.shape() == tg::Shape{0, 3});
  CHECK(bn.running_mean.to_vector() == std::vector<TestType>(3, 0));
  CHECK(bn.running_var.to_vector() == std::vector<TestType>(3, 1));
  CHECK(bn.num_batches_tracked.item() == TestType(1));
  by.sum().backward();
  CHECK(bn.weight.grad().to_vector() == std::vector<TestType>(3, 0));
  CHECK(bn.bias.grad().to_vector() == std::vector<TestType>(3, 0));
  CHECK(bn(tg::ones<TestType>({2, 3, 0})).shape() == tg::Shape{2, 3, 0});
  bn.eval();
  CHECK(bn(tg::ones<TestType>({0, 3})).shape() == tg::Shape{0, 3});
}
