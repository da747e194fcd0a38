#pragma once
// tg::randperm (and tg::randperm<T>, the same as a tensor): torch.randperm's CPU permutation,
// draw for draw as in PyTorch 1.13, and the one int64 draw with which torch's DataLoader starts
// each epoch (docs/DATA.md; checked against PyTorch by tests/data_test.cpp with
// tests/golden/data_loader.txt).
#include <cstdint>
#include <limits>
#include <type_traits>
#include <mutex>  // std::lock_guard
#include <numeric>
#include <utility>
#include <vector>

#include "../core/generator.hpp"

namespace tapegrad {

namespace detail {

// torch.empty((), dtype=torch.int64).random_(generator=gen): random64() (two words, the first
// one high) modulo 2^63, i.e. with the top bit cleared. torch's DataLoader draws one per epoch
// (its base seed) and, shuffling without a generator, one more to seed the sampler's.
inline int64_t random_int64(Generator& gen) {
  std::lock_guard lock(gen.mutex());
  const uint64_t high = gen.random();
  const uint64_t low = gen.random();
  return static_cast<int64_t>(((high << 32) | low) & ~(uint64_t(1) << 63));
}

// Moves gen past the next `count` words, as draws whose values nobody reads (a randperm torch
// makes and throws away) would.
inline void skip_words(Generator& gen, int64_t count) {
  std::lock_guard lock(gen.mutex());
  for_each_chunk(gen, count, [](int64_t, const uint32_t*, int64_t) {});
}

// How many words torch.randperm(n) takes: one per swap.
inline int64_t randperm_words(int64_t n) { return n > 1 ? n - 1 : 0; }

}  // namespace detail

// A random permutation of 0, 1, ..., n - 1: torch.randperm(n, generator=gen) on the CPU in
// PyTorch 1.13. Fisher-Yates from the front: for i = 0 .. n - 2, r[i] is swapped with
// r[i + random() % (n - i)], one 32-bit word per step, so n - 1 words in all (none for n <= 1).
// 1.13 takes one 32-bit word per step for every n (checked at n = 2^32 / 20 and one below);
// PyTorch 2.x takes random64() and another loop from n = 2^32 / 20 on, so from there their
// permutations differ.
inline std::vector<int64_t> randperm(int64_t n, Generator& gen = default_generator()) {
  detail::check(n >= 0, "randperm: n must be non-negative, got n=", n);
  std::vector<int64_t> r(static_cast<size_t>(n));
  std::iota(r.begin(), r.end(), int64_t(0));
  std::lock_guard lock(gen.mutex());
  detail::for_each_chunk(gen, detail::randperm_words(n), [&r, n](int64_t first, const uint32_t* words, int64_t count) {
    for (int64_t k = 0; k < count; ++k) {
      const int64_t i = first + k;
      const auto left = static_cast<uint64_t>(n - i);
      // a word is below 2^32, so it is its own remainder by a larger count: 32-bit division only
      const uint32_t z = left > UINT32_MAX ? words[k] : words[k] % static_cast<uint32_t>(left);
      std::swap(r[static_cast<size_t>(i)], r[static_cast<size_t>(i + z)]);
    }
  });
  return r;
}

// torch.randperm(n, dtype=T): the same permutation as a 1-d tensor of T (an index tensor). n - 1
// must be an integer T holds exactly, so n is at most 2^24 + 1 for float (torch's limit too).
template <class T>
Tensor<T> randperm(int64_t n, Generator& gen = default_generator()) {
  constexpr int64_t limit = (int64_t(1) << std::numeric_limits<T>::digits) + 1;
  detail::check(n <= limit, "randperm: n=", n, " is more than 2^", std::numeric_limits<T>::digits, " + 1, which ",
                std::is_same_v<T, float> ? "float" : "double", " cannot count exactly");
  const std::vector<int64_t> r = randperm(n, gen);
  Tensor<T> t = detail::make_tensor<T>(Dims(Shape{n}, "randperm"));
  for (int64_t i = 0; i < n; ++i) t.data()[i] = static_cast<T>(r[static_cast<size_t>(i)]);
  return t;
}

}  // namespace tapegrad
