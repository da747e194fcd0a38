// Second and third derivatives against PyTorch's (tests/golden/higher_order.txt, written by
// tools/gen_higher_order_golden.py, whose docstring documents the file), and
// tg::autograd::functional's jacobian, hessian, vjp and hvp against torch.autograd.functional's.
//
// Per case, on the inputs PyTorch used and with its fixed random weights w, u_i, r_i:
//   y = f(x);  L = (y * w).sum();      g = grad(L, x, create_graph = true, allow_unused = true)
//   s = sum_i (g_i * u_i).sum();       h = grad(s, x, create_graph = true, allow_unused = true)
//   t = sum_i (h_i * r_i).sum();       k = grad(t, x, allow_unused = true)
// and y, g, h, k must agree with PyTorch to 1e-10 relative + 1e-12 absolute. An undefined
// result (PyTorch's None) counts as zeros, and a level whose scalar does not require grad is not
// differentiated (PyTorch would raise): all its results are zeros. Which of the two a given op
// produces is the implementation's business; only the numbers are compared.
//
// Assumptions about the API under construction (/work/shared/API.md, "Higher-order gradients
// and hooks"), beyond what include/ has today:
//   - tg::autograd::grad(outputs, inputs, grad_outputs = {}, retain_graph = std::nullopt,
//     create_graph = false, allow_unused = false) takes the lists as std::vector<Tensor<T>>
//     (this file passes named vectors, never braced lists) and returns one Tensor<T> per input,
//     undefined (defined() == false) for an unused input under allow_unused.
//   - tg::autograd::functional::jacobian(f, x) and hessian(f, x) return a Tensor<T> of shape
//     f(x).shape + x.shape and x.shape + x.shape. vjp(f, x, v) and hvp(f, x, v) return
//     std::pair<Tensor<T>, Tensor<T>>: {f(x), the product}, as torch returns the tuple
//     (func_output, vjp) / (func_output, hvp). f is passed as a
//     std::function<Tensor<T>(const Tensor<T>&)> (which a template parameter accepts too), x does
//     not require grad.
//   - tg::cat(std::vector<Tensor<T>>, dim) and tg::stack(std::vector<Tensor<T>>, dim) with
//     torch's semantics, gradients to every piece.
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace F = tapegrad::nn::functional;
using namespace tapegrad_test;

namespace {

using Tensor = tg::Tensor<double>;
using Vec = std::vector<Tensor>;
using CaseFn = std::function<Tensor(const Vec&)>;

constexpr double kRtol = 1e-10;
constexpr double kAtol = 1e-12;

const Golden& golden() { return golden_file("higher_order.txt"); }

bool has(const std::string& name) { return golden().count(name) != 0; }

Tensor gold(const std::string& name) { return golden_tensor<double>(golden(), name); }

// tg::autograd::grad with allow_unused, from named vectors.
Vec grad_of(const Tensor& output, const Vec& inputs, bool create_graph) {
  const Vec outputs{output};
  const Vec grad_outputs{};
  Vec g = tg::autograd::grad(outputs, inputs, grad_outputs, std::nullopt, create_graph, true);
  REQUIRE(g.size() == inputs.size());
  return g;
}

// ---- the functions, twins of tools/gen_higher_order_golden.py's CASES -----------------------

Tensor bn_train(const Vec& x) {
  return F::batch_norm(x[0], x[3], x[4], x[1], x[2], F::BatchNormOptions{true, 0.1, 1e-5});
}

Tensor bn_eval(const Vec& x) {
  return F::batch_norm(x[0], x[3], x[4], x[1], x[2], F::BatchNormOptions{false, 0.1, 1e-5});
}

std::map<std::string, CaseFn> cases() {
  using In = Vec;
  return {
      // ---- + - * / between tensors, with broadcasting ----
      {"arith.add", [](const In& x) { return x[0] + x[1]; }},
      {"arith.add_tanh", [](const In& x) { return tg::tanh(x[0] + x[1]); }},
      {"arith.add_3d", [](const In& x) { return (x[0] + x[1]).pow(3); }},
      {"arith.sub_3d", [](const In& x) { return (x[0] - x[1]).pow(3); }},
      {"arith.sub_row", [](const In& x) { return tg::tanh(x[0] - x[1]); }},
      {"arith.mul_row", [](const In& x) { return x[0] * x[1]; }},
      {"arith.mul_3d", [](const In& x) { return tg::tanh(x[0] * x[1]); }},
      {"arith.mul_self", [](const In& x) { return x[0] * x[0] * x[0]; }},
      {"arith.mul_const", [](const In& x) { return tg::tanh(x[0] * x[1]); }},
      {"arith.div_row", [](const In& x) { return x[0] / x[1]; }},
      {"arith.div_3d", [](const In& x) { return x[0] / x[1]; }},
      {"arith.div_self", [](const In& x) { return (x[0] + 1) / x[0]; }},
      {"arith.neg", [](const In& x) { return -x[0]; }},
      {"arith.neg_cubed", [](const In& x) { return (-x[0]).pow(3); }},
      // ---- tensor-scalar forms ----
      {"scalar.add", [](const In& x) { return x[0] + 2; }},
      {"scalar.add_cubed", [](const In& x) { return (x[0] + 2).pow(3); }},
      {"scalar.radd_cubed", [](const In& x) { return (2 + x[0]).pow(3); }},
      {"scalar.rsub_cubed", [](const In& x) { return (2 - x[0]).pow(3); }},
      {"scalar.sub_tanh", [](const In& x) { return tg::tanh(x[0] - 0.5); }},
      {"scalar.mul_tanh", [](const In& x) { return tg::tanh(x[0] * 3); }},
      {"scalar.rmul_cubed", [](const In& x) { return (2.5 * x[0]).pow(3); }},
      {"scalar.div_cubed", [](const In& x) { return (x[0] / 3).pow(3); }},
      {"scalar.rdiv", [](const In& x) { return 3 / x[0]; }},
      {"scalar.chain", [](const In& x) { return (((x[0] + 2) * 3 - 1.5) / 4).pow(3); }},
      // ---- elementwise functions ----
      {"unary.exp", [](const In& x) { return tg::exp(x[0]); }},
      {"unary.log", [](const In& x) { return tg::log(x[0]); }},
      {"unary.sqrt", [](const In& x) { return tg::sqrt(x[0]); }},
      {"unary.abs", [](const In& x) { return tg::abs(x[0]); }},
      {"unary.abs_cubed", [](const In& x) { return tg::abs(x[0]).pow(3); }},
      {"unary.tanh", [](const In& x) { return tg::tanh(x[0]); }},
      {"unary.sigmoid", [](const In& x) { return tg::sigmoid(x[0]); }},
      {"unary.relu", [](const In& x) { return tg::relu(x[0]); }},
      {"unary.relu_cubed", [](const In& x) { return tg::relu(x[0]).pow(3); }},
      {"unary.relu_times_x", [](const In& x) { return tg::relu(x[0]) * x[0]; }},
      {"unary.reciprocal", [](const In& x) { return tg::reciprocal(x[0]); }},
      {"unary.exp_log", [](const In& x) { return tg::log(tg::exp(x[0]) + x[0] * x[0]); }},
      // ---- pow with a scalar exponent ----
      {"pow.2", [](const In& x) { return tg::pow(x[0], 2); }},
      {"pow.3", [](const In& x) { return tg::pow(x[0], 3); }},
      {"pow.0.5", [](const In& x) { return tg::pow(x[0], 0.5); }},
      {"pow.-1", [](const In& x) { return tg::pow(x[0], -1); }},
      {"pow.-0.5", [](const In& x) { return tg::pow(x[0], -0.5); }},
      {"pow.2.5", [](const In& x) { return tg::pow(x[0], 2.5); }},
      {"pow.0", [](const In& x) { return tg::pow(x[0], 0); }},
      {"pow.2_of_tanh", [](const In& x) { return tg::pow(tg::tanh(x[0]), 2); }},
      // ---- matmul in every form ----
      {"matmul.dot", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.mat_vec", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.vec_mat", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.mm", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.nd_2d", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.batched", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.bcast_batch", [](const In& x) { return tg::matmul(x[0], x[1]); }},
      {"matmul.dot_tanh", [](const In& x) { return tg::tanh(tg::matmul(x[0], x[1])); }},
      {"matmul.mat_vec_tanh", [](const In& x) { return tg::tanh(tg::matmul(x[0], x[1])); }},
      {"matmul.vec_mat_tanh", [](const In& x) { return tg::tanh(tg::matmul(x[0], x[1])); }},
      {"matmul.mm_tanh", [](const In& x) { return tg::tanh(tg::matmul(x[0], x[1])); }},
      {"matmul.nd_2d_tanh", [](const In& x) { return tg::tanh(tg::matmul(x[0], x[1])); }},
      {"matmul.batched_tanh", [](const In& x) { return tg::tanh(tg::matmul(x[0], x[1])); }},
      {"matmul.bcast_batch_tanh", [](const In& x) { return tg::tanh(tg::matmul(x[0], x[1])); }},
      {"matmul.self", [](const In& x) { return tg::tanh(tg::matmul(x[0], x[0])); }},
      {"matmul.const_rhs", [](const In& x) { return tg::tanh(x[0].matmul(x[1])); }},
      // ---- reductions ----
      {"reduce.sum_all", [](const In& x) { return x[0].sum(); }},
      {"reduce.sum_all_cubed", [](const In& x) { return x[0].sum().pow(3); }},
      {"reduce.sum_dim", [](const In& x) { return x[0].sum(1).pow(3); }},
      {"reduce.sum_dim_keepdim", [](const In& x) { return tg::tanh(x[0].sum(0, true)); }},
      {"reduce.sum_neg_dim", [](const In& x) { return x[0].sum(-2).pow(3); }},
      {"reduce.mean_all", [](const In& x) { return tg::tanh(x[0].mean()); }},
      {"reduce.mean_dim", [](const In& x) { return x[0].mean(-1).pow(3); }},
      {"reduce.mean_dim_keepdim", [](const In& x) { return (x[0] - x[0].mean(1, true)).pow(3); }},
      {"reduce.var_unbiased", [](const In& x) { return x[0].var(1); }},
      {"reduce.var_biased_keepdim", [](const In& x) { return x[0].var(0, false, true); }},
      {"reduce.var_unbiased_keepdim_sqrt", [](const In& x) { return tg::sqrt(x[0].var(-1, true, true) + 0.1); }},
      {"reduce.var_biased_tanh", [](const In& x) { return tg::tanh(x[0].var(1, false)); }},
      {"reduce.max_all", [](const In& x) { return x[0].max(); }},
      {"reduce.max_all_cubed", [](const In& x) { return x[0].max().pow(3); }},
      {"reduce.max_dim", [](const In& x) { return x[0].max(1); }},
      {"reduce.max_dim_keepdim_cubed", [](const In& x) { return x[0].max(0, true).pow(3); }},
      {"reduce.max_neg_dim_tanh", [](const In& x) { return tg::tanh(x[0].max(-1) * 2); }},
      // ---- softmax, log_softmax ----
      {"softmax.dim0", [](const In& x) { return tg::softmax(x[0], 0); }},
      {"softmax.dim1", [](const In& x) { return tg::softmax(x[0], 1); }},
      {"softmax.dim_neg1", [](const In& x) { return tg::softmax(x[0], -1); }},
      {"log_softmax.dim0", [](const In& x) { return tg::log_softmax(x[0], 0); }},
      {"log_softmax.dim1", [](const In& x) { return tg::log_softmax(x[0], 1); }},
      {"log_softmax.dim_neg1", [](const In& x) { return tg::log_softmax(x[0], -1); }},
      // ---- shape ops ----
      {"shape.reshape", [](const In& x) { return x[0].reshape({-1}); }},
      {"shape.reshape_softmax", [](const In& x) { return tg::softmax(x[0].reshape({4, 3}), 1); }},
      {"shape.unsqueeze_outer", [](const In& x) { return tg::tanh(x[0].unsqueeze(1) * x[0].unsqueeze(0)); }},
      {"shape.squeeze_dim", [](const In& x) { return x[0].squeeze(1).pow(3); }},
      {"shape.squeeze_all", [](const In& x) { return tg::softmax(x[0].squeeze(), 0); }},
      {"shape.transpose", [](const In& x) { return tg::softmax(x[0].transpose(0, 2), -1); }},
      {"shape.transpose_neg", [](const In& x) { return x[0].transpose(-1, -2).pow(3); }},
      {"shape.t", [](const In& x) { return tg::tanh(tg::matmul(x[0].t(), x[0])); }},
      {"shape.narrow", [](const In& x) { return x[0].narrow(1, 1, 2).pow(3); }},
      {"shape.narrow_neg", [](const In& x) { return tg::log_softmax(x[0].narrow(-2, 0, 2), 0); }},
      // ---- nn::functional ----
      {"nn.linear", [](const In& x) { return F::linear(x[0], x[1], x[2]); }},
      {"nn.linear_tanh", [](const In& x) { return tg::tanh(F::linear(x[0], x[1], x[2])); }},
      {"nn.linear_nobias_tanh", [](const In& x) { return tg::tanh(F::linear(x[0], x[1])); }},
      {"nn.linear_3d_tanh", [](const In& x) { return tg::tanh(F::linear(x[0], x[1], x[2])); }},
      {"nn.batch_norm_train_2d", bn_train},
      {"nn.batch_norm_train_3d", bn_train},
      {"nn.batch_norm_train_tanh", [](const In& x) { return tg::tanh(bn_train(x)); }},
      {"nn.batch_norm_eval_2d", bn_eval},
      {"nn.batch_norm_eval_3d_tanh", [](const In& x) { return tg::tanh(bn_eval(x)); }},
      {"nn.bce", [](const In& x) { return F::binary_cross_entropy(x[0], x[1]); }},
      {"nn.bce_const_target", [](const In& x) { return F::binary_cross_entropy(x[0], x[1]); }},
      {"nn.bce_sigmoid", [](const In& x) { return F::binary_cross_entropy(tg::sigmoid(x[0]), x[1]); }},
      {"nn.mse", [](const In& x) { return F::mse_loss(x[0], x[1]); }},
      {"nn.mse_tanh", [](const In& x) { return F::mse_loss(tg::tanh(x[0]), x[1]); }},
      // ---- cat and stack (three inputs) ----
      {"join.cat_dim0", [](const In& x) { return tg::cat(Vec{x[0], x[1], x[2]}, 0); }},
      {"join.cat_dim0_cubed", [](const In& x) { return tg::cat(Vec{x[0], x[1], x[2]}, 0).pow(3); }},
      {"join.cat_dim1_softmax", [](const In& x) { return tg::softmax(tg::cat(Vec{x[0], x[1], x[2]}, 1), 1); }},
      {"join.cat_neg_dim_const", [](const In& x) { return tg::tanh(tg::cat(Vec{x[0], x[1], x[2]}, -1)); }},
      {"join.stack_dim0", [](const In& x) { return tg::stack(Vec{x[0], x[1], x[2]}, 0); }},
      {"join.stack_dim0_cubed", [](const In& x) { return tg::stack(Vec{x[0], x[1], x[2]}, 0).pow(3); }},
      {"join.stack_dim1_softmax", [](const In& x) { return tg::softmax(tg::stack(Vec{x[0], x[1], x[2]}, 1), 1); }},
      {"join.stack_same", [](const In& x) { return tg::tanh(tg::stack(Vec{x[0], x[1] * x[0], x[0]}, -1)); }},
      // ---- composites ----
      {"composite.api_example", [](const In& x) { return (tg::tanh(x[0]) * x[0]).sum(); }},
      {"composite.mlp",  // inputs X, W1, b1, W2, b2, T
       [](const In& x) { return F::mse_loss(F::linear(tg::tanh(F::linear(x[0], x[1], x[2])), x[3], x[4]), x[5]); }},
      {"composite.gradient_penalty",  // inputs x, W: the norm of d(critic)/dx pushed towards 1
       [](const In& x) {
         const Tensor critic = tg::tanh(tg::matmul(x[0], x[1])).sum();
         const Tensor gx = grad_of(critic, Vec{x[0]}, true)[0];
         REQUIRE(gx.defined());
         return (tg::sqrt(gx.pow(2).sum(1)) - 1).pow(2).mean();
       }},
      {"composite.diamond", [](const In& x) { return tg::exp(x[0] * 0.5) + (x[0] * 2) * (x[0] * 2) + tg::tanh(x[0]); }},
      {"composite.xent",  // inputs X, W, b, onehot
       [](const In& x) { return -(x[3] * tg::log_softmax(tg::matmul(x[0], x[1]) + x[2], 1)).sum(1).mean(); }},
      {"composite.normalize",
       [](const In& x) { return (x[0] - x[0].mean(0)) / tg::sqrt(x[0].var(0, false) + 1e-5); }},
  };
}

// The op case names in the golden file: every "<case>.y" outside "fn.".
std::set<std::string> golden_cases() { return golden_case_names(golden(), ".y", "fn."); }

// sum_i (results_i * weights_i).sum() over the defined results; undefined when none is.
Tensor weighted_sum(const Vec& results, const Vec& weights) {
  Tensor total;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].defined()) continue;
    const Tensor term = (results[i] * weights[i]).sum();
    total = total.defined() ? total + term : term;
  }
  return total;
}

// One level of the nest: the scalar's gradients with respect to the inputs, or all undefined
// when the scalar does not require grad (PyTorch would raise; its results there are zeros).
Vec level(const Tensor& scalar, const Vec& inputs, bool create_graph) {
  if (!scalar.defined() || !scalar.requires_grad()) return Vec(inputs.size());
  return grad_of(scalar, inputs, create_graph);
}

// A result against the golden one, an undefined result as zeros of the input's shape.
void expect_result(const Tensor& result, const Tensor& input, const std::string& name) {
  expect_golden(result.defined() ? result : tg::zeros<double>(input.shape()), golden(), name, kRtol, kAtol);
}

void run_case(const std::string& name, const CaseFn& fn) {
  INFO("case " << name);
  Vec inputs;
  std::vector<int> diff_index;  // positions of the inputs that require grad
  for (int i = 0;; ++i) {
    const std::string in = name + ".in" + std::to_string(i), c = name + ".const" + std::to_string(i);
    if (!has(in) && !has(c)) break;
    Tensor x = gold(has(in) ? in : c);
    if (has(in)) {
      x.requires_grad_();
      diff_index.push_back(i);
    }
    inputs.push_back(x);
  }
  REQUIRE(!diff_index.empty());
  Vec diff, us, rs;
  for (const int i : diff_index) {
    diff.push_back(inputs[static_cast<size_t>(i)]);
    us.push_back(gold(name + ".u" + std::to_string(i)));
    rs.push_back(gold(name + ".r" + std::to_string(i)));
  }

  const Tensor y = fn(inputs);
  expect_golden(y, golden(), name + ".y", kRtol, kAtol);
  const Tensor L = (y * gold(name + ".w")).sum();
  const Vec g = level(L, diff, true);
  const Vec h = level(weighted_sum(g, us), diff, true);
  const Vec k = level(weighted_sum(h, rs), diff, false);
  for (size_t j = 0; j < diff.size(); ++j) {
    const std::string i = std::to_string(diff_index[j]);
    expect_result(g[j], diff[j], name + ".g" + i);
    expect_result(h[j], diff[j], name + ".h" + i);
    expect_result(k[j], diff[j], name + ".k" + i);
  }
  for (const Tensor& x : diff) CHECK_FALSE(x.grad().defined());  // grad() leaves leaves' grad() alone
}

// Runs every golden case whose name starts with `prefix`; returns how many ran.
int run_family(const std::string& prefix) {
  static const auto table = cases();
  int count = 0;
  for (const std::string& name : golden_cases()) {
    if (name.rfind(prefix, 0) != 0) continue;
    const auto it = table.find(name);
    {
      INFO("golden case " << name << " has no twin in cases()");
      REQUIRE(it != table.end());
    }
    run_case(name, it->second);
    ++count;
  }
  return count;
}

// ---- torch.autograd.functional --------------------------------------------------------------

using Fn = std::function<Tensor(const Tensor&)>;
using FunctionDef = std::function<Tensor(const Tensor&, const Vec&)>;  // (x, constants)

// Twins of tools/gen_higher_order_golden.py's FUNCTIONS.
std::map<std::string, FunctionDef> functions() {
  return {
      {"fn.tanh_layer", [](const Tensor& x, const Vec& c) { return tg::tanh(tg::matmul(c[0], x) + c[1]); }},
      {"fn.log_softmax", [](const Tensor& x, const Vec& c) { return tg::log_softmax(tg::matmul(x, c[0]), -1); }},
      {"fn.pow_ratio", [](const Tensor& x, const Vec&) { return x.pow(2.5) / (1 + x) * tg::sigmoid(x); }},
      {"fn.cubic_pairs",
       [](const Tensor& x, const Vec&) { return x.pow(3).sum() + tg::tanh(x.unsqueeze(1) * x.unsqueeze(0)).sum(); }},
      {"fn.mlp_weight",
       [](const Tensor& x, const Vec& c) {
         return F::mse_loss(F::linear(tg::tanh(F::linear(c[0], x, c[1])), c[2]), c[3]);
       }},
      {"fn.xent_var",
       [](const Tensor& x, const Vec& c) {
         return -(tg::log_softmax(x, 1) * c[0]).sum() + x.var(0).sum() + tg::sqrt(x.pow(2).sum(1) + 1).sum();
       }},
  };
}

std::set<std::string> golden_functions() {
  std::set<std::string> names;
  const std::string suffix = ".x";
  for (const auto& entry : golden()) {
    const std::string& n = entry.first;
    if (n.rfind("fn.", 0) == 0 && n.size() > suffix.size() &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.insert(n.substr(0, n.size() - suffix.size()));
    }
  }
  return names;
}

// The function `name` closed over its golden constants, and its golden point.
std::pair<Fn, Tensor> golden_function(const std::string& name) {
  static const auto table = functions();
  const auto it = table.find(name);
  {
    INFO("golden function " << name << " has no twin in functions()");
    REQUIRE(it != table.end());
  }
  Vec consts;
  for (int j = 0; has(name + ".c" + std::to_string(j)); ++j) consts.push_back(gold(name + ".c" + std::to_string(j)));
  const FunctionDef def = it->second;
  Fn f = [def, consts](const Tensor& x) { return def(x, consts); };
  return {f, gold(name + ".x")};
}

// Runs `check` on every golden function that has the tensor `<f>.<what>`; returns how many.
int for_each_function_with(const std::string& what, const std::function<void(const std::string&)>& check) {
  int count = 0;
  for (const std::string& name : golden_functions()) {
    if (!has(name + "." + what)) continue;
    INFO("function " << name);
    check(name);
    ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("higher order: every golden case has a C++ twin and vice versa", "[higher_order]") {
  const auto names = golden_cases();
  const auto table = cases();
  CHECK(names.size() == table.size());
  for (const auto& name : names) {
    INFO("golden case without a C++ twin: " << name);
    CHECK(table.count(name) == 1);
  }
  for (const auto& entry : table) {
    INFO("C++ case missing from higher_order.txt (rerun tools/gen_higher_order_golden.py): " << entry.first);
    CHECK(names.count(entry.first) == 1);
  }
  const auto fnames = golden_functions();
  const auto ftable = functions();
  CHECK(fnames.size() == ftable.size());
  for (const auto& entry : ftable) {
    INFO("C++ function missing from higher_order.txt: " << entry.first);
    CHECK(fnames.count(entry.first) == 1);
  }
}

#define TAPEGRAD_HIGHER_ORDER_FAMILY(TITLE, PREFIX, MIN_CASES)                 \
  TEST_CASE("higher order: " TITLE, "[higher_order]") { CHECK(run_family(PREFIX) >= MIN_CASES); }

TAPEGRAD_HIGHER_ORDER_FAMILY("+ - * / between tensors, broadcast", "arith.", 14)
TAPEGRAD_HIGHER_ORDER_FAMILY("tensor-scalar + - * /", "scalar.", 10)
TAPEGRAD_HIGHER_ORDER_FAMILY("exp log sqrt abs tanh sigmoid relu reciprocal", "unary.", 12)
TAPEGRAD_HIGHER_ORDER_FAMILY("pow with scalar exponents", "pow.", 8)
TAPEGRAD_HIGHER_ORDER_FAMILY("matmul in every form", "matmul.", 16)
TAPEGRAD_HIGHER_ORDER_FAMILY("sum mean var max", "reduce.", 17)
TAPEGRAD_HIGHER_ORDER_FAMILY("softmax", "softmax.", 3)
TAPEGRAD_HIGHER_ORDER_FAMILY("log_softmax", "log_softmax.", 3)
TAPEGRAD_HIGHER_ORDER_FAMILY("reshape unsqueeze squeeze transpose t narrow", "shape.", 10)
TAPEGRAD_HIGHER_ORDER_FAMILY("linear batch_norm binary_cross_entropy mse_loss", "nn.", 14)
TAPEGRAD_HIGHER_ORDER_FAMILY("cat and stack", "join.", 8)
TAPEGRAD_HIGHER_ORDER_FAMILY("composite expressions", "composite.", 6)

TEST_CASE("higher order: the example of API.md", "[higher_order]") {
  auto x = tg::tensor<double>({0.3, -1.2}, {2}).requires_grad_();
  auto y = (tg::tanh(x) * x).sum();
  const Vec ys{y}, xs{x};
  auto dx = tg::autograd::grad(ys, xs, {}, true, true)[0];
  REQUIRE(dx.requires_grad());
  const Vec dxs{dx.sum()};
  auto ddx = tg::autograd::grad(dxs, xs)[0];
  // d/dx (tanh x + x sech^2 x) = 2 sech^2 x (1 - x tanh x)
  for (int i = 0; i < 2; ++i) {
    const double v = x.data()[i], sech2 = 1 - std::tanh(v) * std::tanh(v);
    CHECK(std::abs(ddx.data()[i] - 2 * sech2 * (1 - v * std::tanh(v))) <= 1e-14);
  }
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("higher order: autograd::functional::jacobian", "[higher_order][functional]") {
  const int n = for_each_function_with("jacobian", [](const std::string& name) {
    const auto [f, x] = golden_function(name);
    expect_golden(tg::autograd::functional::jacobian(f, x), golden(), name + ".jacobian", kRtol, kAtol);
  });
  CHECK(n >= 4);
}

TEST_CASE("higher order: autograd::functional::vjp", "[higher_order][functional]") {
  const int n = for_each_function_with("vjp", [](const std::string& name) {
    const auto [f, x] = golden_function(name);
    const std::pair<Tensor, Tensor> out = tg::autograd::functional::vjp(f, x, gold(name + ".vjp_v"));
    expect_golden(out.first, golden(), name + ".y", kRtol, kAtol);
    expect_golden(out.second, golden(), name + ".vjp", kRtol, kAtol);
  });
  CHECK(n >= 3);
}

TEST_CASE("higher order: autograd::functional::hessian", "[higher_order][functional]") {
  const int n = for_each_function_with("hessian", [](const std::string& name) {
    const auto [f, x] = golden_function(name);
    expect_golden(tg::autograd::functional::hessian(f, x), golden(), name + ".hessian", kRtol, kAtol);
  });
  CHECK(n >= 3);
}

TEST_CASE("higher order: autograd::functional::hvp", "[higher_order][functional]") {
  const int n = for_each_function_with("hvp", [](const std::string& name) {
    const auto [f, x] = golden_function(name);
    const std::pair<Tensor, Tensor> out = tg::autograd::functional::hvp(f, x, gold(name + ".hvp_v"));
    expect_golden(out.first, golden(), name + ".y", kRtol, kAtol);
    expect_golden(out.second, golden(), name + ".hvp", kRtol, kAtol);
  });
  CHECK(n >= 3);
}
