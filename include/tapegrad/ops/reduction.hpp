#pragma once
// Reductions over all elements or one dim: sum, mean, var, max. A dim reduction views the
// input as (outer, n, inner) with n the reduced dim.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "arithmetic.hpp"

namespace tapegrad {
namespace detail {

struct ReduceLayout {
  int64_t outer = 1, n = 1, inner = 1;
  int dim = 0;      // the reduced dim
  Dims out_sizes;   // the result's shape
  Dims kept_sizes;  // the result's shape with the reduced dim kept as 1
};

inline ReduceLayout reduce_layout(const Dims& s, int64_t dim, bool keepdim, const char* op) {
  ReduceLayout l;
  if (s.empty()) {  // a 0-d tensor reduces over its one element
    normalize_dim(dim, 0, op, s);
    return l;
  }
  const int d = normalize_dim(dim, s.size(), op, s);
  l.dim = d;
  l.outer = s.product(0, d);
  l.n = s[d];
  l.inner = s.product(d + 1, s.size());
  l.kept_sizes = s;
  l.kept_sizes[d] = 1;
  l.out_sizes = l.kept_sizes;
  if (!keepdim) l.out_sizes.erase(d);
  return l;
}

// Sums over the middle axis of x viewed as (outer, n, inner).
// Each output is summed whole by one thread, in the order below: the outer index splits across
// threads, and where it is too short to (a sum over the first dim), the inner one.
template <class T>
void sum_middle(const T* x, T* out, const ReduceLayout& l) {
  if (l.outer == 0 || l.inner == 0) return;  // no outputs (and n * inner may overflow: huge empty shapes)
  const int64_t per_output = std::max<int64_t>(l.n, 1);
  parallel_for(l.outer, items_per_chunk(per_output * l.inner), [&](int64_t first, int64_t last) {
    for (int64_t o = first; o < last; ++o) {
      const T* src = x + o * l.n * l.inner;
      if (l.inner == 1) {
        out[o] = sum_values(src, l.n);
        continue;
      }
      T* dst = out + o * l.inner;
      std::fill_n(dst, l.inner, T(0));
      parallel_for(l.inner, std::max<int64_t>(64, kElementwiseGrain / per_output / 64 * 64), [&](int64_t i0, int64_t i1) {
        for (int64_t k = 0; k < l.n; ++k) {
          for (int64_t i = i0; i < i1; ++i) dst[i] += src[k * l.inner + i];
        }
      });
    }
  });
}

// g (shaped like a reduction's result) spread back over `input_sizes`, differentiably.
template <class T>
Tensor<T> expand_reduced(const Tensor<T>& g, const Dims& kept_sizes, const Dims& input_sizes) {
  return expand_to(alias_op(g, kept_sizes, "ViewBackward"), input_sizes);
}

template <class T>
Tensor<T> sum_dim_values(const Tensor<T>& x, const ReduceLayout& l) {
  Tensor<T> out = make_tensor<T>(l.out_sizes);
  sum_middle(x.data(), out.data(), l);
  return out;
}

}  // namespace detail

template <class T>
Tensor<T> sum(const Tensor<T>& x) {
  x.checked("sum");
  Tensor<T> out = scalar_tensor<T>(detail::sum_values(x.data(), x.numel()));
  if (detail::any_requires_grad(x)) {
    detail::record(out, "SumBackward", [s = x.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::expand_to(g, s);
    }, x);
  }
  return out;
}

template <class T>
Tensor<T> sum(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  const auto l = detail::reduce_layout(x.checked("sum").sizes, dim, keepdim, "sum");
  Tensor<T> out = detail::sum_dim_values(x, l);
  if (detail::any_requires_grad(x)) {
    detail::record(out, "SumBackward", [l, s = x.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::expand_reduced(g, l.kept_sizes, s);
    }, x);
  }
  return out;
}

template <class T>
Tensor<T> mean(const Tensor<T>& x) {
  const int64_t n = x.checked("mean").sizes.numel();
  Tensor<T> out = scalar_tensor<T>(detail::sum_values(x.data(), n) / static_cast<T>(n));
  if (detail::any_requires_grad(x)) {
    detail::record(out, "MeanBackward", [s = x.sizes(), n](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::expand_to(g / static_cast<T>(n), s);
    }, x);
  }
  return out;
}

template <class T>
Tensor<T> mean(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  const auto l = detail::reduce_layout(x.checked("mean").sizes, dim, keepdim, "mean");
  Tensor<T> out = detail::sum_dim_values(x, l);
  const T count = static_cast<T>(l.n);
  detail::map_values(out.data(), out.data(), out.numel(), [count](T v) { return v / count; });
  if (detail::any_requires_grad(x)) {
    detail::record(out, "MeanBackward", [l, s = x.sizes()](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::expand_reduced(g, l.kept_sizes, s) * (T(1) / static_cast<T>(l.n));
    }, x);
  }
  return out;
}

namespace detail {

// Variance over the middle axis of (outer, n, inner), two-pass; also the means, where `mean` is
// not null. The sum of squares is divided by max(0, n - correction), as torch: one element
// (unbiased) or none give NaN.
template <class T>
void var_middle(const T* x, T* var, T* mean, const ReduceLayout& l, int64_t correction) {
  const T dof = static_cast<T>(std::max<int64_t>(0, l.n - correction));
  // Outputs (o, i) across threads, each one's two passes whole on one of them.
  parallel_for(l.outer * l.inner, items_per_chunk(l.n), [&](int64_t first, int64_t last) {
    for (int64_t out = first; out < last; ++out) {
      const int64_t o = out / l.inner, i = out % l.inner;
      const T* p = x + o * l.n * l.inner + i;
      T m = 0;
      for (int64_t k = 0; k < l.n; ++k) m += p[k * l.inner];
      m /= static_cast<T>(l.n);
      T ss = 0;
      for (int64_t k = 0; k < l.n; ++k) ss += (p[k * l.inner] - m) * (p[k * l.inner] - m);
      if (mean) mean[out] = m;
      var[out] = ss / dof;
    }
  });
}

template <class T>
Tensor<T> var_impl(const Tensor<T>& x, const ReduceLayout& l, bool unbiased) {
  const int64_t correction = unbiased ? 1 : 0;
  Tensor<T> out = make_tensor<T>(l.out_sizes);
  Tensor<T> means = make_tensor<T>(l.kept_sizes);
  var_middle(x.data(), out.data(), means.data(), l, correction);
  if (any_requires_grad(x)) {
    record(out, "VarBackward", [l, x, means, correction](const Tensor<T>& g, GradOut<T>& in) {
      // d var = 2 (x - mean) / (n - correction); under create_graph the mean is taken again, in
      // ops, so that it depends on x
      const T scale = T(2) / static_cast<T>(l.n - correction);
      const Tensor<T> m = GradMode::is_enabled() ? mean(x, l.dim, true) : means;
      in[0] = elementwise([scale](auto s, auto c) { return (scale * s) * c; }, expand_reduced(g, l.kept_sizes, x.sizes()), x - m);
    }, x);
  }
  return out;
}

}  // namespace detail

// The unbiased variance of all elements (a `bool unbiased` here would make var(x, 1) ambiguous).
template <class T>
Tensor<T> var(const Tensor<T>& x) {
  x.checked("var");
  return var(x.reshape({-1}), 0, true, false);
}

template <class T>
Tensor<T> var(const Tensor<T>& x, int64_t dim, bool unbiased = true, bool keepdim = false) {
  return detail::var_impl(x, detail::reduce_layout(x.checked("var").sizes, dim, keepdim, "var"), unbiased);
}

namespace detail {

// The backward of a full reduction to one extreme value `best` of x (max(), min()): the
// gradient is shared evenly among the elements equal to it (NaN equal to NaN), as PyTorch's.
template <class T>
void record_extreme_backward(Tensor<T>& out, const char* name, const Tensor<T>& x, T best) {
  record(out, name, [x, best](const Tensor<T>& g, GradOut<T>& in) {
    auto hit = [best](T v) { return (v == best || (std::isnan(v) && std::isnan(best))) ? T(1) : T(0); };
    Tensor<T> mask = map_tensor(x, hit);
    const T count = sum_values(mask.data(), mask.numel());
    in[0] = mask * (g / count);
  }, x);
}

}  // namespace detail

template <class T>
Tensor<T> max(const Tensor<T>& x) {
  const Dims& s = x.checked("max").sizes;
  const int64_t n = s.numel();
  detail::check(n > 0, "max: cannot reduce an empty tensor of shape ", s, " (there is no identity); give a dim");
  const T* p = x.data();
  T best = p[0];
  for (int64_t i = 1; i < n && !std::isnan(best); ++i) {
    if (!(p[i] <= best)) best = p[i];  // NaN wins and stops the search
  }
  Tensor<T> out = scalar_tensor<T>(best);
  if (detail::any_requires_grad(x)) detail::record_extreme_backward(out, "MaxBackward", x, best);
  return out;
}

namespace detail {

// The positions a dim reduction picked (max), one per result element: k along the reduced
// dim of layout l, in a pool block shared by the nodes that need them.
using PickedIndex = IntrusivePtr<Storage<int64_t>>;

template <class T>
Tensor<T> gather_picked(const Tensor<T>& gx, const ReduceLayout& l, const PickedIndex& index);

// g (a reduction's result) placed at the picked positions of zeros shaped `sizes`; its
// backward gathers from the same positions.
template <class T>
Tensor<T> scatter_picked(const Tensor<T>& g, const ReduceLayout& l, const PickedIndex& index, const Dims& sizes) {
  Tensor<T> gx = make_tensor<T>(sizes).fill_(T(0));
  const int64_t* k = index->data;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t j = o * l.inner + i;
      gx.data()[(o * l.n + k[j]) * l.inner + i] = g.data()[j];
    }
  }
  if (any_requires_grad(g)) {
    record(gx, "MaxBackwardBackward", [l, index](const Tensor<T>& gg, GradOut<T>& in) { in[0] = gather_picked(gg, l, index); }, g);
  }
  return gx;
}

template <class T>
Tensor<T> gather_picked(const Tensor<T>& gx, const ReduceLayout& l, const PickedIndex& index) {
  Tensor<T> g = make_tensor<T>(l.out_sizes);
  const int64_t* k = index->data;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) g.data()[o * l.inner + i] = gx.data()[(o * l.n + k[o * l.inner + i]) * l.inner + i];
  }
  if (any_requires_grad(gx)) {
    record(g, "GatherBackward", [l, index, s = gx.sizes()](const Tensor<T>& gg, GradOut<T>& in) {
      in[0] = scatter_picked(gg, l, index, s);
    }, gx);
  }
  return g;
}

}  // namespace detail

template <class T>
Tensor<T> max(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  const auto l = detail::reduce_layout(x.checked("max").sizes, dim, keepdim, "max");
  detail::check(l.n > 0, "max: cannot reduce over dim ", dim, " of size 0 (shape ", x.sizes(), ")");
  Tensor<T> out = detail::make_tensor<T>(l.out_sizes);
  detail::PickedIndex index = detail::Storage<int64_t>::create(l.outer * l.inner);
  const T* px = x.data();
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const T* p = px + o * l.n * l.inner + i;
      T best = p[0];
      int64_t at = 0;
      for (int64_t k = 1; k < l.n && !std::isnan(best); ++k) {
        if (!(p[k * l.inner] <= best)) {  // the first max wins; a NaN wins and stops
          best = p[k * l.inner];
          at = k;
        }
      }
      out.data()[o * l.inner + i] = best;
      index->data[o * l.inner + i] = at;
    }
  }
  if (detail::any_requires_grad(x)) {
    detail::record(out, "MaxBackward", [l, s = x.sizes(), index](const Tensor<T>& g, detail::GradOut<T>& in) {
      in[0] = detail::scatter_picked(g, l, index, s);
    }, x);
  }
  return out;
}

}  // namespace tapegrad
