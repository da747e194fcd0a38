#pragma once
// Reductions that pick elements: min, argmax, argmin and topk, as PyTorch 1.13 on the CPU picks
// them (the first of equal values, NaN above everything, topk's order of ties that of its
// std::nth_element / std::partial_sort). A dim reduction views the input as (outer, n, inner)
// (ops/reduction.hpp's ReduceLayout); index results are tensors of T holding integers.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "reduction.hpp"

namespace tapegrad {

namespace detail {

// Whether v replaces best as the pick: the first max (or min) wins, a NaN wins and is kept.
template <class T>
bool beats(T v, T best, bool largest) {
  return largest ? !(v <= best) : !(v >= best);
}

// values[j] and index[j] (j = o * inner + i) = the pick along the reduced dim of x, for every
// (o, i) of layout l; either output may be null.
template <class T>
void pick_along(const T* x, const ReduceLayout& l, bool largest, T* values, int64_t* index) {
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const T* p = x + o * l.n * l.inner + i;
      T best = p[0];
      int64_t at = 0;
      for (int64_t k = 1; k < l.n && !std::isnan(best); ++k) {
        if (beats(p[k * l.inner], best, largest)) {
          best = p[k * l.inner];
          at = k;
        }
      }
      if (values) values[o * l.inner + i] = best;
      if (index) index[o * l.inner + i] = at;
    }
  }
}

// The layout of a dim reduction that must pick something: the dim may not be empty.
inline ReduceLayout pick_layout(const Dims& s, int64_t dim, bool keepdim, const char* op) {
  const auto l = reduce_layout(s, dim, keepdim, op);
  check(l.n > 0, op, ": cannot reduce over dim ", dim, " of size 0 (shape ", s, ")");
  return l;
}

// An index tensor (values k, as T) of the given shape.
template <class T>
Tensor<T> index_tensor(const int64_t* k, const Dims& sizes) {
  Tensor<T> out = make_tensor<T>(sizes);
  for (int64_t j = 0, n = sizes.numel(); j < n; ++j) out.data()[j] = static_cast<T>(k[j]);
  return out;
}

template <class T>
Tensor<T> arg_pick(const Tensor<T>& x, int64_t dim, bool keepdim, bool largest, const char* op) {
  const auto l = pick_layout(x.checked(op).sizes, dim, keepdim, op);
  std::vector<int64_t> index(static_cast<size_t>(l.outer * l.inner));
  pick_along<T>(x.data(), l, largest, nullptr, index.data());
  return index_tensor<T>(index.data(), l.out_sizes);
}

template <class T>
Tensor<T> arg_pick_all(const Tensor<T>& x, bool largest, const char* op) {
  const Dims& s = x.checked(op).sizes;
  check(s.numel() > 0, op, ": cannot reduce an empty tensor of shape ", s, " (there is nothing to pick); give a dim");
  ReduceLayout l;
  l.n = s.numel();
  int64_t at = 0;
  pick_along<T>(x.data(), l, largest, nullptr, &at);
  return index_tensor<T>(&at, Dims());
}

}  // namespace detail

// The smallest element (NaN if there is one); its gradient is shared evenly among the elements
// equal to it, as torch 1.13's min() backward (evenly_distribute_backward).
template <class T>
Tensor<T> min(const Tensor<T>& x) {
  const Dims& s = x.checked("min").sizes;
  const int64_t n = s.numel();
  detail::check(n > 0, "min: cannot reduce an empty tensor of shape ", s, " (there is no identity); give a dim");
  detail::ReduceLayout l;
  l.n = n;
  T best;
  detail::pick_along<T>(x.data(), l, false, &best, nullptr);
  Tensor<T> out = scalar_tensor<T>(best);
  if (detail::any_requires_grad(x)) detail::record_extreme_backward(out, "MinBackward", x, best);  // ties share it
  return out;
}

// The smallest value along dim (values only, as max(dim)): the first of equal values is the
// one picked, and it gets the gradient; a NaN is picked over any number.
template <class T>
Tensor<T> min(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  const auto l = detail::pick_layout(x.checked("min").sizes, dim, keepdim, "min");
  Tensor<T> out = detail::make_tensor<T>(l.out_sizes);
  detail::PickedIndex index = detail::Storage<int64_t>::create(l.outer * l.inner);
  detail::pick_along<T>(x.data(), l, false, out.data(), index->data);
  if (detail::any_requires_grad(x)) {
    detail::record(out, "MinBackward", [l, s = x.sizes(), index](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::scatter_picked(g, l, index, s);
    }, x);
  }
  return out;
}

// The position of the largest element of the flattened tensor (the first of equal ones; a NaN
// counts as the largest), a 0-d tensor. No gradient.
template <class T>
Tensor<T> argmax(const Tensor<T>& x) {
  return detail::arg_pick_all(x, true, "argmax");
}
template <class T>
Tensor<T> argmax(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  return detail::arg_pick(x, dim, keepdim, true, "argmax");
}
// The same for the smallest (a NaN still wins, as torch.argmin).
template <class T>
Tensor<T> argmin(const Tensor<T>& x) {
  return detail::arg_pick_all(x, false, "argmin");
}
template <class T>
Tensor<T> argmin(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  return detail::arg_pick(x, dim, keepdim, false, "argmin");
}

namespace detail {

// topk's picks: x viewed as (outer, n, inner), k positions along n for each (o, i), stored
// (outer, k, inner) like the values.
struct TopkLayout {
  int64_t outer = 1, n = 1, inner = 1, k = 0;
};
using TopkIndex = IntrusivePtr<Storage<int64_t>>;

template <class T>
Tensor<T> gather_topk(const Tensor<T>& gx, const TopkLayout& l, const TopkIndex& index, const Dims& out_sizes);

// g (shaped like topk's values) placed at the picked positions of zeros shaped `sizes`; its
// backward gathers from the same positions (topk never picks a position twice).
template <class T>
Tensor<T> scatter_topk(const Tensor<T>& g, const TopkLayout& l, const TopkIndex& index, const Dims& sizes) {
  Tensor<T> gx = make_tensor<T>(sizes).fill_(T(0));
  const int64_t* at = index->data;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t j = 0; j < l.k; ++j) {
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t src = (o * l.k + j) * l.inner + i;
        gx.data()[(o * l.n + at[src]) * l.inner + i] = g.data()[src];
      }
    }
  }
  if (any_requires_grad(g)) {
    record(gx, "TopkBackwardBackward", [l, index, s = g.sizes()](const Tensor<T>& gg, GradOut<T>& in) {
      in[0] = gather_topk(gg, l, index, s);
    }, g);
  }
  return gx;
}

template <class T>
Tensor<T> gather_topk(const Tensor<T>& gx, const TopkLayout& l, const TopkIndex& index, const Dims& out_sizes) {
  Tensor<T> g = make_tensor<T>(out_sizes);
  const int64_t* at = index->data;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t j = 0; j < l.k; ++j) {
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t dst = (o * l.k + j) * l.inner + i;
        g.data()[dst] = gx.data()[(o * l.n + at[dst]) * l.inner + i];
      }
    }
  }
  if (any_requires_grad(gx)) {
    record(g, "GatherBackward", [l, index, s = gx.sizes()](const Tensor<T>& gg, GradOut<T>& in) {
      in[0] = scatter_topk(gg, l, index, s);
    }, gx);
  }
  return g;
}

// One row of torch's topk_impl_loop (aten/src/ATen/native/TopKImpl.h): the same libstdc++
// algorithms on the same (value, position) pairs with the same comparison, so that ties come
// out in torch's order. queue holds the row; its first k entries become the answer.
template <class T>
void topk_row(std::vector<std::pair<T, int64_t>>& queue, int64_t k, bool largest, bool sorted) {
  using Elem = std::pair<T, int64_t>;
  auto greater = [](const Elem& a, const Elem& b) { return (std::isnan(a.first) && !std::isnan(b.first)) || a.first > b.first; };
  auto less = [](const Elem& a, const Elem& b) { return (!std::isnan(a.first) && std::isnan(b.first)) || a.first < b.first; };
  const auto n = static_cast<int64_t>(queue.size());
  const auto kth = queue.begin() + k;
  if (k * 64 <= n) {
    if (largest) {
      std::partial_sort(queue.begin(), kth, queue.end(), greater);
    } else {
      std::partial_sort(queue.begin(), kth, queue.end(), less);
    }
  } else if (largest) {
    std::nth_element(queue.begin(), kth - 1, queue.end(), greater);
    if (sorted) std::sort(queue.begin(), kth - 1, greater);
  } else {
    std::nth_element(queue.begin(), kth - 1, queue.end(), less);
    if (sorted) std::sort(queue.begin(), kth - 1, less);
  }
}

// topk's values and positions along a dim of x, as (outer, k, inner) arrays.
template <class T>
void topk_values(const T* x, const TopkLayout& l, bool largest, bool sorted, T* values, int64_t* index) {
  if (l.k == 0) return;
  std::vector<std::pair<T, int64_t>> queue(static_cast<size_t>(l.n));
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const T* p = x + o * l.n * l.inner + i;
      for (int64_t j = 0; j < l.n; ++j) queue[static_cast<size_t>(j)] = {p[j * l.inner], j};
      topk_row(queue, l.k, largest, sorted);
      for (int64_t j = 0; j < l.k; ++j) {
        const int64_t dst = (o * l.k + j) * l.inner + i;
        if (values) values[dst] = queue[static_cast<size_t>(j)].first;
        index[dst] = queue[static_cast<size_t>(j)].second;
      }
    }
  }
}

inline TopkLayout topk_layout(const Dims& s, int64_t k, int64_t dim, Dims& out_sizes) {
  TopkLayout l;
  const auto r = reduce_layout(s, dim, true, "topk");
  l.outer = r.outer;
  l.n = r.n;
  l.inner = r.inner;
  check(k >= 0 && k <= l.n, "topk: k ", k, " is out of range for dim ", dim, " of size ", l.n, " (shape ", s,
        ", expected k in [0, ", l.n, "])");
  l.k = k;
  out_sizes = s;
  if (!s.empty()) out_sizes[r.dim] = k;
  return l;
}

}  // namespace detail

// The k largest (or smallest) values along dim and their positions, as torch.topk on the CPU:
// sorted from the best unless `sorted` is false, NaN counted as the largest, ties in torch's
// order. The values are differentiable (the gradient goes back to the positions picked); the
// indices are not.
template <class T>
std::pair<Tensor<T>, Tensor<T>> topk(const Tensor<T>& x, int64_t k, int64_t dim = -1, bool largest = true,
                                     bool sorted = true) {
  Dims out_sizes;
  const auto l = detail::topk_layout(x.checked("topk").sizes, k, dim, out_sizes);
  Tensor<T> values = detail::make_tensor<T>(out_sizes);
  detail::TopkIndex index = detail::Storage<int64_t>::create(out_sizes.numel());
  detail::topk_values(x.data(), l, largest, sorted, values.data(), index->data);
  Tensor<T> indices = detail::index_tensor<T>(index->data, out_sizes);
  if (detail::any_requires_grad(x)) {
    detail::record(values, "TopkBackward", [l, index, s = x.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::scatter_topk(g, l, index, s);
    }, x);
  }
  return {values, indices};
}

}  // namespace tapegrad
