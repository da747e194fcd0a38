// The tensor vocabulary's elementwise part (ops/elementwise.hpp, ops/masking.hpp): sin, cos,
// erf, square, rsqrt, log1p, expm1, clamp, clamp_max, minimum, maximum, where, masked_fill,
// tril, triu. Gradchecked and gradgradchecked in double; forward values (to an ulp) and
// gradients against PyTorch 1.13 in float and double (tools/gen_vocab_elementwise_golden.py
// writes tests/golden/vocab_elementwise.txt); free functions and methods alike; ties, NaN, the
// kinks' gradients; the error messages.
#include <cmath>
#include <limits>
#include <optional>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;
using Inputs = std::vector<Td>;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Gradients against PyTorch's: products of values each within an ulp, plus an absolute part for
// expm1's g * (y + 1), where an ulp of y near -1 shows through the cancellation.
template <class T>
double grad_rtol() {
  return std::is_same_v<T, float> ? 5e-7 : 1e-15;
}
template <class T>
double grad_atol() {
  return std::is_same_v<T, float> ? 2e-7 : 5e-16;
}

// Every element of `actual` within `ulps` units in the last place of the golden value (of T),
// NaN where it is NaN, infinities exact.
template <class T>
void expect_ulps(const tg::Tensor<T>& actual, const Golden& g, const std::string& name, int ulps) {
  const GoldenTensor& e = golden_entry(g, name);
  INFO("golden tensor " << name);
  REQUIRE(actual.shape() == e.shape);
  for (size_t i = 0; i < e.values.size(); ++i) {
    const T want = static_cast<T>(e.values[i]), got = actual.data()[i];
    INFO("element " << i << ": got " << got << ", PyTorch " << want);
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
    } else if (std::isinf(want) || want == T(0)) {
      CHECK(got == want);
    } else {
      const T ulp = std::nextafter(std::abs(want), std::numeric_limits<T>::infinity()) - std::abs(want);
      CHECK(std::abs(got - want) <= ulps * ulp);
    }
  }
}

// Every element the same value to the last bit (NaN as NaN), and the same shape.
template <class T>
void expect_exact(const tg::Tensor<T>& actual, const Golden& g, const std::string& name) {
  expect_golden(actual, g, name, 0, 0);
}

template <class T>
using Unary = tg::Tensor<T> (*)(const tg::Tensor<T>&);
template <class T>
using UnaryMethod = tg::Tensor<T> (tg::Tensor<T>::*)() const;

template <class T>
struct UnaryCase {
  const char* name;
  Unary<T> fn;
  UnaryMethod<T> method;
};

template <class T>
std::vector<UnaryCase<T>> unary_cases() {
  using Tn = tg::Tensor<T>;
  return {{"sin", &tg::sin<T>, &Tn::sin},       {"cos", &tg::cos<T>, &Tn::cos},
          {"erf", &tg::erf<T>, &Tn::erf},       {"square", &tg::square<T>, &Tn::square},
          {"rsqrt", &tg::rsqrt<T>, &Tn::rsqrt}, {"log1p", &tg::log1p<T>, &Tn::log1p},
          {"expm1", &tg::expm1<T>, &Tn::expm1}};
}

// The bits of a tensor's values, NaN included, to compare two results exactly.
template <class T>
bool same_bits(const tg::Tensor<T>& a, const tg::Tensor<T>& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const T x = a.data()[i], y = b.data()[i];
    if (!(x == y || (std::isnan(x) && std::isnan(y)))) return false;
  }
  return true;
}

}  // namespace

// ---- gradcheck and gradgradcheck ---------------------------------------------------------------

TEST_CASE("gradcheck: sin, cos, erf, square, rsqrt, log1p, expm1, free functions and methods") {
  SEED(1401);
  const Td x = leaf_randn({3, 4});
  const Td positive = (tg::rand<double>({3, 4}) * 2 + 0.2).detach().requires_grad_();  // rsqrt, log1p away from the poles
  for (const auto& c : unary_cases<double>()) {
    INFO(c.name);
    const bool needs_positive = std::string(c.name) == "rsqrt" || std::string(c.name) == "log1p";
    const Td& in = needs_positive ? positive : x;
    auto fn = c.fn;
    auto method = c.method;
    require_gradcheck([fn](const Inputs& v) { return fn(v[0]); }, {in});
    require_gradcheck([method](const Inputs& v) { return (v[0].*method)() * v[0]; }, {in});
  }
}

TEST_CASE("gradcheck: clamp with both bounds, one, and clamp_max, away from the kinks") {
  SEED(1402);
  // values at least 0.05 from the bounds -0.5 and 0.5, so the finite differences do not cross a kink
  const Td x = tg::tensor<double>({-1.2, -0.7, -0.4, -0.1, 0.0, 0.2, 0.45, 0.6, 0.9, 1.5, -2.0, 0.3}, {3, 4}).requires_grad_();
  require_gradcheck([](const Inputs& v) { return tg::clamp(v[0], -0.5, 0.5) * v[0]; }, {x});
  require_gradcheck([](const Inputs& v) { return v[0].clamp(-0.5).square(); }, {x});
  require_gradcheck([](const Inputs& v) { return v[0].clamp(std::nullopt, 0.5).sin(); }, {x});
  require_gradcheck([](const Inputs& v) { return tg::clamp_max(v[0], 0.5) * v[0]; }, {x});
  require_gradcheck([](const Inputs& v) { return v[0].clamp_max(0.5).exp(); }, {x});
  require_gradcheck([](const Inputs& v) { return v[0].clamp_min(-0.5) * v[0]; }, {x});
}

TEST_CASE("gradcheck: minimum and maximum with broadcasting, away from ties") {
  SEED(1403);
  const Td a = leaf_randn({3, 1}), b = leaf_randn({4}), c = leaf_randn({3, 4});
  require_gradcheck([](const Inputs& v) { return tg::maximum(v[0], v[1]) * v[1]; }, {a, b});
  require_gradcheck([](const Inputs& v) { return tg::minimum(v[0], v[1]).square(); }, {a, b});
  require_gradcheck([](const Inputs& v) { return v[0].maximum(v[1]).sin(); }, {c, b});
  require_gradcheck([](const Inputs& v) { return v[1].minimum(v[0]) * v[0]; }, {c, a});
}

TEST_CASE("gradcheck: where with all three broadcast, masked_fill, tril, triu") {
  SEED(1404);
  const Td cond = tg::tensor<double>({1, 0, 1, 0, 0, 1}, {2, 1, 3});
  const Td a = leaf_randn({4, 3}), b = leaf_randn({4, 1}), x = leaf_randn({2, 3, 4});
  require_gradcheck([&](const Inputs& v) { return tg::where(cond, v[0], v[1]) * v[1]; }, {a, b});
  require_gradcheck([&](const Inputs& v) { return v[0].where(cond, v[1]).square(); }, {a, b});
  require_gradcheck([&](const Inputs& v) { return tg::where(cond, v[0], 0.5).sin(); }, {a});
  require_gradcheck([&](const Inputs& v) { return tg::where(cond, -1, v[0]) * v[0]; }, {b});
  const Td mask = tg::tensor<double>({0, 1, 1, 0}, {4});
  require_gradcheck([&](const Inputs& v) { return tg::masked_fill(v[0], mask, 2.0) * v[0]; }, {x});
  require_gradcheck([&](const Inputs& v) { return v[0].masked_fill(cond.reshape({2, 3, 1}), -1.0).square(); }, {x});
  require_gradcheck([&](const Inputs& v) { return v[0].masked_fill(mask.reshape({4, 1, 1, 1}), 0.0).sin(); }, {x});  // grows x
  const Td value = leaf_randn({});
  require_gradcheck([&](const Inputs& v) { return tg::masked_fill(v[0], mask, v[1]) * v[1]; }, {x, value});
  require_gradcheck([&](const Inputs& v) { return v[0].masked_fill(cond.reshape({2, 3, 1}), v[1].sin()).square(); }, {x, value});
  for (const int64_t k : {-1, 0, 2}) {
    INFO("diagonal " << k);
    require_gradcheck([k](const Inputs& v) { return tg::tril(v[0], k) * v[0]; }, {x});
    require_gradcheck([k](const Inputs& v) { return v[0].triu(k).square(); }, {x});
  }
}

// ---- against PyTorch ---------------------------------------------------------------------------

TEMPLATE_TEST_CASE("sin, cos, erf, square, rsqrt, log1p, expm1 match PyTorch to an ulp, with their gradients", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_elementwise.txt");
  for (const auto& c : unary_cases<T>()) {
    const std::string p = std::string(c.name) + "." + dtype_tag<T>() + ".";
    INFO(p);
    auto x = golden_tensor<T>(g, p + "x").requires_grad_();
    const auto y = c.fn(x);
    expect_ulps(y, g, p + "y", 1);
    CHECK(same_bits((x.*c.method)(), y));
    y.backward(golden_tensor<T>(g, p + "gout"));
    expect_golden(x.grad(), g, p + "grad_x", grad_rtol<T>(), grad_atol<T>());
  }
}

TEMPLATE_TEST_CASE("clamp matches PyTorch: bounds included in the gradient, one bound, lo > hi, NaN bounds", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_elementwise.txt");
  for (const std::string name : {"clamp_both", "clamp_min_only", "clamp_max_only", "clamp_lo_above_hi", "clamp_equal_bounds",
                                 "clamp_nan_min", "clamp_nan_max", "clamp_nan_min_only", "clamp_nan_max_only"}) {
    const std::string p = name + "." + dtype_tag<T>() + ".";
    INFO(p);
    const auto bounds = golden_tensor<T>(g, p + "bounds").to_vector();
    const std::optional<double> lo = bounds[2] != 0 ? std::optional<double>(bounds[0]) : std::nullopt;
    const std::optional<double> hi = bounds[3] != 0 ? std::optional<double>(bounds[1]) : std::nullopt;
    auto x = golden_tensor<T>(g, p + "x").requires_grad_();
    const auto y = tg::clamp(x, lo, hi);
    expect_exact(y, g, p + "y");
    CHECK(same_bits(x.clamp(lo, hi), y));
    if (!lo) CHECK(same_bits(tg::clamp_max(x, *hi), y));
    if (!lo) CHECK(same_bits(x.clamp_max(*hi), y));
    if (!hi) CHECK(same_bits(x.clamp(*lo), y));
    y.backward(golden_tensor<T>(g, p + "gout"));
    expect_exact(x.grad(), g, p + "grad_x");
  }
}

TEMPLATE_TEST_CASE("minimum and maximum match PyTorch: ties split the gradient, NaN propagates, broadcasting", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_elementwise.txt");
  for (const std::string op : {"maximum", "minimum"}) {
    for (const std::string name : {"ties", "broadcast", "broadcast_ties", "scalar_other"}) {
      const std::string p = op + "_" + name + "." + dtype_tag<T>() + ".";
      INFO(p);
      auto a = golden_tensor<T>(g, p + "a").requires_grad_();
      auto b = golden_tensor<T>(g, p + "b").requires_grad_();
      const auto y = op == "maximum" ? tg::maximum(a, b) : tg::minimum(a, b);
      expect_exact(y, g, p + "y");
      CHECK(same_bits(op == "maximum" ? a.maximum(b) : a.minimum(b), y));
      y.backward(golden_tensor<T>(g, p + "gout"));
      expect_golden(a.grad(), g, p + "grad_a", grad_rtol<T>(), 0);
      expect_golden(b.grad(), g, p + "grad_b", grad_rtol<T>(), 0);
    }
  }
}

TEMPLATE_TEST_CASE("where and masked_fill match PyTorch, masks and branches broadcast", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_elementwise.txt");
  for (const std::string name : {"where_same", "where_broadcast", "where_cond_broadcast"}) {
    const std::string p = name + "." + dtype_tag<T>() + ".";
    INFO(p);
    const auto cond = golden_tensor<T>(g, p + "cond");
    auto a = golden_tensor<T>(g, p + "a").requires_grad_();
    auto b = golden_tensor<T>(g, p + "b").requires_grad_();
    const auto y = tg::where(cond, a, b);
    expect_exact(y, g, p + "y");
    CHECK(same_bits(a.where(cond, b), y));
    y.backward(golden_tensor<T>(g, p + "gout"));
    expect_golden(a.grad(), g, p + "grad_a", grad_rtol<T>(), 0);
    expect_golden(b.grad(), g, p + "grad_b", grad_rtol<T>(), 0);
  }
  for (const std::string name : {"masked_fill_same", "masked_fill_row_mask", "masked_fill_col_mask", "masked_fill_grows_x"}) {
    const std::string p = name + "." + dtype_tag<T>() + ".";
    INFO(p);
    auto x = golden_tensor<T>(g, p + "x").requires_grad_();
    const auto mask = golden_tensor<T>(g, p + "mask");
    const double value = golden_tensor<T>(g, p + "value").item();
    const auto y = x.masked_fill(mask, value);
    expect_exact(y, g, p + "y");
    CHECK(same_bits(tg::masked_fill(x, mask, value), y));
    y.backward(golden_tensor<T>(g, p + "gout"));
    expect_golden(x.grad(), g, p + "grad_x", grad_rtol<T>(), 0);
  }
  {
    const std::string p = "masked_fill_tensor_value." + dtype_tag<T>() + ".";
    INFO(p);
    auto x = golden_tensor<T>(g, p + "x").requires_grad_();
    auto value = golden_tensor<T>(g, p + "value").requires_grad_();
    const auto mask = golden_tensor<T>(g, p + "mask");
    const auto y = x.masked_fill(mask, value);
    expect_exact(y, g, p + "y");
    CHECK(same_bits(tg::masked_fill(x, mask, value), y));
    y.backward(golden_tensor<T>(g, p + "gout"));
    expect_golden(x.grad(), g, p + "grad_x", grad_rtol<T>(), 0);
    expect_golden(value.grad(), g, p + "grad_value", grad_rtol<T>(), grad_atol<T>());
  }
}

TEMPLATE_TEST_CASE("tril and triu match PyTorch on any batch shape and diagonal", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_elementwise.txt");
  for (const std::string op : {"tril", "triu"}) {
    for (const std::string name : {"sq", "wide", "tall", "batch", "batch2", "far_above", "far_below", "empty_rows"}) {
      const std::string p = op + "_" + name + "." + dtype_tag<T>() + ".";
      INFO(p);
      auto x = golden_tensor<T>(g, p + "x").requires_grad_();
      const auto k = static_cast<int64_t>(golden_tensor<T>(g, p + "k").item());
      const auto y = op == "tril" ? tg::tril(x, k) : tg::triu(x, k);
      expect_exact(y, g, p + "y");
      CHECK(same_bits(op == "tril" ? x.tril(k) : x.triu(k), y));
      y.backward(golden_tensor<T>(g, p + "gout"));
      expect_exact(x.grad(), g, p + "grad_x");
    }
  }
}

// ---- semantics -------------------------------------------------------------------------------

TEST_CASE("the default arguments: tril and triu's diagonal 0, clamp's max absent") {
  const Td x = tg::tensor<double>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  CHECK(tg::tril(x).to_vector() == std::vector<double>{1, 0, 0, 4, 5, 0, 7, 8, 9});
  CHECK(x.triu().to_vector() == std::vector<double>{1, 2, 3, 0, 5, 6, 0, 0, 9});
  CHECK(tg::clamp(x, 4).to_vector() == std::vector<double>{4, 4, 4, 4, 5, 6, 7, 8, 9});
  CHECK(x.clamp(2, 7).to_vector() == std::vector<double>{2, 2, 3, 4, 5, 6, 7, 7, 7});
  CHECK(x.clamp(std::nullopt, 3).to_vector() == std::vector<double>{1, 2, 3, 3, 3, 3, 3, 3, 3});
}

TEST_CASE("ties of minimum and maximum give each side half the gradient, to the second order") {
  auto a = tg::tensor<double>({1, 2, 3}, {3}).requires_grad_();
  auto b = tg::tensor<double>({1, 5, 3}, {3}).requires_grad_();
  auto y = (tg::maximum(a, b) * tg::maximum(a, b)).sum();
  auto grads = tg::autograd::grad({y}, {a, b}, {}, true, true);
  CHECK(grads[0].to_vector() == std::vector<double>{1, 0, 3});   // 2 y * 1/2 at the ties
  CHECK(grads[1].to_vector() == std::vector<double>{1, 10, 3});
  auto second = tg::autograd::grad({grads[0].sum()}, {a, b});
  CHECK(second[0].to_vector() == std::vector<double>{0.5, 0, 0.5});  // d(y/2 * 2)/da = 1/2 * 1/2 * 2
  CHECK(second[1].to_vector() == std::vector<double>{0.5, 0, 0.5});
  // a tensor against itself: the two halves add up to the whole gradient
  auto x = tg::tensor<double>({-1, 4}, {2}).requires_grad_();
  tg::minimum(x, x).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<double>{1, 1});
}

TEST_CASE("second derivatives of the elementwise functions are their own formulas") {
  const std::vector<double> v = {-1.3, 0.4, 2.1};
  for (const auto& c : unary_cases<double>()) {
    INFO(c.name);
    const std::string name = c.name;
    auto x = tg::tensor<double>(name == "rsqrt" || name == "log1p" ? std::vector<double>{0.3, 1.2, 2.5} : v, {3}).requires_grad_();
    auto gx = tg::autograd::grad({c.fn(x).sum()}, {x}, {}, true, true)[0];
    auto ggx = tg::autograd::grad({gx.sum()}, {x})[0];
    for (int i = 0; i < 3; ++i) {
      const double t = x.data()[i];
      const double want = name == "sin"      ? -std::sin(t)
                          : name == "cos"    ? -std::cos(t)
                          : name == "erf"    ? -2 * t * 1.12837916709551257390 * std::exp(-t * t)  // 2/sqrt(pi)
                          : name == "square" ? 2
                          : name == "rsqrt"  ? 0.75 * std::pow(t, -2.5)
                          : name == "log1p"  ? -1 / ((1 + t) * (1 + t))
                                             : std::exp(t);
      CHECK(ggx.data()[i] == Approx(want).epsilon(1e-12));
    }
  }
}

TEST_CASE("a masked-out gradient is 0 even when it is inf or NaN, as PyTorch's where(mask, grad, 0)") {
  const Td g = tg::tensor<double>({kInf, kNaN, kInf, 1}, {4});
  auto a = tg::tensor<double>({1, 2, 3, 4}, {4}).requires_grad_();
  auto b = tg::tensor<double>({5, 6, 7, 8}, {4}).requires_grad_();
  const Td cond = tg::tensor<double>({1, 0, 0, 1}, {4});
  tg::where(cond, a, b).backward(g);
  CHECK(a.grad().to_vector()[0] == kInf);
  CHECK(a.grad().to_vector()[1] == 0);
  CHECK(a.grad().to_vector()[2] == 0);
  CHECK(std::isnan(b.grad().to_vector()[1]));
  CHECK(b.grad().to_vector()[0] == 0);
  auto x = tg::tensor<double>({1, 2, 3, 4}, {4}).requires_grad_();
  x.masked_fill(cond, 0).backward(g);
  CHECK(x.grad().to_vector()[0] == 0);
  CHECK(std::isnan(x.grad().to_vector()[1]));
  CHECK(x.grad().to_vector()[3] == 0);
  auto z = tg::tensor<double>({-5, 0, 5, 0.5}, {4}).requires_grad_();
  z.clamp(-1, 1).backward(g);
  CHECK(z.grad().to_vector()[0] == 0);
  CHECK(std::isnan(z.grad().to_vector()[1]));
  CHECK(z.grad().to_vector()[2] == 0);
  CHECK(z.grad().to_vector()[3] == 1);
}

TEMPLATE_TEST_CASE("clamp_min's gradient is masked: an inf or NaN gradient below the bound gives 0, as PyTorch's", "", float, double) {
  using T = TestType;
  using Tn = tg::Tensor<T>;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  // torch.clamp_min(x, -0.5).backward(g) in torch 1.13: grad [0, -inf, inf, nan, 0, 0]
  const Tn x0 = tg::tensor<T>({-2, -0.5, 0, 1, nan, -1}, {6});
  const Tn g = tg::tensor<T>({inf, -inf, inf, nan, inf, nan}, {6});
  auto x = x0.detach().requires_grad_();
  const Tn y = tg::clamp_min(x, -0.5);
  CHECK(same_bits(y, tg::tensor<T>({-0.5, -0.5, 0, 1, nan, -0.5}, {6})));
  CHECK(same_bits(x.clamp_min(-0.5), y));
  y.backward(g);
  CHECK(same_bits(x.grad(), tg::tensor<T>({0, -inf, inf, nan, 0, 0}, {6})));
  // under create_graph the gradient is itself masked in g: its backward passes gg where x >= -0.5
  auto x2 = x0.detach().requires_grad_();
  auto g2 = g.detach().requires_grad_();
  const auto gx = tg::autograd::grad({tg::clamp_min(x2, -0.5)}, {x2}, {g2}, std::nullopt, true);
  CHECK(same_bits(gx[0], x.grad()));
  const auto gg = tg::autograd::grad({gx[0]}, {g2}, {tg::tensor<T>({inf, 2, 3, nan, inf, nan}, {6})});
  CHECK(same_bits(gg[0], tg::tensor<T>({0, 2, 3, nan, 0, 0}, {6})));
  // a NaN bound: NaN everywhere and no gradient (torch 1.13's clamp_min fills the bound; clamp(x, NaN) keeps x)
  auto x3 = x0.detach().requires_grad_();
  const Tn y3 = x3.clamp_min(nan);
  CHECK(same_bits(y3, tg::full<T>({6}, nan)));
  y3.backward(tg::ones<T>({6}));
  CHECK(same_bits(x3.grad(), tg::zeros<T>({6})));
}

TEST_CASE("the condition and the mask get no gradient, without grad mode nothing is recorded") {
  auto cond = tg::tensor<double>({1, 0}, {2}).requires_grad_();
  auto a = tg::tensor<double>({1, 2}, {2}).requires_grad_();
  auto y = tg::where(cond, a, 0.0);
  CHECK(std::string(y.grad_fn_name()) == "WhereBackward0");
  y.sum().backward();
  CHECK_FALSE(cond.grad().defined());
  CHECK(a.grad().to_vector() == std::vector<double>{1, 0});
  auto m = a.masked_fill(cond, 3);
  CHECK(m.to_vector() == std::vector<double>{3, 2});
  m.sum().backward();
  CHECK_FALSE(cond.grad().defined());
  tg::NoGradGuard guard;
  CHECK_FALSE(tg::sin(a).requires_grad());
  CHECK_FALSE(tg::maximum(a, cond).requires_grad());
  CHECK_FALSE(a.reshape({1, 2}).tril().requires_grad());
}

TEST_CASE("grad_fn names are PyTorch's") {
  auto x = tg::tensor<double>({0.5, 1.5, 2, 3}, {2, 2}).requires_grad_();
  const Td mask = tg::tensor<double>({1, 0}, {2});
  const std::vector<std::pair<Td, std::string>> named = {
      {x.sin(), "SinBackward0"}, {x.cos(), "CosBackward0"}, {x.erf(), "ErfBackward0"},
      {x.square(), "PowBackward0"}, {x.rsqrt(), "RsqrtBackward0"}, {x.log1p(), "Log1PBackward0"},
      {x.expm1(), "Expm1Backward0"}, {x.clamp(0, 1), "ClampBackward1"}, {x.clamp(std::nullopt, 1), "ClampBackward1"},
      {x.clamp_max(1), "ClampMaxBackward0"}, {x.maximum(mask), "MaximumBackward0"}, {x.minimum(mask), "MinimumBackward0"},
      {x.where(mask, mask), "WhereBackward0"}, {x.masked_fill(mask, 0), "MaskedFillBackward0"},
      {x.tril(), "TrilBackward0"}, {x.triu(), "TriuBackward0"}};
  for (const auto& [y, name] : named) CHECK(std::string(y.grad_fn_name()) == name);
}

TEST_CASE("masked_fill leaves its input unchanged, tril and triu zero NaN outside the triangle") {
  auto x = tg::tensor<double>({1, kNaN, kNaN, 4}, {2, 2});
  const auto before = describe_state(x);
  const auto y = x.masked_fill(tg::tensor<double>({1, 0}, {2}), 9);
  CHECK(describe_state(x) == before);
  CHECK(y.to_vector()[0] == 9);
  CHECK(y.to_vector()[2] == 9);
  CHECK(tg::tril(x).to_vector()[1] == 0);
  CHECK(tg::triu(x).to_vector()[2] == 0);
}

// ---- bad input ---------------------------------------------------------------------------------

TEST_CASE("bad input to the elementwise vocabulary throws, naming the op and the shapes or values, changing nothing") {
  auto a = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = leaf({1, 2, 3, 4}, {4});
  auto v = leaf({1, 2, 3}, {3});
  const Watch watch(a, b, v);
  const Td undefined;
  const std::string why = ": shapes [2, 3] and [4] cannot be broadcast together (3 != 4 at dim -1)";
  check_refused([&] { return tg::maximum(a, b); }, "maximum" + why, watch);
  check_refused([&] { return a.minimum(b); }, "minimum" + why, watch);
  check_refused([&] { return a.masked_fill(b, 0); }, "masked_fill" + why, watch);
  check_refused([&] { return tg::clamp(a, std::nullopt, std::nullopt); }, "clamp: at least one of min and max must be given", watch);
  check_refused([&] { return a.clamp(std::nullopt); }, "clamp: at least one of min and max must be given", watch);
  check_refused([&] { return tg::where(v, a, b); },
                "where: shapes [3] (condition), [2, 3] (self) and [4] (other) cannot be broadcast together (3, 3 and 4 at dim -1)", watch);
  check_refused([&] { return tg::where(b, v, v); },
                "where: shapes [4] (condition), [3] (self) and [3] (other) cannot be broadcast together (4, 3 and 3 at dim -1)", watch);
  check_refused([&] { return tg::where(tg::tensor<double>({1, 0.5, 0}, {3}), a, v); },
                "where: expected a condition of 0s and 1s, got 0.5 at element 1 of shape [3]", watch);
  check_refused([&] { return a.where(tg::tensor<double>({0, 1, kNaN}, {3}), v); },
                "where: expected a condition of 0s and 1s, got nan at element 2 of shape [3]", watch);
  check_refused([&] { return a.masked_fill(tg::tensor<double>({2, 0, 1}, {3}), 0); },
                "masked_fill: expected a mask of 0s and 1s, got 2 at element 0 of shape [3]", watch);
  check_refused([&] { return tg::masked_fill(a, tg::tensor<double>({1, 0, -1, 0, 1, 0}, {2, 3}), 0); },
                "masked_fill: expected a mask of 0s and 1s, got -1 at element 2 of shape [2, 3]", watch);
  check_refused([&] { return a.masked_fill(tg::tensor<double>({1, 0, 0}, {3}), v); },
                "masked_fill: expected a 0-d value tensor, got shape [3]", watch);
  check_refused([&] { return a.masked_fill(tg::tensor<double>({1, 0, 0}, {3}), undefined); },
                "masked_fill: expected a defined tensor, got an undefined one", watch);
  check_refused([&] { return tg::tril(v); }, "tril: expected a tensor of at least 2 dimensions, got shape [3]", watch);
  check_refused([&] { return v.triu(1); }, "triu: expected a tensor of at least 2 dimensions, got shape [3]", watch);
  check_refused([&] { return tg::triu(tg::scalar_tensor(1.0)); }, "triu: expected a tensor of at least 2 dimensions, got shape []", watch);
  for (const auto& c : unary_cases<double>()) {
    check_refused([&] { return c.fn(undefined); }, std::string(c.name) + ": expected a defined tensor, got an undefined one", watch);
  }
  check_refused([&] { return tg::clamp(undefined, 0, 1); }, "clamp: expected a defined tensor, got an undefined one", watch);
  check_refused([&] { return tg::clamp_max(undefined, 1); }, "clamp_max: expected a defined tensor, got an undefined one", watch);
  check_refused([&] { return tg::maximum(a, undefined); }, "maximum: expected a defined tensor, got an undefined one", watch);
  check_refused([&] { return tg::where(undefined, a, a); }, "where: expected a defined tensor, got an undefined one", watch);
  check_refused([&] { return a.masked_fill(undefined, 0); }, "masked_fill: expected a defined tensor, got an undefined one", watch);
  check_refused([&] { return tg::tril(undefined); }, "tril: expected a defined tensor, got an undefined one", watch);
  // the operands still work afterwards, and backpropagate
  (tg::maximum(a, v) + a.masked_fill(tg::tensor<double>({1, 0, 0}, {3}), 0)).sum().backward();
  CHECK(a.grad().to_vector() == std::vector<double>{0.5, 1.5, 1.5, 1, 2, 2});  // ties with v in the first row
}
