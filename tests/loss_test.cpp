// Losses: every loss and option against PyTorch's goldens (tests/golden/loss.txt, written by
// tools/gen_loss_golden.py) in float and double for each reduction, gradcheck and
// gradgradcheck in double, the libtorch-style API, and cross entropy's single fused node.
#include <random>

#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace F = tapegrad::nn::functional;
using namespace tapegrad_test;
using Inputs = std::vector<tg::Tensor<double>>;

namespace {

const Golden& loss_golden() { return golden_file("loss.txt"); }

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The golden case's loss of input x and target t with its options and `reduction`.
template <class T>
tg::Tensor<T> run_case(const std::string& name, const tg::Tensor<T>& x, const tg::Tensor<T>& t, const std::string& reduction) {
  const Golden& g = loss_golden();
  const std::string tag = dtype_tag<T>();
  const GoldenTensor& cfg = golden_entry(g, name + ".cfg");
  const auto ignore_index = static_cast<int64_t>(cfg.values[0]);
  const double label_smoothing = cfg.values[1];
  const auto w = g.count(name + "." + tag + ".w") ? golden_tensor<T>(g, name + "." + tag + ".w") : tg::Tensor<T>();
  const auto pw = g.count(name + "." + tag + ".pw") ? golden_tensor<T>(g, name + "." + tag + ".pw") : tg::Tensor<T>();
  if (starts_with(name, "ce_")) {
    return tg::nn::CrossEntropyLoss<T>(tg::nn::CrossEntropyLossOptions()
                                           .weight(w)
                                           .ignore_index(ignore_index)
                                           .label_smoothing(label_smoothing)
                                           .reduction(reduction))(x, t);
  }
  if (starts_with(name, "nll_")) {
    return F::nll_loss(x, t, F::NLLLossFuncOptions().weight(w).ignore_index(ignore_index).reduction(reduction));
  }
  if (starts_with(name, "bcel_")) {
    return tg::nn::BCEWithLogitsLoss<T>(tg::nn::BCEWithLogitsLossOptions().weight(w).pos_weight(pw).reduction(reduction))
        .forward(x, t);
  }
  if (starts_with(name, "bce_")) return F::binary_cross_entropy(x, t, F::BinaryCrossEntropyFuncOptions().weight(w).reduction(reduction));
  if (starts_with(name, "mse_")) return tg::nn::MSELoss<T>(tg::nn::MSELossOptions().reduction(reduction))(x, t);
  REQUIRE(starts_with(name, "l1_"));
  return F::l1_loss(x, t, F::L1LossFuncOptions().reduction(reduction));
}

template <class T>
void check_golden_case(const std::string& name) {
  const Golden& g = loss_golden();
  const std::string tag = dtype_tag<T>();
  const bool target_grad = golden_entry(g, name + ".cfg").values[2] != 0;
  // float: PyTorch sums in float (a cascade), tapegrad in double
  const double rtol = std::is_same_v<T, float> ? 2e-5 : 1e-11, atol = std::is_same_v<T, float> ? 2e-6 : 1e-14;
  for (const std::string reduction : {"mean", "sum", "none"}) {
    INFO("case " << name << ", reduction " << reduction << ", " << tag);
    const std::string key = name + "." + reduction + "." + tag;
    auto x = golden_tensor<T>(g, name + "." + tag + ".x").requires_grad_();
    auto t = golden_tensor<T>(g, name + "." + tag + ".t");
    if (target_grad) t.requires_grad_();
    const auto before_t = t.to_vector();
    auto loss = run_case(name, x, t, reduction);
    expect_golden(loss, g, key + ".loss", rtol, atol);
    const auto upstream = reduction == std::string("none") ? golden_tensor<T>(g, name + "." + tag + ".gout")
                                                           : tg::scalar_tensor<T>(T(0.75));
    loss.backward(upstream);
    expect_golden(x.grad(), g, key + ".gx", rtol, atol);
    if (target_grad) {
      expect_golden(t.grad(), g, key + ".gt", rtol, atol);
    } else {
      CHECK(!t.grad().defined());  // class indices get no gradient
    }
    CHECK(t.to_vector() == before_t);
  }
}

std::set<std::string> loss_cases() { return golden_case_names(loss_golden(), ".cfg", "~"); }

}  // namespace

TEST_CASE("golden: every loss, option and reduction matches PyTorch, float") {
  const auto cases = loss_cases();
  REQUIRE(cases.size() == 28);
  for (const auto& name : cases) check_golden_case<float>(name);
}

TEST_CASE("golden: every loss, option and reduction matches PyTorch, double") {
  for (const auto& name : loss_cases()) check_golden_case<double>(name);
}

// ---- gradcheck and gradgradcheck, double ----------------------------------------------------

TEST_CASE("gradcheck and gradgradcheck: every golden case, each reduction") {
  const Golden& g = loss_golden();
  for (const auto& name : loss_cases()) {
    const bool target_grad = golden_entry(g, name + ".cfg").values[2] != 0;
    for (const std::string reduction : {"mean", "sum", "none"}) {
      INFO("case " << name << ", reduction " << reduction);
      auto x = golden_tensor<double>(g, name + ".f64.x").requires_grad_();
      auto t = golden_tensor<double>(g, name + ".f64.t");
      if (target_grad) t.requires_grad_();
      // L1 is not differentiable where x = t: gradcheck it away from those
      if (starts_with(name, "l1_")) t = (t + 0.125 * (x.detach() == t)).detach().requires_grad_();
      require_gradcheck([&](const Inputs& in) { return run_case<double>(name, in[0], in[1], reduction); }, {x, t});
    }
  }
}

TEST_CASE("gradcheck: cross entropy and BCE with logits at large logits stay stable") {
  std::mt19937 rng(1234);
  INFO("seed 1234");
  std::normal_distribution<double> normal;
  std::vector<double> xv(12), tv(12);
  for (auto& v : xv) v = 40 * normal(rng);
  for (auto& v : tv) v = std::uniform_real_distribution<double>(0, 1)(rng);
  auto x = leaf(xv, {4, 3});
  auto t = leaf(tv, {4, 3});
  require_gradcheck([](const Inputs& in) { return F::binary_cross_entropy_with_logits(in[0], in[1]); }, {x, t});
  require_gradcheck(
      [](const Inputs& in) {
        return F::binary_cross_entropy_with_logits(in[0], in[1], F::BinaryCrossEntropyWithLogitsFuncOptions()
                                                                     .pos_weight(tg::tensor<double>({2.0, 0.5, 3.0}, {3}))
                                                                     .weight(tg::tensor<double>({1.5, 1.0, 0.5, 2.0}, {4, 1})));
      },
      {x, t});
  auto classes = tg::tensor<double>({0, 2, 1, 2}, {4});
  require_gradcheck([](const Inputs& in) { return F::cross_entropy(in[0], in[1], F::CrossEntropyFuncOptions().label_smoothing(0.1)); },
                    {x, classes});
  // 1000-sized logits: finite loss and gradient, as log_softmax shifts by the max
  auto big = tg::tensor<double>({1000, -1000, 0, 0, 2000, 1999}, {2, 3}).requires_grad_();
  auto loss = F::cross_entropy(big, tg::tensor<double>({1, 2}, {2}));
  loss.backward();
  CHECK(std::isfinite(loss.item()));
  CHECK(loss.item() == Approx((2000.0 + (1.0 + std::log1p(std::exp(-1.0))) ) / 2).epsilon(1e-12));
  for (double v : big.grad().to_vector()) CHECK(std::isfinite(v));
  auto logits = tg::tensor<double>({800, -800}, {2}).requires_grad_();
  auto bce = F::binary_cross_entropy_with_logits(logits, tg::tensor<double>({0, 1}, {2}), F::BinaryCrossEntropyWithLogitsFuncOptions().reduction("sum"));
  CHECK(bce.item() == Approx(1600.0));
}

// ---- API and structure ----------------------------------------------------------------------

TEST_CASE("loss modules: libtorch's names, options, deduction guides and both calls") {
  auto x = tg::tensor<float>({1, 2, 3, 0.5f, -1, 0}, {2, 3});
  auto classes = tg::tensor<float>({2, 0}, {2});
  tg::nn::CrossEntropyLoss ce;
  static_assert(std::is_same_v<decltype(ce), tg::nn::CrossEntropyLoss<float>>);
  tg::nn::CrossEntropyLoss smoothed(tg::nn::CrossEntropyLossOptions().ignore_index(1).label_smoothing(0.1).reduction("sum"));
  static_assert(std::is_same_v<decltype(smoothed), tg::nn::CrossEntropyLoss<float>>);
  CHECK(smoothed.options.ignore_index() == 1);
  CHECK(smoothed.options.label_smoothing() == 0.1);
  CHECK(smoothed.options.reduction() == "sum");
  CHECK(ce(x, classes).item() == ce.forward(x, classes).item());
  CHECK(ce(x, classes).item() == F::cross_entropy(x, classes).item());
  // the mean of class losses is their sum / N
  CHECK(ce(x, classes).item() * 2 == Approx(tg::nn::CrossEntropyLoss(tg::nn::CrossEntropyLossOptions().reduction("sum"))(x, classes).item()));
  tg::nn::CrossEntropyLoss<double> ce64;
  auto as_double = [](const tg::Tensor<float>& t) {
    const auto v = t.to_vector();
    return tg::tensor<double>(std::vector<double>(v.begin(), v.end()), t.shape());
  };
  CHECK(ce64(as_double(x), as_double(classes)).item() == Approx(ce(x, classes).item()));
  tg::nn::NLLLoss nll(tg::nn::NLLLossOptions().weight(tg::ones({3})).ignore_index(0));
  CHECK(nll(tg::log_softmax(x, 1), classes).item() == Approx(-tg::log_softmax(x, 1).data()[2]));
  tg::nn::L1Loss l1;
  tg::nn::MSELoss mse;
  tg::nn::BCELoss bce(tg::nn::BCELossOptions().weight(tg::ones({3})));
  tg::nn::BCEWithLogitsLoss bcel(tg::nn::BCEWithLogitsLossOptions().weight(tg::ones({3})).pos_weight(tg::ones({3})));
  auto p = tg::full({2, 3}, 0.25f);
  CHECK(l1(x, tg::zeros({2, 3})).item() == Approx(7.5 / 6));
  CHECK(mse(x, tg::zeros({2, 3})).item() == Approx(15.25 / 6));
  CHECK(bce(p, tg::ones({2, 3})).item() == Approx(-std::log(0.25)));
  CHECK(bcel(tg::zeros({2, 3}), p).item() == Approx(std::log(2.0)));
  // the existing two-argument calls and default modules keep their meaning
  CHECK(tg::nn::BCELoss()(p, tg::ones({2, 3})).item() == bce(p, tg::ones({2, 3})).item());
  CHECK(F::mse_loss(x, tg::zeros({2, 3})).item() == mse.forward(x, tg::zeros({2, 3})).item());
}

TEST_CASE("cross entropy on (64, 10) and (256, 10) is one fused node, without create_graph") {
  for (int64_t n : {64, 256}) {
    tg::manual_seed(0);
    auto logits = tg::randn({n, 10}).requires_grad_();
    std::vector<float> classes(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) classes[static_cast<size_t>(i)] = static_cast<float>((i * 7 + 3) % 10);
    auto target = tg::tensor<float>(classes, {n});
    auto loss = F::cross_entropy(logits, target);
    CHECK(std::string(loss.grad_fn_name()) == "CrossEntropyLossBackward");
    // the node's only edge is to the leaf: no chain of small ops behind it
    loss.backward();
    auto reference = (-(tg::log_softmax(logits.detach(), 1)));
    double expected = 0;
    for (int64_t i = 0; i < n; ++i) expected += reference.data()[i * 10 + static_cast<int64_t>(target.data()[i])];
    CHECK(loss.item() == Approx(expected / n).epsilon(1e-5));
    // each row's gradient is (softmax - one_hot) / n, summing to 0
    for (int64_t i = 0; i < n; ++i) {
      double row = 0;
      for (int64_t j = 0; j < 10; ++j) row += logits.grad().data()[i * 10 + j];
      CHECK(std::abs(row) < 1e-6);
    }
  }
}

TEST_CASE("cross entropy's double backward runs through log_softmax") {
  auto x = leaf({0.3, -1.2, 2.0, 0.1, 0.7, -0.4}, {2, 3});
  auto t = tg::tensor<double>({2, 0}, {2});
  auto loss = F::cross_entropy(x, t, F::CrossEntropyFuncOptions().weight(tg::tensor<double>({1.0, 2.0, 0.5}, {3})));
  auto gx = tg::autograd::grad({loss}, {x}, {}, true, true)[0];
  CHECK(gx.requires_grad());
  auto hess_row = tg::autograd::grad({gx.sum()}, {x})[0];
  // each row of the gradient sums to 0 whatever x is, so its derivative sums to 0 per row too
  for (int64_t i = 0; i < 2; ++i) CHECK(std::abs(hess_row.data()[3 * i] + hess_row.data()[3 * i + 1] + hess_row.data()[3 * i + 2]) < 1e-12);
}

TEST_CASE("class losses of an empty or all-ignored batch: nan mean, zero sum, as PyTorch 1.13") {
  auto empty = tg::zeros({0, 3}).requires_grad_();
  auto no_classes = tg::zeros({0});
  CHECK(std::isnan(F::cross_entropy(empty, no_classes).item()));
  CHECK(std::isnan(F::cross_entropy(empty, tg::zeros({0, 3})).item()));  // probabilities: 0 / 0 too
  CHECK(std::isnan(F::nll_loss(empty, no_classes).item()));
  CHECK(F::cross_entropy(empty, no_classes, F::CrossEntropyFuncOptions().reduction("sum").label_smoothing(0.1)).item() == 0);
  CHECK(F::cross_entropy(empty, no_classes, F::CrossEntropyFuncOptions().reduction("none")).shape() == tg::Shape{0});
  auto x = tg::tensor<float>({1, 2}, {1, 2}).requires_grad_();
  auto loss = F::cross_entropy(x, tg::tensor<float>({-100}, {1}));
  CHECK(std::isnan(loss.item()));
  auto summed = F::cross_entropy(x, tg::tensor<float>({-100}, {1}), F::CrossEntropyFuncOptions().reduction("sum"));
  summed.backward();
  CHECK(summed.item() == 0);
  CHECK(x.grad().to_vector() == std::vector<float>{0, 0});  // an ignored sample has no gradient
}
