#pragma once
// torch.autograd.functional for one input tensor: jacobian, hessian, vjp, hvp, built on
// autograd::grad. As in PyTorch, x is differentiated through a fresh leaf that shares its
// values (x itself need not require grad), and the results are detached unless create_graph.
#include <utility>
#include <vector>

#include "../ops/tensor_methods.hpp"

namespace tapegrad::autograd::functional {
namespace detail {

// What f is differentiated at: a leaf sharing x's values, or with create_graph a view of x
// in x's graph (so the results stay differentiable in whatever x came from), as PyTorch's.
template <class T>
Tensor<T> differentiable_copy(const Tensor<T>& x, bool create_graph, const char* op) {
  if (create_graph && x.checked(op).requires_grad) return x.view(x.shape());
  return x.detach().requires_grad_();
}

template <class T>
Shape concat_shapes(const Tensor<T>& a, const Tensor<T>& b) {
  Shape s = a.shape();
  for (int64_t d : b.shape()) s.push_back(d);
  return s;
}

// g, or zeros shaped like `like` where the outputs did not reach the input.
template <class T>
Tensor<T> or_zeros(const Tensor<T>& g, const Tensor<T>& like) {
  return g.defined() ? g : zeros_like(like);
}

template <class T>
Tensor<T> finish(const Tensor<T>& t, bool create_graph) {
  return create_graph ? t : t.detach();
}

// The rows d out[j] / d x for every element j of out, stacked: shape out.shape + x.shape.
template <class T>
Tensor<T> jacobian_rows(const Tensor<T>& out, const Tensor<T>& x, bool create_graph) {
  const Shape shape = concat_shapes(out, x);
  const int64_t n = out.numel();
  if (n == 0 || !out.requires_grad()) return zeros<T>(shape);
  std::vector<Tensor<T>> rows;
  rows.reserve(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    Tensor<T> onehot = zeros_like(out);
    onehot.data()[j] = T(1);
    rows.push_back(or_zeros(autograd::grad({out}, {x}, {onehot}, true, create_graph, true)[0], x));
  }
  return finish(stack(rows, 0).reshape(shape), create_graph);
}

}  // namespace detail

// d f(x) / d x, of shape f(x).shape + x.shape.
template <class T, class F>
Tensor<T> jacobian(F&& f, const Tensor<T>& x, bool create_graph = false) {
  const Tensor<T> xs = detail::differentiable_copy(x, create_graph, "jacobian");
  const Tensor<T> out = f(xs);
  out.checked("jacobian");
  return detail::jacobian_rows(out, xs, create_graph);
}

// The second derivatives of a scalar f at x, of shape x.shape + x.shape.
template <class T, class F>
Tensor<T> hessian(F&& f, const Tensor<T>& x, bool create_graph = false) {
  const Tensor<T> xs = detail::differentiable_copy(x, create_graph, "hessian");
  const Tensor<T> out = f(xs);
  tapegrad::detail::check(out.checked("hessian").sizes.numel() == 1, "hessian: f must return one element, got shape ",
                          out.sizes());
  if (!out.requires_grad()) return zeros<T>(detail::concat_shapes(x, x));
  const Tensor<T> g = detail::or_zeros(autograd::grad({out}, {xs}, {}, true, true, true)[0], xs);
  return detail::jacobian_rows(g, xs, create_graph);
}

// {f(x), v^T J}: the vector-Jacobian product for v shaped like f(x) (may be left out for a
// one-element f(x)).
template <class T, class F>
std::pair<Tensor<T>, Tensor<T>> vjp(F&& f, const Tensor<T>& x, const Tensor<T>& v = Tensor<T>(), bool create_graph = false) {
  const Tensor<T> xs = detail::differentiable_copy(x, create_graph, "vjp");
  const Tensor<T> out = f(xs);
  out.checked("vjp");
  if (v.defined()) {
    tapegrad::detail::check(v.sizes() == out.sizes(), "vjp: v has shape ", v.sizes(), " but f(x) has shape ", out.sizes());
  }
  Tensor<T> product = out.requires_grad() ? autograd::grad({out}, {xs}, {v}, true, create_graph, true)[0] : Tensor<T>();
  return {detail::finish(out, create_graph), detail::finish(detail::or_zeros(product, xs), create_graph)};
}

// {f(x), H v}: the Hessian of a scalar f at x times v (shaped like x).
template <class T, class F>
std::pair<Tensor<T>, Tensor<T>> hvp(F&& f, const Tensor<T>& x, const Tensor<T>& v, bool create_graph = false) {
  const Tensor<T> xs = detail::differentiable_copy(x, create_graph, "hvp");
  const Tensor<T> out = f(xs);
  tapegrad::detail::check(out.checked("hvp").sizes.numel() == 1, "hvp: f must return one element, got shape ", out.sizes());
  tapegrad::detail::check(v.checked("hvp").sizes == x.sizes(), "hvp: v has shape ", v.sizes(), " but x has shape ", x.sizes());
  Tensor<T> product;
  if (out.requires_grad()) {
    const Tensor<T> g = autograd::grad({out}, {xs}, {}, true, true, true)[0];
    if (g.defined() && g.requires_grad()) product = autograd::grad({g}, {xs}, {v}, true, create_graph, true)[0];
  }
  return {detail::finish(out, create_graph), detail::finish(detail::or_zeros(product, xs), create_graph)};
}

}  // namespace tapegrad::autograd::functional
