#pragma once
// Shape ops: reshape, unsqueeze and squeeze share their input's values; t, transpose and
// narrow copy (tensors are always contiguous).
#include <limits>

#include "arithmetic.hpp"

namespace tapegrad {
namespace detail {

// A tensor sharing x's values under `sizes`, whose gradient is reshaped back.
template <class T>
Tensor<T> alias_op(const Tensor<T>& x, const Dims& sizes, const char* name) {
  Tensor<T> out = alias_with_shape(x, sizes);
  if (any_requires_grad(x)) {
    record(out, name, [s = x.sizes()](const Tensor<T>& g, GradOut<T>& in) { in[0] = alias_with_shape(g, s); }, x);
  }
  return out;
}

// Resolves a reshape target, inferring one -1.
inline Dims infer_shape(const Shape& shape, int64_t numel, const Dims& from, const char* op) {
  Dims out;
  int infer_at = -1;
  int64_t known = 1;
  bool valid = static_cast<int>(shape.size()) <= kMaxDims;
  for (size_t i = 0; valid && i < shape.size(); ++i) {
    if (shape[i] == -1 && infer_at < 0) {
      infer_at = static_cast<int>(i);
      out.push_back(1);
    } else if (shape[i] < 0) {
      valid = false;
    } else {
      valid = shape[i] == 0 || known <= std::numeric_limits<int64_t>::max() / shape[i];
      known *= valid ? shape[i] : 1;
      out.push_back(shape[i]);
    }
  }
  if (valid && infer_at >= 0) {
    valid = known != 0 && numel % known == 0;
    if (valid) out[infer_at] = numel / known;
  }
  valid = valid && out.numel() == numel;
  if (!valid) fail(op, ": shape ", Dims::format(shape.begin(), shape.end()), " is invalid for input of shape ", from, " (", numel, " elements)");
  return out;
}

// out[..., j, ..., i, ...] = x[..., i, ..., j, ...] for dims d0 < d1.
template <class T>
Tensor<T> transpose_values(const Tensor<T>& x, int d0, int d1) {
  const Dims& s = x.sizes();
  Dims os = s;
  std::swap(os[d0], os[d1]);
  Tensor<T> out = make_tensor<T>(os);
  if (s.size() == 2) {
    const T* px = x.data();
    T* po = out.data();
    const int64_t rows = s[0], cols = s[1];
    for (int64_t j = 0; j < cols; ++j) {
      for (int64_t i = 0; i < rows; ++i) po[j * rows + i] = px[i * cols + j];
    }
    return out;
  }
  // Walk out in order; the source offset uses x's strides with d0 and d1 swapped.
  Dims in_strides = s;
  int64_t stride = 1;
  for (int i = s.size() - 1; i >= 0; --i) {
    in_strides[i] = stride;
    stride *= s[i];
  }
  Dims src_strides = in_strides;
  std::swap(src_strides[d0], src_strides[d1]);
  const T* px = x.data();
  T* po = out.data();
  const Dims zero = broadcast_strides(Dims(), os);
  for_each_broadcast(os, src_strides, zero, [&](int64_t i, int64_t is, int64_t) { po[i] = px[is]; });
  return out;
}

}  // namespace detail

namespace detail {

template <class T>
Tensor<T> reshape_op(const Tensor<T>& x, const Shape& shape, const char* op) {
  const Dims& s = x.checked(op).sizes;
  return alias_op(x, infer_shape(shape, s.numel(), s, op), "ViewBackward");
}

}  // namespace detail

template <class T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape) {
  return detail::reshape_op(x, shape, "reshape");
}

// Tensors are always contiguous, so a view is a reshape (sharing the values).
template <class T>
Tensor<T> view(const Tensor<T>& x, const Shape& shape) {
  return detail::reshape_op(x, shape, "view");
}

template <class T>
Tensor<T> unsqueeze(const Tensor<T>& x, int64_t dim) {
  Dims s = x.checked("unsqueeze").sizes;
  const int d = detail::normalize_dim(dim, s.size() + 1, "unsqueeze", s);
  s.insert(d, 1, "unsqueeze");
  return detail::alias_op(x, s, "UnsqueezeBackward");
}

template <class T>
Tensor<T> squeeze(const Tensor<T>& x) {
  const Dims& s = x.checked("squeeze").sizes;
  Dims out;
  for (int64_t v : s) {
    if (v != 1) out.push_back(v);
  }
  return detail::alias_op(x, out, "SqueezeBackward");
}

template <class T>
Tensor<T> squeeze(const Tensor<T>& x, int64_t dim) {
  Dims s = x.checked("squeeze").sizes;
  const int d = detail::normalize_dim(dim, s.size(), "squeeze", s);
  if (!s.empty() && s[d] == 1) s.erase(d);
  return detail::alias_op(x, s, "SqueezeBackward");
}

template <class T>
Tensor<T> transpose(const Tensor<T>& x, int64_t dim0, int64_t dim1) {
  const Dims& s = x.checked("transpose").sizes;
  int d0 = detail::normalize_dim(dim0, s.size(), "transpose", s);
  int d1 = detail::normalize_dim(dim1, s.size(), "transpose", s);
  if (d0 > d1) std::swap(d0, d1);
  if (d0 == d1 || s.size() < 2) return detail::alias_op(x, s, "TransposeBackward");
  Tensor<T> out = detail::transpose_values(x, d0, d1);
  if (detail::any_requires_grad(x)) {
    detail::record(out, "TransposeBackward", [d0, d1](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::transpose_values(g, d0, d1);
    }, x);
  }
  return out;
}

// The transpose of a matrix; 0-d and 1-d tensors come back as they are, like PyTorch.
template <class T>
Tensor<T> t(const Tensor<T>& x) {
  const Dims& s = x.checked("t").sizes;
  detail::check(s.size() <= 2, "t: expects a tensor with <= 2 dimensions, but got shape ", s);
  return transpose(x, 0, s.size() == 2 ? 1 : 0);
}

// Elements [start, start + length) along dim, as a new tensor.
template <class T>
Tensor<T> narrow(const Tensor<T>& x, int64_t dim, int64_t start, int64_t length) {
  const Dims& s = x.checked("narrow").sizes;
  detail::check(!s.empty(), "narrow: cannot be applied to a 0-dim tensor");
  const int d = detail::normalize_dim(dim, s.size(), "narrow", s);
  if (start < 0 && start >= -s[d]) start += s[d];
  detail::check(start >= 0 && start <= s[d] && length >= 0 && length <= s[d] - start, "narrow: start ", start, " and length ", length,
                " are out of range for dim ", dim, " of shape ", s);
  Dims os = s;
  os[d] = length;
  Tensor<T> out = detail::make_tensor<T>(os);
  const int64_t outer = s.product(0, d), inner = s.product(d + 1, s.size());
  for (int64_t o = 0; o < outer; ++o) {
    std::copy_n(x.data() + (o * s[d] + start) * inner, length * inner, out.data() + o * length * inner);
  }
  if (detail::any_requires_grad(x)) {
    detail::record(out, "NarrowBackward", [s, d, start, length, outer, inner](const Tensor<T>& g, detail::GradOut<T>& in) {
      Tensor<T> gx = detail::make_tensor<T>(s).fill_(T(0));
      for (int64_t o = 0; o < outer; ++o) {
        std::copy_n(g.data() + o * length * inner, length * inner, gx.data() + (o * s[d] + start) * inner);
      }
      in[0] = gx;
    }, x);
  }
  return out;
}

}  // namespace tapegrad
