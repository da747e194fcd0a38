#pragma once
// gradcheck: compares the tape's gradients with central finite differences, in double, with
// PyTorch's default tolerances. Also checks that a zero output gradient gives zero input
// gradients and that two backward passes accumulate exactly twice the gradient.
// gradgradcheck: the same check of the gradients' own gradients, as PyTorch's.
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "../core/autograd.hpp"
#include "../core/factories.hpp"
#include "../core/generator.hpp"
#include "../ops/tensor_methods.hpp"

namespace tapegrad::testing {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // |analytical - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-3;
  bool check_zero_grad = true;       // backward(0) leaves zero gradients
  bool check_accumulation = true;    // two backwards give twice the gradient
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // what failed, with input, element and both values
  explicit operator bool() const { return ok; }
};

namespace detail {

using Inputs = std::vector<Tensor<double>>;

inline void clear_grads(const Inputs& inputs) {
  for (Tensor<double> x : inputs) x.set_grad(Tensor<double>());
}

inline double grad_at(const Tensor<double>& x, int64_t k) {
  Tensor<double> g = x.grad();
  return g.defined() ? g.data()[k] : 0.0;
}

// The checks take f as a std::function, so that a program compiles each once, not once per
// function it checks (a test file checks dozens).
using Function = std::function<Tensor<double>(const Inputs&)>;

inline GradcheckResult gradcheck_function(const Function& f, const Inputs& inputs, const GradcheckOptions& opts) {
  GradcheckResult result;
  auto fail = [&](const std::string& why) {
    result.ok = false;
    result.message = "gradcheck: " + why;
    return result;
  };
  std::vector<size_t> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].requires_grad()) checked.push_back(i);
  }
  if (checked.empty()) return fail("no input requires grad");

  detail::clear_grads(inputs);
  Tensor<double> out = f(inputs);
  if (!out.requires_grad()) return fail("the output does not require grad");
  const int64_t n_out = out.numel();

  // Analytical Jacobian: one backward per output element, with a one-hot output gradient.
  std::vector<std::vector<double>> analytical;  // [input][k * n_out + j]
  for (size_t i : checked) analytical.emplace_back(static_cast<size_t>(inputs[i].numel() * n_out));
  for (int64_t j = 0; j < n_out; ++j) {
    detail::clear_grads(inputs);
    Tensor<double> onehot = zeros_like(out);
    onehot.data()[j] = 1;
    out.backward(onehot);
    for (size_t c = 0; c < checked.size(); ++c) {
      const Tensor<double>& x = inputs[checked[c]];
      for (int64_t k = 0; k < x.numel(); ++k) analytical[c][static_cast<size_t>(k * n_out + j)] = detail::grad_at(x, k);
    }
  }

  // Numerical Jacobian by central differences, restoring each value exactly. Outputs are
  // cloned, as PyTorch's gradcheck does: a view (reshape, squeeze) shares the input's values.
  for (size_t c = 0; c < checked.size(); ++c) {
    const Tensor<double>& x = inputs[checked[c]];
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double original = x.data()[k];
      Tensor<double> plus, minus;
      {
        NoGradGuard no_grad;
        x.data()[k] = original + opts.eps;
        plus = f(inputs).clone();
        x.data()[k] = original - opts.eps;
        minus = f(inputs).clone();
        x.data()[k] = original;
      }
      for (int64_t j = 0; j < n_out; ++j) {
        const double numerical = (plus.data()[j] - minus.data()[j]) / (2 * opts.eps);
        const double a = analytical[c][static_cast<size_t>(k * n_out + j)];
        if (!(std::abs(a - numerical) <= opts.atol + opts.rtol * std::abs(numerical))) {
          std::ostringstream os;
          os << "Jacobian mismatch for input " << checked[c] << " (shape " << x.sizes() << "), element " << k
             << ", output element " << j << ": analytical " << a << " vs numerical " << numerical;
          return fail(os.str());
        }
      }
    }
  }

  if (opts.check_zero_grad) {
    detail::clear_grads(inputs);
    out.backward(zeros_like(out));
    for (size_t i : checked) {
      for (int64_t k = 0; k < inputs[i].numel(); ++k) {
        if (detail::grad_at(inputs[i], k) != 0.0) {
          std::ostringstream os;
          os << "a zero output gradient gave input " << i << " element " << k << " the gradient "
             << detail::grad_at(inputs[i], k);
          return fail(os.str());
        }
      }
    }
  }

  if (opts.check_accumulation) {
    Generator gen(12345);
    Tensor<double> v = randn<double>(out.shape(), gen);
    detail::clear_grads(inputs);
    out.backward(v);
    std::vector<std::vector<double>> once;
    for (size_t i : checked) once.push_back(inputs[i].grad().defined() ? inputs[i].grad().to_vector() : std::vector<double>(static_cast<size_t>(inputs[i].numel()), 0.0));
    out.backward(v);
    for (size_t c = 0; c < checked.size(); ++c) {
      for (int64_t k = 0; k < inputs[checked[c]].numel(); ++k) {
        const double g1 = once[c][static_cast<size_t>(k)], g2 = detail::grad_at(inputs[checked[c]], k);
        if (!(std::abs(g2 - 2 * g1) <= 1e-12 * (1 + std::abs(g1)))) {
          std::ostringstream os;
          os << "two backwards gave input " << checked[c] << " element " << k << " the gradient " << g2
             << ", not twice " << g1;
          return fail(os.str());
        }
      }
    }
  }
  detail::clear_grads(inputs);
  return result;
}

inline GradcheckResult gradgradcheck_function(const Function& f, const Inputs& inputs, const GradcheckOptions& opts) {
  std::vector<size_t> differentiable;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].requires_grad()) differentiable.push_back(i);
  }
  GradcheckResult result;
  Tensor<double> out;
  {
    AutoGradMode grad_mode(true);
    out = f(inputs);
  }
  if (differentiable.empty() || !out.requires_grad()) {
    result.ok = false;
    result.message = differentiable.empty() ? "gradgradcheck: no input requires grad" : "gradgradcheck: the output does not require grad";
    return result;
  }
  Generator gen(54321);
  Inputs extended = inputs;
  extended.push_back(randn<double>(out.shape(), gen).requires_grad_());  // v
  // The first-order gradients, flattened into one tensor; f runs with grad mode on even when
  // gradcheck evaluates it for finite differences, as the gradients need a graph.
  auto first_order = [&f, &differentiable](const Inputs& in) {
    AutoGradMode grad_mode(true);
    const Inputs xs(in.begin(), in.end() - 1);
    std::vector<Tensor<double>> wrt;
    for (size_t i : differentiable) wrt.push_back(xs[i]);
    const std::vector<Tensor<double>> grads = autograd::grad({f(xs)}, wrt, {in.back()}, true, true, true);
    std::vector<Tensor<double>> parts;
    for (size_t k = 0; k < grads.size(); ++k) {
      parts.push_back(grads[k].defined() ? grads[k].reshape({-1}) : zeros<double>({wrt[k].numel()}));
    }
    return cat(parts);
  };
  result = gradcheck_function(first_order, extended, opts);
  if (!result.ok) result.message = "grad" + result.message + " (input " + std::to_string(inputs.size()) + " is the output gradient)";
  return result;
}

}  // namespace detail

// Checks d f(inputs) / d inputs for every input that requires grad. `f` maps the inputs to
// one tensor of any shape.
template <class F>
GradcheckResult gradcheck(F&& f, const std::vector<Tensor<double>>& inputs, const GradcheckOptions& opts = {}) {
  return detail::gradcheck_function(std::ref(f), inputs, opts);
}

// Checks second derivatives as PyTorch's gradgradcheck does: with a random output gradient v
// (seeded, so a failure replays), the first-order gradients g(inputs, v) =
// autograd::grad(f(inputs), inputs, v, create_graph) are gradchecked as a function of the
// inputs and of v. A gradient the output does not reach counts as zero.
template <class F>
GradcheckResult gradgradcheck(F&& f, const std::vector<Tensor<double>>& inputs, const GradcheckOptions& opts = {}) {
  return detail::gradgradcheck_function(std::ref(f), inputs, opts);
}

}  // namespace tapegrad::testing
