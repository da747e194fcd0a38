#pragma once
// Integer sampling with PyTorch 1.13's CPU streams, draw for draw: tg::randint (torch.randint's
// random_(from, to)) and tg::multinomial (the exponential trick without replacement, the
// cumulative distribution and a uniform per sample with it). Results are tensors of T holding
// integers; tg::randperm<T> is in data/randperm.hpp.
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>  // std::lock_guard
#include <vector>

#include "../core/generator.hpp"
#include "selection.hpp"

namespace tapegrad {

namespace detail {

// The largest integer T holds with all below it: 2^24 for float, 2^53 for double.
template <class T>
constexpr int64_t exact_integer_limit() {
  return int64_t(1) << std::numeric_limits<T>::digits;
}

// One draw of torch's uniform_int_from_to_distribution: a 32-bit word while the range is
// below 2^32, else random64 (two words, the first one high); value (word % range) + low.
inline int64_t random_from_to(Generator& gen, uint64_t range, int64_t low) {
  uint64_t word = gen.random();
  if (range >= (uint64_t(1) << 32)) word = (word << 32) | gen.random();
  return static_cast<int64_t>(word % range + static_cast<uint64_t>(low));
}

// One double uniform on [0, 1) as torch's uniform_real_distribution<double> makes it.
inline double random_unit_double(Generator& gen) {
  const uint32_t hi = gen.random();
  return unit_double(hi, gen.random());
}

}  // namespace detail

// Integers drawn uniformly from [low, high), as torch.randint(low, high, shape, dtype=T): one
// 32-bit word per element while high - low < 2^32, two from there on. Every value must be an
// integer T holds exactly (|v| <= 2^24 for float, 2^53 for double).
template <class T = float>
Tensor<T> randint(int64_t low, int64_t high, IntArrayRef shape, Generator& gen = default_generator()) {
  detail::check(low < high, "randint: expects low < high, but got low=", low, " >= high=", high);
  constexpr int64_t limit = detail::exact_integer_limit<T>();
  detail::check(low >= -limit && high - 1 <= limit, "randint: [", low, ", ", high, ") is out of bounds [-(2^",
                std::numeric_limits<T>::digits, "), 2^", std::numeric_limits<T>::digits, "] for ",
                std::is_same_v<T, float> ? "float" : "double", " (its integers are exact only there)");
  Tensor<T> t = detail::make_tensor<T>(Dims(shape, "randint"));
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  std::lock_guard lock(gen.mutex());
  for (int64_t i = 0, n = t.numel(); i < n; ++i) t.data()[i] = static_cast<T>(detail::random_from_to(gen, range, low));
  return t;
}

// torch.randint(high, shape): from 0.
template <class T = float>
Tensor<T> randint(int64_t high, IntArrayRef shape, Generator& gen = default_generator()) {
  return randint<T>(0, high, shape, gen);
}

namespace detail {

// multinomial's checks, all before any draw: probabilities finite and >= 0, no row of zeros.
template <class T>
void check_multinomial(const Tensor<T>& probs, int64_t num_samples, bool replacement) {
  const Dims& s = probs.checked("multinomial").sizes;
  check(s.size() == 1 || s.size() == 2, "multinomial: probabilities must be 1-d or 2-d, got shape ", s);
  const int64_t categories = s[s.size() - 1], rows = s.size() == 2 ? s[0] : 1;
  check(num_samples > 0, "multinomial: num_samples must be positive, got ", num_samples);
  check(replacement || num_samples <= categories, "multinomial: cannot draw ", num_samples,
        " samples without replacement from ", categories, " categories (shape ", s, ")");
  check(categories <= exact_integer_limit<float>(), "multinomial: ", categories,
        " categories are more than 2^24 (shape ", s, ")");
  const T* p = probs.data();
  for (int64_t r = 0; r < rows; ++r) {
    T sum = 0;
    for (int64_t c = 0; c < categories; ++c) {
      const T v = p[r * categories + c];
      check(std::isfinite(v) && v >= T(0), "multinomial: probabilities must be finite and non-negative, got ", v,
            " at category ", c, s.size() == 2 ? " of row " : "", s.size() == 2 ? std::to_string(r) : "",
            " (shape ", s, ")");
      sum += v;
    }
    check(sum > T(0), "multinomial: the probabilities ", s.size() == 2 ? "of row " + std::to_string(r) + " " : "",
          "sum to 0 (shape ", s, ")");
  }
}

}  // namespace detail

// num_samples category indices per row of probs (1-d [C] or 2-d [N, C], weights that need not
// sum to 1), as torch.multinomial on the CPU in PyTorch 1.13, draw for draw:
// - without replacement: q = exponential_() over the whole of probs (one double uniform u per
//   element, q = -log(1 - u), rounded to T), then per row the argmax (one sample) or the topk
//   (more) of probs / q, computed in T;
// - with replacement: per row, the cumulative sums in T divided by their total (the last set to
//   1), then per sample one double uniform u and the first category whose cumulative value is
//   not below u (a binary search).
// The result is [num_samples] or [N, num_samples]. Checks come before any draw, so a refused
// call leaves the generator as it was.
template <class T>
Tensor<T> multinomial(const Tensor<T>& probs, int64_t num_samples, bool replacement = false,
                      Generator& gen = default_generator()) {
  detail::check_multinomial(probs, num_samples, replacement);
  const Dims& s = probs.sizes();
  const int64_t categories = s[s.size() - 1], rows = s.size() == 2 ? s[0] : 1;
  Dims out_sizes = s;
  out_sizes[s.size() - 1] = num_samples;
  Tensor<T> out = detail::make_tensor<T>(out_sizes);
  const T* p = probs.data();
  std::lock_guard lock(gen.mutex());
  if (!replacement) {
    const int64_t n = rows * categories;
    std::vector<T> ratio(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      const T q = static_cast<T>(-std::log(1.0 - detail::random_unit_double(gen)));  // exponential(1)
      ratio[static_cast<size_t>(j)] = p[j] / q;
    }
    detail::TopkLayout l;
    l.outer = rows;
    l.n = categories;
    l.k = num_samples;
    std::vector<int64_t> index(static_cast<size_t>(rows * num_samples));
    if (num_samples == 1) {
      detail::ReduceLayout r;
      r.outer = rows;
      r.n = categories;
      detail::pick_along<T>(ratio.data(), r, true, nullptr, index.data());
    } else {
      detail::topk_values<T>(ratio.data(), l, true, true, nullptr, index.data());
    }
    for (size_t j = 0; j < index.size(); ++j) out.data()[j] = static_cast<T>(index[j]);
    return out;
  }
  std::vector<T> cumulative(static_cast<size_t>(categories));
  for (int64_t r = 0; r < rows; ++r) {
    T sum = 0;
    for (int64_t c = 0; c < categories; ++c) {
      sum += p[r * categories + c];
      cumulative[static_cast<size_t>(c)] = sum;
    }
    for (T& c : cumulative) c /= sum;
    cumulative[static_cast<size_t>(categories - 1)] = 1;
    for (int64_t k = 0; k < num_samples; ++k) {
      const double u = detail::random_unit_double(gen);
      int64_t left = 0, right = categories;
      while (right > left) {
        const int64_t mid = left + (right - left) / 2;
        if (cumulative[static_cast<size_t>(mid)] < u) {
          left = mid + 1;
        } else {
          right = mid;
        }
      }
      out.data()[r * num_samples + k] = static_cast<T>(left);
    }
  }
  return out;
}

}  // namespace tapegrad
