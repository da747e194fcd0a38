#pragma once
// The random generator: PyTorch's CPU streams, number for number (see TORCH_RNG.md in the
// project's reference notes): a 32-bit Mersenne Twister, 24-bit float and 53-bit double
// uniforms, a cached scalar Box-Muller for fewer than 16 normals and the 16-wide block
// Box-Muller for more.
#include <cmath>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>

#include "factories.hpp"

namespace tapegrad {

inline constexpr double kPi = 3.14159265358979323846;

class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 67280421310721ULL;  // PyTorch's default

  explicit Generator(uint64_t seed = kDefaultSeed) { manual_seed(seed); }

  void manual_seed(uint64_t seed) {
    engine_.seed(static_cast<uint32_t>(seed));  // PyTorch seeds its mt19937 with the low 32 bits
    next_normal_.reset();
    offset_ = 0;
  }

  uint32_t random() {
    ++offset_;
    return static_cast<uint32_t>(engine_());
  }

  // The whole state, to replay a stretch of draws (see nn::Sequential).
  struct Snapshot {
    std::mt19937 engine;
    std::optional<double> next_normal;
    uint64_t offset;
  };
  Snapshot snapshot() const { return {engine_, next_normal_, offset_}; }
  void restore(const Snapshot& s) {
    engine_ = s.engine;
    next_normal_ = s.next_normal;
    offset_ = s.offset;
  }
  // How many 32-bit words were drawn since the last seed.
  uint64_t offset() const { return offset_; }
  uint64_t random64() {
    const uint64_t hi = random();
    return (hi << 32) | random();
  }

  // One uniform draw on [from, to): 24 random bits for float, 53 for double.
  template <class T>
  T uniform(T from, T to) {
    T u;
    if constexpr (std::is_same_v<T, double>) {
      u = static_cast<double>(random64() & ((uint64_t(1) << 53) - 1)) * (1.0 / double(uint64_t(1) << 53));
    } else {
      u = static_cast<float>(random() & ((uint32_t(1) << 24) - 1)) * (1.0f / float(1 << 24));
    }
    return std::fma(u, to - from, from);  // PyTorch's x86 kernels are built with FMA: bit-exact
  }

  // One standard normal draw in double, with PyTorch's one-value cache.
  double normal() {
    if (next_normal_) {
      const double v = *next_normal_;
      next_normal_.reset();
      return v;
    }
    const double u1 = uniform<double>(0, 1);
    const double u2 = uniform<double>(0, 1);
    // log(1 - u2), not log1p(-u2): PyTorch 1.13's normal_distribution (later versions use
    // log1p, which moves the double draws by an ulp)
    const double r = std::sqrt(-2.0 * std::log(1.0 - u2));
    const double theta = 2.0 * kPi * u1;
    next_normal_ = r * std::sin(theta);
    return r * std::cos(theta);
  }

  // The lock that makes one fill of the shared generator atomic.
  std::mutex& mutex() { return mutex_; }

 private:
  std::mt19937 engine_;
  std::optional<double> next_normal_;
  uint64_t offset_ = 0;
  std::mutex mutex_;
};

// The global generator that manual_seed seeds and the random factories draw from. It is
// shared by all threads (each fill locks it); pass a Generator of your own for streams that
// do not depend on what other threads draw.
inline Generator& default_generator() {
  static Generator gen;
  return gen;
}

inline void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(default_generator().mutex());
  default_generator().manual_seed(seed);
}

namespace detail {

template <class T>
void uniform_fill(T* d, int64_t n, double from, double to, Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  const T lo = static_cast<T>(from), hi = static_cast<T>(to);
  for (int64_t i = 0; i < n; ++i) d[i] = gen.uniform<T>(lo, hi);
}

// Box-Muller on 16 uniforms in place: d[j], d[j+8] become a pair of normals (j < 8).
template <class T>
void normal_fill_16(T* d, T mean, T std) {
  for (int j = 0; j < 8; ++j) {
    const T u1 = 1 - d[j];  // [0, 1) -> (0, 1] for the log
    const T u2 = d[j + 8];
    const T radius = std::sqrt(-2 * std::log(u1));
    // float(2 pi) * u2 in T: for float, PyTorch's AVX2 kernel (what x86 builds run) multiplies
    // in float, and the rounding of theta moves r cos(theta) by up to ~2e-6; double is unchanged.
    const T theta = static_cast<T>(2.0 * kPi) * u2;
    d[j] = std::fma(radius * std::cos(theta), std, mean);  // fused, as PyTorch's x86 kernels
    d[j + 8] = std::fma(radius * std::sin(theta), std, mean);
  }
}

template <class T>
void normal_fill(T* d, int64_t n, double mean, double std, Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(gen.normal() * std + mean);
    return;
  }
  const T m = static_cast<T>(mean), s = static_cast<T>(std);
  for (int64_t i = 0; i < n; ++i) d[i] = gen.uniform<T>(0, 1);
  for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill_16(d + i, m, s);
  if (n % 16 != 0) {  // the tail: redraw the last 16 values and transform them together
    T* tail = d + n - 16;
    for (int j = 0; j < 16; ++j) tail[j] = gen.uniform<T>(0, 1);
    normal_fill_16(tail, m, s);
  }
}

template <class T>
void bernoulli_fill(T* d, int64_t n, double p, Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  for (int64_t i = 0; i < n; ++i) d[i] = gen.uniform<double>(0, 1) < p ? T(1) : T(0);
}

}  // namespace detail

template <class T = float>
Tensor<T> rand(const Shape& shape, Generator& gen = default_generator()) {
  Tensor<T> t = detail::make_tensor<T>(Dims(shape, "rand"));
  detail::uniform_fill(t.data(), t.numel(), 0.0, 1.0, gen);
  return t;
}

template <class T = float>
Tensor<T> randn(const Shape& shape, Generator& gen = default_generator()) {
  Tensor<T> t = detail::make_tensor<T>(Dims(shape, "randn"));
  detail::normal_fill(t.data(), t.numel(), 0.0, 1.0, gen);
  return t;
}

template <class T>
Tensor<T>& Tensor<T>::uniform_(double from, double to) {
  Impl& i = checked("uniform_");
  detail::check(from <= to, "uniform_: expects from <= to, but got from=", from, " to=", to);
  detail::uniform_fill(i.data, i.sizes.numel(), from, to, default_generator());
  return *this;
}

template <class T>
Tensor<T>& Tensor<T>::normal_(double mean, double std) {
  Impl& i = checked("normal_");
  detail::check(std >= 0, "normal_: expects std >= 0.0, but got std=", std);
  detail::normal_fill(i.data, i.sizes.numel(), mean, std, default_generator());
  return *this;
}

template <class T>
Tensor<T>& Tensor<T>::bernoulli_(double p) {
  Impl& i = checked("bernoulli_");
  detail::check(p >= 0 && p <= 1, "bernoulli_: expects 0 <= p <= 1, but got p=", p);
  detail::bernoulli_fill(i.data, i.sizes.numel(), p, default_generator());
  return *this;
}

}  // namespace tapegrad
