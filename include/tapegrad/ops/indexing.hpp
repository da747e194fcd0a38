#pragma once
// Indexing: select, index_select, gather (values picked by integer positions) and one_hot.
// index_select and gather read each output element from one offset of the input; their
// backward adds each gradient element back at its offset (repeated indices accumulate, as
// PyTorch's index_add / scatter_add), and that backward is itself an op whose backward takes
// from the same offsets, so create_graph differentiates them to any order.
#include <algorithm>
#include <vector>

#include "index_values.hpp"
#include "shape_ops.hpp"

namespace tapegrad {
namespace detail {

// For each output element, the offset in the input it reads; shared by the nodes that need them.
using TakeOffsets = IntrusivePtr<Storage<int64_t>>;

template <class T>
Tensor<T> put_add(const Tensor<T>& g, const TakeOffsets& offsets, const Dims& in_sizes);

// out[n] = x[offsets[n]], out shaped `out_sizes`; its backward is put_add. `name` is the node's.
template <class T>
Tensor<T> take(const Tensor<T>& x, const TakeOffsets& offsets, const Dims& out_sizes, const char* name) {
  Tensor<T> out = make_tensor<T>(out_sizes);
  const int64_t* off = offsets->data;
  const T* px = x.data();
  T* po = out.data();
  for (int64_t n = 0, count = out.numel(); n < count; ++n) po[n] = px[off[n]];
  if (any_requires_grad(x)) {
    record(out, name, [offsets, s = x.sizes()](const Tensor<T>& g, GradOut<T>& in) { in[0] = put_add(g, offsets, s); }, x);
  }
  return out;
}

// gx = zeros(in_sizes); gx[offsets[n]] += g[n]: take's backward. Its own backward takes gg at
// the same offsets.
template <class T>
Tensor<T> put_add(const Tensor<T>& g, const TakeOffsets& offsets, const Dims& in_sizes) {
  Tensor<T> gx = make_tensor<T>(in_sizes).fill_(T(0));
  const int64_t* off = offsets->data;
  const T* pg = g.data();
  T* px = gx.data();
  for (int64_t n = 0, count = g.numel(); n < count; ++n) px[off[n]] += pg[n];
  if (any_requires_grad(g)) {
    record(gx, "ScatterAddBackward0", [offsets, s = g.sizes()](const Tensor<T>& gg, GradOut<T>& in) {
      in[0] = take(gg, offsets, s, "GatherBackward0");
    }, g);
  }
  return gx;
}

}  // namespace detail

// The slice at position `index` along `dim`, that dim removed; a negative index counts from the end.
template <class T>
Tensor<T> select(const Tensor<T>& x, int64_t dim, int64_t index) {
  const Dims& s = x.checked("select").sizes;
  detail::check(!s.empty(), "select: cannot be applied to a 0-dim tensor");
  const int d = detail::normalize_dim(dim, s.size(), "select", s);
  const int64_t size = s[d];
  detail::check(index >= -size && index < size, "select: index ", index, " is out of range for dim ", dim, " of shape ", s,
                " (expected ", -size, " <= index < ", size, ")");
  Dims out = s;
  out.erase(d);
  return detail::alias_op(detail::narrow_values(x, d, index < 0 ? index + size : index, 1), out, "SelectBackward0");
}

// The slices along `dim` at the positions `index` holds (a 1-D index tensor, or 0-d for one),
// in its order, repeats allowed: out.size(dim) = index.numel().
template <class T>
Tensor<T> index_select(const Tensor<T>& x, int64_t dim, const Tensor<T>& index) {
  const Dims& s = x.checked("index_select").sizes;
  const Dims& si = index.checked("index_select").sizes;
  detail::check(si.size() <= 1, "index_select: index must be a 1-D tensor (a vector), got shape ", si);
  const int d = detail::normalize_dim(dim, s.size(), "index_select", s);
  const int64_t size = s.empty() ? 1 : s[d], picks = si.numel();
  const detail::IndexValues k = detail::index_values(index, detail::IndexBound{"index_select", size, nullptr, dim});
  Dims os = s;
  if (s.empty()) {
    detail::check(picks == 1, "index_select: a 0-dim tensor takes an index of one element, got shape ", si);
  } else {
    os[d] = picks;
  }
  // x: (outer, size, inner) -> out: (outer, picks, inner)
  const int64_t outer = s.product(0, d), inner = s.product(d + 1, s.size());
  detail::TakeOffsets offsets = detail::Storage<int64_t>::create(outer * picks * inner);
  int64_t* off = offsets->data;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t p = 0; p < picks; ++p) {
      const int64_t from = (o * size + k->data[p]) * inner;
      for (int64_t i = 0; i < inner; ++i) *off++ = from + i;
    }
  }
  return detail::take(x, offsets, os, "IndexSelectBackward0");
}

// out[i][j][k] = x[i][index[i][j][k]][k] for dim 1 (likewise for any dim): index has x's rank,
// no larger than x in the other dims; out has index's shape.
template <class T>
Tensor<T> gather(const Tensor<T>& x, int64_t dim, const Tensor<T>& index) {
  const Dims& s = x.checked("gather").sizes;
  const Dims& si = index.checked("gather").sizes;
  const int d = detail::normalize_dim(dim, s.size(), "gather", s);
  detail::check(si.size() == s.size(), "gather: index of shape ", si, " must have as many dims as the input of shape ", s);
  for (int k = 0; k < s.size(); ++k) {
    detail::check(k == d || si[k] <= s[k], "gather: index of shape ", si, " is larger than the input of shape ", s,
                  " at dim ", k, " (", si[k], " > ", s[k], "; only dim ", d, " may be larger)");
  }
  const int64_t size = s.empty() ? 1 : s[d];
  const detail::IndexValues k = detail::index_values(index, detail::IndexBound{"gather", size, nullptr, dim});
  // Walk index's elements in order with their coordinates; the offset in x uses x's strides.
  Dims stride = s;
  int64_t st = 1;
  for (int i = s.size() - 1; i >= 0; --i) {
    stride[i] = st;
    st *= s[i];
  }
  const int64_t n = si.numel();
  detail::TakeOffsets offsets = detail::Storage<int64_t>::create(n);
  int64_t* off = offsets->data;
  Dims at = si;
  for (int i = 0; i < si.size(); ++i) at[i] = 0;
  for (int64_t e = 0; e < n; ++e) {
    int64_t o = 0;
    for (int i = 0; i < si.size(); ++i) o += (i == d ? k->data[e] : at[i]) * stride[i];
    off[e] = o;
    for (int i = si.size() - 1; i >= 0 && ++at[i] == si[i]; --i) at[i] = 0;
  }
  return detail::take(x, offsets, si, "GatherBackward0");
}

// One-hot rows: for an index tensor of shape (*), a (*, num_classes) tensor of 0 and 1 with the
// 1 at each index. num_classes = -1 takes the largest index plus one. No gradient.
template <class T>
Tensor<T> one_hot(const Tensor<T>& index, int64_t num_classes = -1) {
  const Dims& si = index.checked("one_hot").sizes;
  detail::check(num_classes >= -1, "one_hot: num_classes must be -1 (inferred) or >= 0, got ", num_classes);
  if (num_classes == -1) {
    detail::check(si.numel() > 0, "one_hot: cannot infer num_classes from an empty index tensor of shape ", si);
    const T* pi = index.data();
    T largest = pi[0];
    for (int64_t k = 0; k < si.numel(); ++k) {
      // a value that is not an integer (or NaN) is reported by index_values below
      if (!(pi[k] <= largest)) largest = pi[k];
    }
    detail::check(!(largest >= T(1e9)), "one_hot: the largest index ", largest, " is too large to infer num_classes from");
    num_classes = largest >= 0 ? static_cast<int64_t>(largest) + 1 : 0;
  }
  const detail::IndexValues k = detail::index_values(index, detail::IndexBound{"one_hot", num_classes, num_classes == 1 ? "class" : "classes"});
  Dims os = si;
  os.push_back(num_classes, "one_hot");
  Tensor<T> out = detail::make_tensor<T>(os).fill_(T(0));
  T* po = out.data();
  for (int64_t e = 0, n = si.numel(); e < n; ++e) po[e * num_classes + k->data[e]] = T(1);
  return out;
}

}  // namespace tapegrad
