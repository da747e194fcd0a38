#pragma once
// softmax and log_softmax along any dim, shifted by the max so large inputs stay finite.
#include <cmath>

#include "reduction.hpp"
#include "unary.hpp"

namespace tapegrad {
namespace detail {

// Calls f(base) for each line of x along the reduced axis of layout l (its values at base +
// k * l.inner), lines split across threads when there are many: each line is computed whole
// by one of them.
template <class F>
void for_each_line(const ReduceLayout& l, F&& f) {
  const int64_t lines = l.outer * l.inner;
  parallel_for(lines, items_per_chunk(l.n), [&](int64_t begin, int64_t end) {
    for (int64_t line = begin; line < end; ++line) f(line / l.inner * l.n * l.inner + line % l.inner);
  });
}

// Over a line of n contiguous values, exp(a[k] - m) into b (unless `log`) and their sum: in
// packets (exp_packet; the sum in packet lanes, then reduced), the tail in scalars.
template <class T>
T exp_shifted_sum(const T* a, T* b, int64_t n, T m, bool log) {
  int64_t k = 0;
  T s = 0;
#if TAPEGRAD_EIGEN_PACKETS
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr int64_t ps = kPacketSize<T>;
  if (n >= ps) {
    const P pm = pset1<P>(m);
    P acc = pzero(pm);
    for (; k + ps <= n; k += ps) {
      const P e = exp_packet(psub(ploadu<P>(a + k), pm));
      if (!log) pstoreu(b + k, e);
      acc = padd(acc, e);
    }
    s = predux(acc);
  }
#endif
  for (; k < n; ++k) {
    const T e = std::exp(a[k] - m);
    if (!log) b[k] = e;
    s += e;
  }
  return s;
}

// softmax (log_softmax with `log`) of x along layout l's dim. With `causal_rows` L > 0 (a
// softmax over the last dim of scores (..., L, S)), line i of each L sees only its first i + 1
// values, the others' weights exactly 0 (log: -inf): softmax(x + causal mask) without the
// mask's tensor, except that a masked value is never read, so a NaN or inf score there does
// not make its row NaN as NaN + -inf would.
template <class T>
Tensor<T> softmax_values(const Tensor<T>& x, const ReduceLayout& l, bool log, int64_t causal_rows = 0) {
  Tensor<T> y = make_tensor<T>(x.sizes());
  const T* px = x.data();
  T* py = y.data();
  const int64_t st = l.inner;
  for_each_line(l, [&](int64_t base) {
    const T* a = px + base;
    T* b = py + base;
    int64_t n = l.n;
    if (causal_rows > 0 && n > 0) {  // inner == 1: line base / n is query row (base / n) % L
      n = std::min(l.n, (base / l.n) % causal_rows + 1);
      std::fill(b + n, b + l.n, log ? -std::numeric_limits<T>::infinity() : T(0));
    }
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t k = 0; k < n; ++k) m = std::isnan(a[k * st]) || a[k * st] > m ? a[k * st] : m;
    if (std::isinf(m) && m < 0) m = 0;  // all -inf: avoid -inf - -inf
    T s = 0;
    if (st == 1) {  // the last dim: contiguous lines, in packets
      s = exp_shifted_sum(a, b, n, m, log);
    } else {
      for (int64_t k = 0; k < n; ++k) s += log ? std::exp(a[k * st] - m) : (b[k * st] = std::exp(a[k * st] - m));
    }
    if (log) {
      // (x - max) - log(sum), PyTorch's order: x - (max + log(sum)) would round at x's
      // magnitude, and a log-probability near 0 (log(sum) tiny) would lose its digits.
      const T log_s = std::log(s);
      for (int64_t k = 0; k < n; ++k) b[k * st] = (a[k * st] - m) - log_s;
    } else {
      const T r = T(1) / s;
      for (int64_t k = 0; k < n; ++k) b[k * st] *= r;
    }
  });
  return y;
}

// The first-order backward of softmax (log_softmax with `log`) in one fused pass over each
// line: the specialisation, on values, of the formula the node writes in ops.
template <class T>
Tensor<T> softmax_backward_values(const Tensor<T>& g, const Tensor<T>& ys, const ReduceLayout& l, bool log) {
  Tensor<T> gx = make_tensor<T>(g.sizes());
  const T *pg = g.data(), *py = ys.data();
  T* px = gx.data();
  const int64_t n = l.n, st = l.inner;
  for_each_line(l, [&](int64_t base) {
    const T *gl = pg + base, *yl = py + base;
    T* xl = px + base;
    int64_t k = 0;
    if (log) {  // dx = g - exp(y) * sum(g)
      T total = 0;
      for (int64_t j = 0; j < n; ++j) total += gl[j * st];
#if TAPEGRAD_EIGEN_PACKETS
      using namespace Eigen::internal;
      using P = Packet<T>;
      constexpr int64_t ps = kPacketSize<T>;
      if (st == 1) {
        const P pt = pset1<P>(total);
        for (; k + ps <= n; k += ps) pstoreu(xl + k, psub(ploadu<P>(gl + k), pmul(exp_packet(ploadu<P>(yl + k)), pt)));
      }
#endif
      for (; k < n; ++k) xl[k * st] = gl[k * st] - std::exp(yl[k * st]) * total;
    } else {  // dx = y * (g - sum(g * y))
      T dot = 0;
      int64_t j = 0;
#if TAPEGRAD_EIGEN_PACKETS
      using namespace Eigen::internal;
      using P = Packet<T>;
      constexpr int64_t ps = kPacketSize<T>;
      if (st == 1 && n >= ps) {  // the dot product in packet lanes, then reduced
        P acc = pzero(P());
        for (; j + ps <= n; j += ps) acc = pmadd(ploadu<P>(gl + j), ploadu<P>(yl + j), acc);
        dot = predux(acc);
      }
#endif
      for (; j < n; ++j) dot += gl[j * st] * yl[j * st];
      for (; k < n; ++k) xl[k * st] = yl[k * st] * (gl[k * st] - dot);
    }
  });
  return gx;
}

// Records y = softmax(x) along l's dim (causal or not: a masked weight is 0, so the same
// formula gives its gradient 0).
template <class T>
Tensor<T> record_softmax(Tensor<T> y, const Tensor<T>& x, const ReduceLayout& l) {
  if (any_requires_grad(x)) {
    record(y, "SoftmaxBackward", [l, ys = y.detach()](const Tensor<T>& g, GradOut<T>& in) {
      if (!GradMode::is_enabled()) return void(in[0] = softmax_backward_values(g, ys, l, false));
      const Tensor<T> y = in.output(ys);
      in[0] = y * (g - sum(g * y, l.dim, true));  // dx = y * (g - sum(g * y))
    }, x);
  }
  return y;
}

// softmax over the last dim of attention scores (..., L, S) with key j > query i masked out:
// softmax(scores + causal mask) in one pass, as is_causal asks for it.
template <class T>
Tensor<T> causal_softmax(const Tensor<T>& scores) {
  const Dims& s = scores.checked("softmax").sizes;
  const auto l = reduce_layout(s, -1, true, "softmax");
  return record_softmax(softmax_values(scores, l, false, s[s.size() - 2]), scores, l);
}

}  // namespace detail

template <class T>
Tensor<T> softmax(const Tensor<T>& x, int64_t dim) {
  const auto l = detail::reduce_layout(x.checked("softmax").sizes, dim, true, "softmax");
  return detail::record_softmax(detail::softmax_values(x, l, false), x, l);
}

template <class T>
Tensor<T> log_softmax(const Tensor<T>& x, int64_t dim) {
  const auto l = detail::reduce_layout(x.checked("log_softmax").sizes, dim, true, "log_softmax");
  Tensor<T> y = detail::softmax_values(x, l, true);
  if (detail::any_requires_grad(x)) {
    detail::record(y, "LogSoftmaxBackward", [l, ys = y.detach()](const Tensor<T>& g, detail::GradOut<T>& in) {
      if (!GradMode::is_enabled()) return void(in[0] = detail::softmax_backward_values(g, ys, l, true));
      in[0] = g - exp(in.output(ys)) * sum(g, l.dim, true);  // dx = g - exp(y) * sum(g)
    }, x);
  }
  return y;
}

}  // namespace tapegrad
