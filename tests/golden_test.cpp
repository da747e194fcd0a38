// Every op's forward values and input gradients against PyTorch's (tests/golden/core_ops.txt,
// written by tools/gen_golden.py), in double and in float, on the inputs PyTorch used.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

template <class T>
using Inputs = std::vector<tg::Tensor<T>>;
template <class T>
using CaseFn = std::function<tg::Tensor<T>(const Inputs<T>&)>;

// The C++ twin of tools/gen_golden.py's CASES table: same names, same expressions.
template <class T>
std::map<std::string, CaseFn<T>> op_cases() {
  using In = Inputs<T>;
  return {
      // ---- arithmetic with broadcasting ----
      {"arith.add_same", [](const In& x) { return x[0] + x[1]; }},
      {"arith.add_row_bias", [](const In& x) { return x[0] + x[1]; }},
      {"arith.add_general", [](const In& x) { return x[0] + x[1]; }},
      {"arith.add_0d", [](const In& x) { return x[0] + x[1]; }},
      {"arith.add_self", [](const In& x) { return x[0] + x[0]; }},
      {"arith.sub_outer", [](const In& x) { return x[0] - x[1]; }},
      {"arith.sub_leading", [](const In& x) { return x[0] - x[1]; }},
      {"arith.mul_same", [](const In& x) { return x[0] * x[1]; }},
      {"arith.mul_bcast", [](const In& x) { return x[0] * x[1]; }},
      {"arith.mul_self", [](const In& x) { return x[0] * x[0]; }},
      {"arith.mul_const", [](const In& x) { return x[0] * x[1]; }},
      {"arith.div_same", [](const In& x) { return x[0] / x[1]; }},
      {"arith.div_row", [](const In& x) { return x[0] / x[1]; }},
      {"arith.div_col", [](const In& x) { return x[0] / x[1]; }},
      {"arith.div_0d", [](const In& x) { return x[0] / x[1]; }},
      {"arith.neg", [](const In& x) { return -x[0]; }},
      {"arith.scalar_chain", [](const In& x) { return ((x[0] + 2) * 3 - 1.5) / 4; }},
      {"arith.scalar_left", [](const In& x) { return 1 - (2.5 * x[0] + 0.5); }},
      {"arith.rdiv", [](const In& x) { return 2 / x[0]; }},
      {"arith.reciprocal", [](const In& x) { return tg::reciprocal(x[0]); }},
      // ---- elementwise functions ----
      {"unary.exp", [](const In& x) { return tg::exp(x[0]); }},
      {"unary.log", [](const In& x) { return tg::log(x[0]); }},
      {"unary.sqrt", [](const In& x) { return tg::sqrt(x[0]); }},
      {"unary.abs", [](const In& x) { return tg::abs(x[0]); }},
      {"unary.abs_randn", [](const In& x) { return tg::abs(x[0]); }},
      {"unary.tanh", [](const In& x) { return tg::tanh(x[0]); }},
      {"unary.sigmoid", [](const In& x) { return tg::sigmoid(x[0]); }},
      {"unary.sigmoid_extreme", [](const In& x) { return tg::sigmoid(x[0]); }},
      {"unary.relu", [](const In& x) { return tg::relu(x[0]); }},
      {"unary.relu_randn", [](const In& x) { return tg::relu(x[0]); }},
      {"unary.pow_2", [](const In& x) { return tg::pow(x[0], 2); }},
      {"unary.pow_3", [](const In& x) { return tg::pow(x[0], 3); }},
      {"unary.pow_0", [](const In& x) { return tg::pow(x[0], 0); }},
      {"unary.pow_1", [](const In& x) { return tg::pow(x[0], 1); }},
      {"unary.pow_half", [](const In& x) { return tg::pow(x[0], 0.5); }},
      {"unary.pow_neg_half", [](const In& x) { return tg::pow(x[0], -0.5); }},
      {"unary.pow_neg1", [](const In& x) { return tg::pow(x[0], -1); }},
      {"unary.pow_neg2", [](const In& x) { return tg::pow(x[0], -2); }},
      {"unary.pow_neg3", [](const In& x) { return tg::pow(x[0], -3); }},
      {"unary.pow_1.5", [](const In& x) { return tg::pow(x[0], 1.5); }},
      {"unary.pow_2.5", [](const In& x) { return tg::pow(x[0], 2.5); }},
      {"unary.pow_4", [](const In& x) { return tg::pow(x[0], 4); }},
      {"edge.log_zero", [](const In& x) { return tg::log(x[0]); }},
      {"edge.sqrt_zero", [](const In& x) { return tg::sqrt(x[0]); }},
      {"edge.relu_nan", [](const In& x) { return tg::relu(x[0]); }},
      {"edge.exp_large", [](const In& x) { return tg::exp(x[0]); }},
      // ---- softmax ----
      {"softmax.dim1", [](const In& x) { return tg::softmax(x[0], 1); }},
      {"softmax.dim0", [](const In& x) { return tg::softmax(x[0], 0); }},
      {"softmax.dim_neg2", [](const In& x) { return tg::softmax(x[0], -2); }},
      {"softmax.dim_neg1", [](const In& x) { return tg::softmax(x[0], -1); }},
      {"softmax.large", [](const In& x) { return tg::softmax(x[0] * 1000, 1); }},
      {"softmax.1d", [](const In& x) { return tg::softmax(x[0], 0); }},
      {"log_softmax.dim1", [](const In& x) { return tg::log_softmax(x[0], 1); }},
      {"log_softmax.dim0", [](const In& x) { return tg::log_softmax(x[0], 0); }},
      {"log_softmax.dim_neg2", [](const In& x) { return tg::log_softmax(x[0], -2); }},
      {"log_softmax.large", [](const In& x) { return tg::log_softmax(x[0] * 1000, -1); }},
      {"log_softmax.neg_inf", [](const In& x) { return tg::log_softmax(x[0], 1); }},
      // ---- reductions ----
      {"reduce.sum_all", [](const In& x) { return x[0].sum(); }},
      {"reduce.sum_dim0", [](const In& x) { return x[0].sum(0); }},
      {"reduce.sum_dim1_keepdim", [](const In& x) { return x[0].sum(1, true); }},
      {"reduce.sum_middle", [](const In& x) { return x[0].sum(1); }},
      {"reduce.sum_neg1", [](const In& x) { return x[0].sum(-1); }},
      {"reduce.sum_neg3_keepdim", [](const In& x) { return x[0].sum(-3, true); }},
      {"reduce.mean_all", [](const In& x) { return x[0].mean(); }},
      {"reduce.mean_dim0", [](const In& x) { return x[0].mean(0); }},
      {"reduce.mean_neg1_keepdim", [](const In& x) { return x[0].mean(-1, true); }},
      {"reduce.mean_middle", [](const In& x) { return x[0].mean(1); }},
      {"reduce.var_all", [](const In& x) { return x[0].var(); }},
      {"reduce.var_dim0", [](const In& x) { return x[0].var(0); }},
      {"reduce.var_dim1_biased_keepdim", [](const In& x) { return x[0].var(1, false, true); }},
      {"reduce.var_neg2", [](const In& x) { return x[0].var(-2); }},
      {"reduce.var_offset", [](const In& x) { return x[0].var(1); }},
      {"reduce.max_all", [](const In& x) { return x[0].max(); }},
      {"reduce.max_all_ties", [](const In& x) { return x[0].max(); }},
      {"reduce.max_dim1", [](const In& x) { return x[0].max(1); }},
      {"reduce.max_dim0_keepdim", [](const In& x) { return x[0].max(0, true); }},
      {"reduce.max_neg1", [](const In& x) { return x[0].max(-1); }},
      {"reduce.max_middle", [](const In& x) { return x[0].max(1); }},
      {"reduce.max_dim_ties", [](const In& x) { return x[0].max(1); }},
      // ---- matmul ----
      {"matmul.mm", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.nd_2d", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.batched", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.bcast_batch", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.bcast_left", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.vec_mat", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.mat_vec", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.vec_vec", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.nd_vec", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.vec_nd", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.const_rhs", [](const In& x) { return x[0].matmul(x[1]); }},
      {"matmul.same", [](const In& x) { return tg::matmul(x[0], x[0]); }},
      // ---- shape ops ----
      {"shape.reshape", [](const In& x) { return x[0].reshape({2, 6}); }},
      {"shape.reshape_infer", [](const In& x) { return x[0].reshape({-1, 4}); }},
      {"shape.view_flatten", [](const In& x) { return x[0].flatten(); }},
      {"shape.unsqueeze1", [](const In& x) { return x[0].unsqueeze(1); }},
      {"shape.unsqueeze_neg1", [](const In& x) { return x[0].unsqueeze(-1); }},
      {"shape.squeeze_all", [](const In& x) { return x[0].squeeze(); }},
      {"shape.squeeze0", [](const In& x) { return x[0].squeeze(0); }},
      {"shape.squeeze_noop", [](const In& x) { return x[0].squeeze(-1); }},
      {"shape.t", [](const In& x) { return x[0].t(); }},
      {"shape.transpose02", [](const In& x) { return x[0].transpose(0, 2); }},
      {"shape.transpose_neg", [](const In& x) { return x[0].transpose(-1, -2); }},
      {"shape.narrow", [](const In& x) { return x[0].narrow(1, 1, 3); }},
      {"shape.narrow_neg", [](const In& x) { return x[0].narrow(-2, 1, 2); }},
      // ---- comparisons: 0/1 values, no gradient ----
      {"cmp.gt_bcast", [](const In& x) { return x[0] > x[1]; }},
      {"cmp.lt_scalar", [](const In& x) { return x[0] < 0.5; }},
      {"cmp.ge_scalar_left", [](const In& x) { return 0 >= x[0]; }},
      {"cmp.le_same", [](const In& x) { return x[0] <= x[1]; }},
      {"cmp.eq_bcast", [](const In& x) { return x[0] == x[1]; }},
      {"cmp.ne_scalar", [](const In& x) { return x[0] != 1; }},
      // ---- composites: gradients meeting from several paths ----
      {"composite.diamond",
       [](const In& x) { return tg::exp(x[0] * 0.5) + (x[0] * 2) * (x[0] * 2) + tg::tanh(x[0]); }},
      {"composite.bce",
       [](const In& x) {
         return -tg::mean(x[2] * tg::log(tg::sigmoid(tg::matmul(x[0], x[1])) + 1e-8) +
                          (1 - x[2]) * tg::log(1 - tg::sigmoid(tg::matmul(x[0], x[1])) + 1e-8));
       }},
      {"composite.layer",
       [](const In& x) {
         return tg::relu(tg::matmul(x[0], x[1].t()) + x[2]).sum(1, true) / (x[0].var(1, true, true) + 1);
       }},
      {"composite.normalize",
       [](const In& x) { return (x[0] - x[0].mean(0)) / tg::sqrt(x[0].var(0, false) + 1e-5); }},
  };
}

const Golden& core_golden() { return golden_file("core_ops.txt"); }

bool has(const std::string& name) { return core_golden().count(name) != 0; }

const GoldenTensor& golden(const std::string& name) { return golden_entry(core_golden(), name); }

// Agreement with PyTorch: |a - e| <= rtol |e| for every element, with no absolute slack (an
// exact 0 must come out 0, a denormal the same denormal: that is how Eigen's clamped exp was
// caught); nan must be nan and an infinity the same infinity. The data has no element that
// cancels to near zero, so pure relative agreement holds (see the worst errors reported with
// TAPEGRAD_GOLDEN_REPORT=1: ~1e-14 in double, ~3e-6 in float).
template <class T>
double rtol() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-7;
}

struct Worst {
  double rel = 0;  // the largest |a - e| / |e| over nonzero elements
  std::string where;
};

template <class T>
Worst& worst() {
  static Worst w;
  return w;
}

template <class T>
void check_matches(const tg::Tensor<T>& actual, const std::string& name) {
  const GoldenTensor& g = golden(name);
  INFO("golden tensor " << name);
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == g.shape);
  const double rel_tol = rtol<T>();
  int64_t failures = 0;
  size_t first_failure = 0;
  double tensor_worst = 0;
  // An element that is a difference of much larger terms (softmax's gradient y (g - sum g y))
  // carries their rounding: it may also miss by a tenth of rtol of the tensor's largest value.
  // FMA contraction (-march=native on a CPU with FMA) moves such elements by more than rtol.
  double scale = 0;
  for (double e : g.values) {
    if (std::isfinite(e)) scale = std::max(scale, std::abs(e));
  }
  for (size_t i = 0; i < g.values.size(); ++i) {
    const double a = actual.data()[i], e = g.values[i];
    bool ok;
    if (std::isnan(e)) {
      ok = std::isnan(a);
    } else if (std::isinf(e)) {
      ok = a == e;
    } else {
      const double err = std::abs(a - e);
      ok = err <= rel_tol * (std::abs(e) + 0.1 * scale);
      if (e != 0) tensor_worst = std::max(tensor_worst, err / std::abs(e));
    }
    if (!ok && failures++ == 0) first_failure = i;
  }
  if (failures) {
    const double a = actual.data()[first_failure], e = g.values[first_failure];
    INFO(failures << " of " << g.values.size() << " elements differ; first at " << first_failure << ": tapegrad "
                  << a << ", PyTorch " << e << " (rtol " << rel_tol << ")");
    CHECK(failures == 0);
  }
  if (tensor_worst > worst<T>().rel) worst<T>() = {tensor_worst, name};
  if (std::getenv("TAPEGRAD_GOLDEN_REPORT")) std::cout << name << " max rel error " << tensor_worst << "\n";
}

// The case names in the golden file: every "<case>.out.f64".
std::set<std::string> golden_cases() { return golden_case_names(core_golden(), ".out.f64", "mixed."); }

// Runs one golden case: inputs from the file, forward, backward with the file's upstream
// gradient, then the output and every input gradient against PyTorch's.
template <class T>
void run_case(const std::string& name, const CaseFn<T>& fn) {
  INFO("case " << name << " in " << (std::is_same_v<T, float> ? "float" : "double"));
  // gen_golden.py's DOUBLE_ONLY cases are ill-conditioned in float: no float data for them.
  if (!has(name + ".out." + dtype_tag<T>())) return;
  Inputs<T> inputs;
  std::vector<bool> requires;
  for (int i = 0;; ++i) {
    const std::string in = name + ".in" + std::to_string(i), c = name + ".const" + std::to_string(i);
    if (!has(in) && !has(c)) break;
    tg::Tensor<T> x = to_tensor<T>(golden(has(in) ? in : c));
    x.requires_grad_(has(in));
    inputs.push_back(x);
    requires.push_back(has(in));
  }
  REQUIRE(!inputs.empty());
  tg::Tensor<T> out = fn(inputs);
  check_matches(out, name + ".out." + dtype_tag<T>());
  if (!has(name + ".gout")) {  // comparisons: no graph
    CHECK_FALSE(out.requires_grad());
    return;
  }
  REQUIRE(out.requires_grad());
  out.backward(to_tensor<T>(golden(name + ".gout")));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (requires[i]) {
      check_matches(inputs[i].grad(), name + ".grad" + std::to_string(i) + "." + dtype_tag<T>());
    } else {
      CHECK_FALSE(inputs[i].grad().defined());
    }
  }
}

// Runs every golden case whose name starts with `prefix` and returns how many ran.
template <class T>
int run_category(const std::string& prefix) {
  static const auto table = op_cases<T>();
  int count = 0;
  for (const std::string& name : golden_cases()) {
    if (name.rfind(prefix, 0) != 0) continue;
    const auto it = table.find(name);
    {
      INFO("golden case " << name << " has no twin in op_cases()");
      REQUIRE(it != table.end());
    }
    run_case<T>(name, it->second);
    ++count;
  }
  return count;
}

template <class T>
void report_worst(const char* what) {
  if (std::getenv("TAPEGRAD_GOLDEN_REPORT")) {
    std::cout << what << (std::is_same_v<T, float> ? " float" : " double") << ": worst relative error so far "
              << worst<T>().rel << " in " << worst<T>().where << "\n";
  }
}

}  // namespace

TEST_CASE("golden: every case in core_ops.txt has a C++ twin and vice versa", "[golden]") {
  const auto cases = golden_cases();
  const auto table = op_cases<double>();
  CHECK(cases.size() == table.size());
  for (const auto& name : cases) {
    INFO("golden case without a C++ twin: " << name);
    CHECK(table.count(name) == 1);
  }
  for (const auto& entry : table) {
    INFO("C++ case missing from core_ops.txt (rerun tools/gen_golden.py): " << entry.first);
    CHECK(cases.count(entry.first) == 1);
  }
}

#define TAPEGRAD_GOLDEN_CATEGORY(TITLE, PREFIX, MIN_CASES)               \
  TEMPLATE_TEST_CASE("golden: " TITLE, "[golden]", float, double) {     \
    CHECK(run_category<TestType>(PREFIX) >= MIN_CASES);                 \
    report_worst<TestType>(PREFIX);                                     \
  }

TAPEGRAD_GOLDEN_CATEGORY("+ - * / with broadcasting and scalars", "arith.", 20)
TAPEGRAD_GOLDEN_CATEGORY("exp log sqrt abs pow tanh sigmoid relu", "unary.", 22)
TAPEGRAD_GOLDEN_CATEGORY("infinities and NaN", "edge.", 4)
TAPEGRAD_GOLDEN_CATEGORY("softmax", "softmax.", 6)
TAPEGRAD_GOLDEN_CATEGORY("log_softmax", "log_softmax.", 5)
TAPEGRAD_GOLDEN_CATEGORY("sum mean var max, keepdim and negative dims", "reduce.", 22)
TAPEGRAD_GOLDEN_CATEGORY("matmul, batched and broadcast", "matmul.", 12)
TAPEGRAD_GOLDEN_CATEGORY("reshape squeeze unsqueeze t transpose narrow", "shape.", 13)
TAPEGRAD_GOLDEN_CATEGORY("comparisons give 0/1 without gradient", "cmp.", 6)
TAPEGRAD_GOLDEN_CATEGORY("composite expressions", "composite.", 4)

TEMPLATE_TEST_CASE("golden: the mixed expression, its intermediates and gradients", "[golden]", float, double) {
  using T = TestType;
  auto X = to_tensor<T>(golden("mixed.X"));
  auto W = to_tensor<T>(golden("mixed.W"));
  auto bias = to_tensor<T>(golden("mixed.bias"));
  auto onehot = to_tensor<T>(golden("mixed.onehot"));
  X.requires_grad_();
  W.requires_grad_();
  bias.requires_grad_();

  auto z = tg::matmul(X, W) + bias;                                 // (8, 4)
  auto s = tg::sigmoid(z) * tg::softmax(z, 1);                      // (8, 4)
  auto r = s.sum(1, true) / s.mean(0, true);                        // (8, 1) / (1, 4) -> (8, 4)
  auto ce = -(onehot * tg::log_softmax(z, 1)).sum();                // ()
  auto u = tg::exp(-tg::abs(z)) + tg::log(1 + z * z) + tg::sqrt(s) + tg::pow(tg::tanh(z), 2) + tg::relu(z) +
           tg::pow(s + 0.1, 1.5);                                   // (8, 4)
  auto q = u / (1 + tg::abs(bias));                                 // (8, 4) / (4)
  auto v = q.var(0);                                                // (4)
  auto m = r.max(1);                                                // (8)
  auto mx = q.max(-1, true);                                        // (8, 1)
  auto loss = ce + v.sum() + 0.5 * m.mean() - tg::pow(mx - q.mean(1, true), 2).mean() / r.mean();
  loss.backward();

  const std::pair<const char*, tg::Tensor<T>> parts[] = {{"z", z},   {"s", s}, {"r", r}, {"ce", ce},
                                                         {"u", u},   {"q", q}, {"v", v}, {"m", m},
                                                         {"mx", mx}, {"loss", loss}};
  for (const auto& part : parts) check_matches(part.second, std::string("mixed.") + part.first + "." + dtype_tag<T>());
  check_matches(X.grad(), "mixed.grad_X." + dtype_tag<T>());
  check_matches(W.grad(), "mixed.grad_W." + dtype_tag<T>());
  check_matches(bias.grad(), "mixed.grad_bias." + dtype_tag<T>());
  report_worst<T>("mixed");
}
