#pragma once
// arange and linspace, value for value as PyTorch 1.13's CPU kernels compute them
// (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp, as built for its AVX2 dispatch, which
// fuses each multiply-add it can): runs of 2 * W values (W = 32 bytes / sizeof(T)) go as
// vectors of W from a base, the rest one by one. Larger than 32768 values, PyTorch splits the
// work among its threads and its vectors start where each thread's range does: those values
// can differ from PyTorch's by an ulp (with one thread they are the same: checked against torch
// 1.13 for arange of 54055 and linspace of 70001 values, float and double).
#include <cmath>
#include <cstdint>

#include "../core/factories.hpp"

namespace tapegrad {
namespace detail {

// The values torch's kernels take in vectors: the first n - n % (2 * W).
template <class T>
int64_t range_vector_span(int64_t n) {
  constexpr int64_t W = 32 / sizeof(T);
  return n - n % (2 * W);
}

// a * b rounded, then added by the caller: out of line, so fp-contract cannot fuse it with the
// addition (torch's vector of a linspace rounds k * step before adding it to the base).
template <class T>
TAPEGRAD_NOINLINE T rounded_product(T a, T b) {
  return a * b;
}

}  // namespace detail

// start, start + step, ... up to (not including) end: ceil((end - start) / step) values, each
// computed in double (torch's accumulate type for float and double).
template <class T = float>
Tensor<T> arange(double start, double end, double step = 1) {
  detail::check(step != 0, "arange: step must be nonzero");
  detail::check(std::isfinite(start) && std::isfinite(end), "arange: unsupported range: ", start, " -> ", end);
  detail::check(std::isfinite(step), "arange: step must be finite, got ", step);
  detail::check((step > 0 && end >= start) || (step < 0 && end <= start), "arange: the range ", start, " -> ", end,
                " is inconsistent with the sign of step ", step);
  const double size = std::ceil((end - start) / step);
  detail::check(size < 9.2e18, "arange: the range ", start, " -> ", end, " with step ", step,
                " has too many values for an int64 to count");
  const auto n = static_cast<int64_t>(size);
  Tensor<T> out = detail::make_tensor<T>(Dims{n});
  T* po = out.data();
  constexpr int64_t W = 32 / sizeof(T);
  const int64_t span = detail::range_vector_span<T>(n);
  for (int64_t b = 0; b < span; b += W) {  // a vector: base + k * step, base rounded to T first
    const double base = static_cast<T>(std::fma(step, static_cast<double>(b), start));
    po[b] = static_cast<T>(base);
    po[b + 1] = static_cast<T>(base + step);
    for (int64_t k = 2; k < W; ++k) po[b + k] = static_cast<T>(std::fma(static_cast<double>(k), step, base));
  }
  for (int64_t i = span; i < n; ++i) po[i] = static_cast<T>(std::fma(step, static_cast<double>(i), start));
  return out;
}

// 0, 1, ..., ceil(end) - 1.
template <class T = float>
Tensor<T> arange(double end) {
  return arange<T>(0, end, 1);
}

// `steps` values from start to end, both included, computed in T: the first half from start
// (start + i * step), the second from end (end - (steps - 1 - i) * step), as torch.linspace.
template <class T = float>
Tensor<T> linspace(double start, double end, int64_t steps) {
  detail::check(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  Tensor<T> out = detail::make_tensor<T>(Dims{steps});
  T* po = out.data();
  const T a = static_cast<T>(start), b = static_cast<T>(end);
  if (steps == 1) po[0] = a;
  if (steps <= 1) return out;
  const T step = (b - a) / static_cast<T>(steps - 1);
  const int64_t halfway = steps / 2;
  // from the nearer end: one rounding each (torch's fused multiply-add)
  auto value = [&](int64_t i) {
    return i < halfway ? std::fma(step, static_cast<T>(i), a) : std::fma(-step, static_cast<T>(steps - i - 1), b);
  };
  constexpr int64_t W = 32 / sizeof(T);
  const int64_t span = detail::range_vector_span<T>(steps);
  for (int64_t v = 0; v < span; v += W) {  // a vector: its base from the end nearer its first value
    const T base = value(v);
    po[v] = base;
    po[v + 1] = base + step;
    for (int64_t k = 2; k < W; ++k) po[v + k] = base + detail::rounded_product(static_cast<T>(k), step);
  }
  for (int64_t i = span; i < steps; ++i) po[i] = value(i);
  return out;
}

}  // namespace tapegrad
