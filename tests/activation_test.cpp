// Activations (leaky_relu, gelu exact and tanh, silu, erf, log_softmax and their layers) against
// PyTorch's goldens (tools/gen_activation_golden.py -> tests/golden/activation.txt): values,
// gradients and gradients of gradients in float and double; gradcheck and gradgradcheck in
// double; the layers' defaults and errors.
#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace F = tapegrad::nn::functional;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;

namespace {

template <class T>
using ActFn = std::function<tg::Tensor<T>(const tg::Tensor<T>&)>;

// The C++ twin of tools/gen_activation_golden.py's CASES.
template <class T>
std::map<std::string, ActFn<T>> act_cases() {
  using X = const tg::Tensor<T>&;
  return {
      {"leaky_relu", [](X x) { return F::leaky_relu(x); }},
      {"leaky_relu_0.2", [](X x) { return F::leaky_relu(x, 0.2); }},
      {"leaky_relu_neg", [](X x) { return F::leaky_relu(x, -1.5); }},
      {"gelu", [](X x) { return F::gelu(x); }},
      {"gelu_tanh", [](X x) { return F::gelu(x, "tanh"); }},
      {"silu", [](X x) { return F::silu(x); }},
      {"log_softmax", [](X x) { return tg::nn::LogSoftmax<T>()(x); }},
      {"log_softmax_dim0", [](X x) { return tg::nn::LogSoftmax<T>(0)(x); }},
      {"erf", [](X x) { return tg::erf(x); }},
  };
}

// Eigen's exp and tanh, std::erf (the erf op) and Abramowitz-Stegun's erf (float GELU, as
// PyTorch's) against PyTorch's vectorised float kernels and their scalar tails: a few ulps.
template <class T>
struct ActTol {
  static constexpr double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-14;
  static constexpr double atol = std::is_same_v<T, float> ? 1e-6 : 1e-15;
};

template <class T>
void check_act_goldens() {
  const Golden& g = golden_file("activation.txt");
  const auto cases = act_cases<T>();
  CHECK(golden_case_names(g, "." + dtype_tag<T>() + ".y", "-").size() == cases.size());
  for (const auto& entry : cases) {
    const std::string p = "act." + entry.first + "." + dtype_tag<T>();
    INFO("case " << p);
    auto x = golden_tensor<T>(g, p + ".x").requires_grad_();
    auto y = entry.second(x);
    expect_golden(y, g, p + ".y", ActTol<T>::rtol, ActTol<T>::atol);
    // the gradient from values (a plain backward) and from tensors (create_graph)
    auto gx_values = tg::autograd::grad({y}, {x}, {golden_tensor<T>(g, p + ".g")}, true)[0];
    expect_golden(gx_values, g, p + ".gx", ActTol<T>::rtol, ActTol<T>::atol);
    auto gx = tg::autograd::grad({y}, {x}, {golden_tensor<T>(g, p + ".g")}, std::nullopt, true)[0];
    expect_golden(gx, g, p + ".gx", ActTol<T>::rtol, ActTol<T>::atol);
    if (!gx.requires_grad()) {  // leaky_relu's gradient does not depend on x
      check_close(golden_tensor<T>(g, p + ".ggx"), std::vector<double>(static_cast<size_t>(x.numel()), 0.0), x.shape(), 0);
      continue;
    }
    auto ggx = tg::autograd::grad({gx}, {x}, {golden_tensor<T>(g, p + ".v")}, std::nullopt, false, true)[0];
    if (!ggx.defined()) ggx = tg::zeros_like(x);
    expect_golden(ggx, g, p + ".ggx", ActTol<T>::rtol * 100, ActTol<T>::atol * 100);  // a longer formula
  }
}

}  // namespace

TEST_CASE("golden: activations, their gradients and second derivatives against PyTorch, double") { check_act_goldens<double>(); }
TEST_CASE("golden: activations, their gradients and second derivatives against PyTorch, float") { check_act_goldens<float>(); }

TEST_CASE("gradcheck: leaky_relu, gelu, silu, erf") {
  using In = std::vector<Td>;
  tg::manual_seed(61);
  Td x = tg::randn<double>({3, 5}) * 2;
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] += x.data()[i] >= 0 ? 0.1 : -0.1;  // off leaky_relu's kink
  x.requires_grad_();
  require_gradcheck([](const In& v) { return F::leaky_relu(v[0]); }, {x});
  require_gradcheck([](const In& v) { return F::leaky_relu(v[0], -0.7); }, {x});
  require_gradcheck([](const In& v) { return F::gelu(v[0]); }, {x});
  require_gradcheck([](const In& v) { return F::gelu(v[0], "tanh"); }, {x});
  require_gradcheck([](const In& v) { return F::silu(v[0]); }, {x});
  require_gradcheck([](const In& v) { return tg::erf(v[0]); }, {x});
  require_gradcheck([](const In& v) { return tg::nn::LogSoftmax<double>(0)(v[0]); }, {x});
}

TEST_CASE("activation layers: defaults, deduced float, NaN through, errors") {
  tg::nn::LeakyReLU leaky;
  static_assert(std::is_same_v<decltype(leaky), tg::nn::LeakyReLU<float>>);
  CHECK(leaky.negative_slope == 0.01);
  tg::nn::GELU gelu;
  static_assert(std::is_same_v<decltype(gelu), tg::nn::GELU<float>>);
  CHECK(gelu.approximate == "none");
  tg::nn::GELU gelu_tanh("tanh");
  static_assert(std::is_same_v<decltype(gelu_tanh), tg::nn::GELU<float>>);
  tg::nn::SiLU silu;
  static_assert(std::is_same_v<decltype(silu), tg::nn::SiLU<float>>);
  tg::nn::LogSoftmax log_softmax;
  static_assert(std::is_same_v<decltype(log_softmax), tg::nn::LogSoftmax<float>>);
  CHECK(log_softmax.dim == -1);

  tg::manual_seed(62);
  const auto x = tg::randn<float>({4, 5});
  check_close(leaky(x), F::leaky_relu(x, 0.01), 0);
  check_close(gelu(x), F::gelu(x), 0);
  check_close(gelu_tanh(x), F::gelu(x, "tanh"), 0);
  check_close(silu(x), F::silu(x), 0);
  check_close(log_softmax(x), tg::log_softmax(x, -1), 0);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto n = tg::tensor<float>({nan, 1}, {2});
  for (const auto& y : {F::leaky_relu(n), F::gelu(n), F::gelu(n, "tanh"), F::silu(n), tg::erf(n)}) CHECK(std::isnan(y.data()[0]));

  CHECK_THROWS_WITH(F::gelu(x, "Tanh"), "gelu: approximate argument must be either none or tanh, but got \"Tanh\"");
  CHECK_THROWS_WITH(tg::nn::GELU("exact"), "GELU: approximate argument must be either none or tanh, but got \"exact\"");
  CHECK_THROWS_WITH(F::silu(tg::Tensor<float>()), "silu: expected a defined tensor, got an undefined one");
  CHECK_THROWS_WITH(F::leaky_relu(tg::Tensor<float>()), "leaky_relu: expected a defined tensor, got an undefined one");
  CHECK_THROWS_WITH(tg::erf(tg::Tensor<float>()), "erf: expected a defined tensor, got an undefined one");
}
