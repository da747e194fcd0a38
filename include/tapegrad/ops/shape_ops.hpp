#pragma once
// Shape ops: reshape, flatten, unsqueeze and squeeze share their input's values; t, transpose and
// narrow copy (tensors are always contiguous).
#include <initializer_list>
#include <limits>
#include <vector>

#include "arithmetic.hpp"

namespace tapegrad {
namespace detail {

// A tensor sharing x's values under `sizes`, whose gradient is reshaped back.
template <class T>
Tensor<T> alias_op(const Tensor<T>& x, const Dims& sizes, const char* name) {
  Tensor<T> out = alias_with_shape(x, sizes);
  if (any_requires_grad(x)) {
    record(out, name, [s = x.sizes(), name](const Tensor<T>& g, GradOut<T>& in) { in[0] = alias_op(g, s, name); }, x);
  }
  return out;
}

// Resolves a reshape target, inferring one -1.
inline Dims infer_shape(IntArrayRef shape, int64_t numel, const Dims& from, const char* op) {
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
  parallel_for_each_broadcast(os, src_strides, zero, [&](int64_t i, int64_t is, int64_t) { po[i] = px[is]; });
  return out;
}

}  // namespace detail

namespace detail {

template <class T>
Tensor<T> reshape_op(const Tensor<T>& x, IntArrayRef shape, const char* op) {
  const Dims& s = x.checked(op).sizes;
  return alias_op(x, infer_shape(shape, s.numel(), s, op), "ViewBackward");
}

}  // namespace detail

template <class T>
Tensor<T> reshape(const Tensor<T>& x, IntArrayRef shape) {
  return detail::reshape_op(x, shape, "reshape");
}

// Tensors are always contiguous, so a view is a reshape (sharing the values).
template <class T>
Tensor<T> view(const Tensor<T>& x, IntArrayRef shape) {
  return detail::reshape_op(x, shape, "view");
}

// Dims start_dim..end_dim merged into one (their product), sharing x's values as reshape does;
// a 0-d tensor becomes [1], as torch.flatten.
template <class T>
Tensor<T> flatten(const Tensor<T>& x, int64_t start_dim = 0, int64_t end_dim = -1) {
  const Dims& s = x.checked("flatten").sizes;
  const int start = detail::normalize_dim(start_dim, s.size(), "flatten", s);
  const int end = detail::normalize_dim(end_dim, s.size(), "flatten", s);
  detail::check(start <= end, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim, " for input of shape ", s);
  Dims out;
  for (int d = 0; d < start; ++d) out.push_back(s[d]);
  int64_t merged = 1;  // of at most the input's own elements: no overflow
  for (int d = start; d <= end && d < s.size(); ++d) merged *= s[d];
  out.push_back(merged);
  for (int d = end + 1; d < s.size(); ++d) out.push_back(s[d]);
  return detail::alias_op(x, out, "ViewBackward");
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
      in[0] = transpose(g, d0, d1);
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

namespace detail {

// Copies rows of `length * inner` values between (outer, from_len, inner) and (outer, to_len,
// inner) layouts, at `from_start` in the source and `to_start` in the destination.
template <class T>
void copy_slabs(const T* src, int64_t from_len, int64_t from_start, T* dst, int64_t to_len, int64_t to_start,
                int64_t outer, int64_t length, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    std::copy_n(src + (o * from_len + from_start) * inner, length * inner, dst + (o * to_len + to_start) * inner);
  }
}

template <class T>
Tensor<T> narrow_values(const Tensor<T>& x, int d, int64_t start, int64_t length);

// narrow's backward: g placed at [start, start + g.size(d)) along d of zeros shaped `sizes`;
// its own backward is narrow again.
template <class T>
Tensor<T> unnarrow(const Tensor<T>& g, const Dims& sizes, int d, int64_t start) {
  const int64_t length = g.sizes()[d], outer = sizes.product(0, d), inner = sizes.product(d + 1, sizes.size());
  Tensor<T> gx = make_tensor<T>(sizes).fill_(T(0));
  copy_slabs(g.data(), length, int64_t(0), gx.data(), sizes[d], start, outer, length, inner);
  if (any_requires_grad(g)) {
    record(gx, "NarrowBackwardBackward", [d, start, length](const Tensor<T>& gg, GradOut<T>& in) {
      in[0] = narrow_values(gg, d, start, length);
    }, g);
  }
  return gx;
}

// Elements [start, start + length) along dim d (in range), as a new tensor in the graph.
template <class T>
Tensor<T> narrow_values(const Tensor<T>& x, int d, int64_t start, int64_t length) {
  const Dims& s = x.sizes();
  Dims os = s;
  os[d] = length;
  Tensor<T> out = make_tensor<T>(os);
  copy_slabs(x.data(), s[d], start, out.data(), length, int64_t(0), s.product(0, d), length, s.product(d + 1, s.size()));
  if (any_requires_grad(x)) {
    record(out, "NarrowBackward", [s, d, start](const Tensor<T>& g, GradOut<T>& in) { in[0] = unnarrow(g, s, d, start); }, x);
  }
  return out;
}

}  // namespace detail

// Elements [start, start + length) along dim, as a new tensor.
template <class T>
Tensor<T> narrow(const Tensor<T>& x, int64_t dim, int64_t start, int64_t length) {
  const Dims& s = x.checked("narrow").sizes;
  detail::check(!s.empty(), "narrow: cannot be applied to a 0-dim tensor");
  const int d = detail::normalize_dim(dim, s.size(), "narrow", s);
  if (start < 0 && start >= -s[d]) start += s[d];
  detail::check(start >= 0 && start <= s[d] && length >= 0 && length <= s[d] - start, "narrow: start ", start, " and length ", length,
                " are out of range for dim ", dim, " of shape ", s);
  return detail::narrow_values(x, d, start, length);
}

// The tensors joined along an existing dim; all of one rank, equal in every other dim. The
// backward hands each input its slice of the gradient.
template <class T>
Tensor<T> cat(const std::vector<Tensor<T>>& tensors, int64_t dim = 0) {
  detail::check(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Dims& first = tensors[0].checked("cat").sizes;
  detail::check(!first.empty(), "cat: zero-dimensional tensor (at position 0) cannot be concatenated");
  const int d = detail::normalize_dim(dim, first.size(), "cat", first);
  Dims os = first;
  os[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Dims& s = tensors[i].checked("cat").sizes;
    detail::check(s.size() == first.size(), "cat: tensors must have the same number of dims, got shapes ", first,
                  " (tensor 0) and ", s, " (tensor ", i, ")");
    for (int k = 0; k < s.size(); ++k) {
      detail::check(k == d || s[k] == first[k], "cat: shapes ", first, " and ", s, " (tensor ", i,
                    ") must match except in dim ", d, " (sizes ", first[k], " and ", s[k], " at dim ", k, ")");
    }
    os[d] += s[d];
  }
  Tensor<T> out = detail::make_tensor<T>(os);
  const int64_t outer = os.product(0, d), inner = os.product(d + 1, os.size());
  int64_t at = 0;
  for (const Tensor<T>& t : tensors) {
    const int64_t len = t.sizes()[d];
    detail::copy_slabs(t.data(), len, int64_t(0), out.data(), os[d], at, outer, len, inner);
    at += len;
  }
  if (detail::any_requires_grad(tensors)) {
    // the offsets into out's dim d, in a pool block (no heap allocation)
    auto offsets = detail::Storage<int64_t>::create(static_cast<int64_t>(tensors.size()) + 1);
    int64_t* off = offsets->data;
    off[0] = 0;
    for (size_t i = 0; i < tensors.size(); ++i) off[i + 1] = off[i] + tensors[i].sizes()[d];
    detail::record_list(out, "CatBackward", [d, offsets](const Tensor<T>& g, detail::GradOut<T>& in) {
      const int64_t* off = offsets->data;
      for (int i = 0; i < in.size(); ++i) {
        if (in.needed(i)) in[i] = detail::narrow_values(g, d, off[i], off[i + 1] - off[i]);
      }
    }, tensors);
  }
  return out;
}

template <class T>
Tensor<T> cat(std::initializer_list<Tensor<T>> tensors, int64_t dim = 0) {
  return cat(std::vector<Tensor<T>>(tensors), dim);
}

// The tensors, all of one shape, joined along a new dim.
template <class T>
Tensor<T> stack(const std::vector<Tensor<T>>& tensors, int64_t dim = 0) {
  detail::check(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const Dims& first = tensors[0].checked("stack").sizes;
  const int d = detail::normalize_dim(dim, first.size() + 1, "stack", first);
  std::vector<Tensor<T>> parts;
  parts.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    detail::check(tensors[i].checked("stack").sizes == first, "stack: expects each tensor to be equal size, but got ", first,
                  " at entry 0 and ", tensors[i].sizes(), " at entry ", i);
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

template <class T>
Tensor<T> stack(std::initializer_list<Tensor<T>> tensors, int64_t dim = 0) {
  return stack(std::vector<Tensor<T>>(tensors), dim);
}

}  // namespace tapegrad
