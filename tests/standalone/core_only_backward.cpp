// tapegrad's core/ alone (its sub-project puts nothing else on the include path): a leaf, an op
// recorded on core's own tape, and two backward passes whose gradients must add up in grad().
#include <cstdio>
#include <string>

#include <tapegrad/core/autograd.hpp>
#include <tapegrad/core/factories.hpp>
#include <tapegrad/core/tensor.hpp>

namespace tg = tapegrad;

namespace {

// y = 3 x[0] + 4 x[1], recorded as every op in ops/ records itself (core has no op of its own).
tg::Tensor<double> weighted_sum(const tg::Tensor<double>& x) {
  auto y = tg::scalar_tensor<double>(3 * x.data()[0] + 4 * x.data()[1]);
  if (tg::detail::any_requires_grad(x)) {
    tg::detail::record(
        y, "WeightedSumBackward",
        [](const tg::Tensor<double>& g, tg::detail::GradOut<double>& out) {
          out[0] = tg::tensor<double>({3 * g.item(), 4 * g.item()});
        },
        x);
  }
  return y;
}

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  auto x = tg::tensor<double>({1.0, 2.0}).requires_grad_();
  expect(x.is_leaf() && x.requires_grad() && !x.grad().defined(), "x is a leaf that requires grad, without a grad yet");
  for (int pass = 1; pass <= 2; ++pass) {  // a fresh graph each pass, as a training loop builds one
    auto y = weighted_sum(x);
    expect(!y.is_leaf() && std::string(y.grad_fn_name()) == "WeightedSumBackward", "y records its backward");
    y.backward();
    const auto g = x.grad();
    expect(g.defined() && g.numel() == 2, "backward gives x a gradient of x's shape");
    if (!g.defined() || g.numel() != 2) break;
    std::printf("after backward %d: x.grad() = [%g, %g]\n", pass, g.data()[0], g.data()[1]);
    expect(g.data()[0] == 3.0 * pass && g.data()[1] == 4.0 * pass, "x.grad() is the sum of the passes' gradients");
  }
  return failures == 0 ? 0 : 1;
}
