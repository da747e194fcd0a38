#pragma once
// The random generator: PyTorch's CPU streams, number for number (see docs/RANDOM_STREAMS.md
// in the repository): a 32-bit Mersenne Twister, 24-bit float and 53-bit double
// uniforms, a cached scalar Box-Muller for fewer than 16 normals and the 16-wide block
// Box-Muller for more.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>  // std::memcpy
#include <mutex>    // std::recursive_mutex, std::lock_guard
#include <optional>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "factories.hpp"

namespace tapegrad {

inline constexpr double kPi = 3.14159265358979323846;

// The 32-bit Mersenne Twister: the same words as std::mt19937 from the same seed, with a
// 32-bit state (std::mt19937 keeps 64-bit words) and a bulk fill for tensor-sized draws.
class MT19937 {
 public:
  static constexpr int kN = 624, kM = 397;

  explicit MT19937(uint32_t s = 5489u) { seed(s); }

  void seed(uint32_t s) {
    state_[0] = s;
    for (int i = 1; i < kN; ++i) state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<uint32_t>(i);
    index_ = kN;
    just_seeded_ = true;
  }

  // The position as PyTorch's at::mt19937 keeps it (torch.get_rng_state() stores it): `next`,
  // the word the next draw reads, and `left`, which each draw decrements first, twisting when
  // it reaches 0. Seeding gives left 1, next 0 (the first draw twists); after a draw that read
  // word i, left is 624 - i and next is i + 1. So next is index_ and left + next = 625, except
  // between a seed and the first twist, where index_ = 624 as after a whole block but torch
  // says next 0: just_seeded_ tells the two apart.
  struct TorchPosition {
    int32_t left;
    uint32_t next;
  };
  TorchPosition torch_position() const {
    if (just_seeded_) return {1, 0};
    return {kN + 1 - index_, static_cast<uint32_t>(index_)};
  }
  const uint32_t* words() const { return state_; }
  // The state with these 624 words at this position, which must be one torch_position() can
  // return (Generator::set_state checks it).
  void assign(const uint32_t* words, TorchPosition position) {
    std::copy(words, words + kN, state_);
    just_seeded_ = position.next == 0;
    index_ = just_seeded_ ? kN : static_cast<int>(position.next);
  }

  uint32_t operator()() {
    if (index_ >= kN) twist();
    return temper(state_[index_++]);
  }

  // out[0, n) = the next n words.
  TAPEGRAD_NOINLINE void generate(uint32_t* out, int64_t n) {
    while (n > 0) {
      if (index_ >= kN) twist();
      const int take = static_cast<int>(std::min<int64_t>(n, kN - index_));
      int k = 0;
#if defined(__AVX2__)
      for (; k + 8 <= take; k += 8) {
        const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state_ + index_ + k));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k), temper8(y));
      }
#endif
#if defined(__SSE2__)
      for (; k + 4 <= take; k += 4) {
        const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state_ + index_ + k));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), temper4(y));
      }
#endif
      for (; k < take; ++k) out[k] = temper(state_[index_ + k]);
      index_ += take;
      out += take;
      n -= take;
    }
  }

 private:
  static constexpr uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;

  static uint32_t temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
  }
  static uint32_t mix(uint32_t upper, uint32_t lower, uint32_t far) {
    const uint32_t y = (upper & kUpper) | (lower & kLower);
    return far ^ (y >> 1) ^ ((0u - (y & 1u)) & kMatrix);
  }
#if defined(__SSE2__)
  // The same two functions on four words at once.
  static __m128i temper4(__m128i y) {
    y = _mm_xor_si128(y, _mm_srli_epi32(y, 11));
    y = _mm_xor_si128(y, _mm_and_si128(_mm_slli_epi32(y, 7), _mm_set1_epi32(static_cast<int>(0x9d2c5680u))));
    y = _mm_xor_si128(y, _mm_and_si128(_mm_slli_epi32(y, 15), _mm_set1_epi32(static_cast<int>(0xefc60000u))));
    return _mm_xor_si128(y, _mm_srli_epi32(y, 18));
  }
  // state[i, i+4) = mix(state[i + j], state[i + j + 1], state[far + j]) for j < 4
  void mix4(int i, int far) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state_ + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state_ + i + 1));
    const __m128i f = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state_ + far));
    const __m128i y = _mm_or_si128(_mm_and_si128(a, _mm_set1_epi32(static_cast<int>(kUpper))),
                                   _mm_and_si128(b, _mm_set1_epi32(static_cast<int>(kLower))));
    const __m128i odd = _mm_cmpeq_epi32(_mm_and_si128(y, _mm_set1_epi32(1)), _mm_set1_epi32(1));
    const __m128i r = _mm_xor_si128(_mm_xor_si128(f, _mm_srli_epi32(y, 1)),
                                    _mm_and_si128(odd, _mm_set1_epi32(static_cast<int>(kMatrix))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(state_ + i), r);
  }
#endif
#if defined(__AVX2__)
  // The same on eight words.
  static __m256i temper8(__m256i y) {
    y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 11));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 7), _mm256_set1_epi32(static_cast<int>(0x9d2c5680u))));
    y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 15), _mm256_set1_epi32(static_cast<int>(0xefc60000u))));
    return _mm256_xor_si256(y, _mm256_srli_epi32(y, 18));
  }
  void mix8(int i, int far) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state_ + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state_ + i + 1));
    const __m256i f = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(state_ + far));
    const __m256i y = _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi32(static_cast<int>(kUpper))),
                                      _mm256_and_si256(b, _mm256_set1_epi32(static_cast<int>(kLower))));
    const __m256i odd = _mm256_cmpeq_epi32(_mm256_and_si256(y, _mm256_set1_epi32(1)), _mm256_set1_epi32(1));
    const __m256i r = _mm256_xor_si256(_mm256_xor_si256(f, _mm256_srli_epi32(y, 1)),
                                       _mm256_and_si256(odd, _mm256_set1_epi32(static_cast<int>(kMatrix))));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(state_ + i), r);
  }
#endif
  TAPEGRAD_NOINLINE void twist() {
    constexpr int kSplit = kN - kM;  // below it the far word is ahead, above it already new
#if defined(__SSE2__)
    int i = 0;
#if defined(__AVX2__)
    for (; i + 8 <= kSplit; i += 8) mix8(i, i + kM);
#endif
    for (; i + 4 <= kSplit; i += 4) mix4(i, i + kM);
    for (; i < kSplit; ++i) state_[i] = mix(state_[i], state_[i + 1], state_[i + kM]);
    static_assert((kN - 1 - kSplit) % 4 == 0, "the second stretch is whole vectors");
    int j = kSplit;
#if defined(__AVX2__)
    for (; j + 8 <= kN - 1; j += 8) mix8(j, j - kSplit);  // far words were written >= 227 back
#endif
    for (; j < kN - 1; j += 4) mix4(j, j - kSplit);
#else
    for (int i = 0; i < kSplit; ++i) state_[i] = mix(state_[i], state_[i + 1], state_[i + kM]);
    for (int j = kSplit; j < kN - 1; ++j) state_[j] = mix(state_[j], state_[j + 1], state_[j - kSplit]);
#endif
    state_[kN - 1] = mix(state_[kN - 1], state_[0], state_[kM - 1]);
    index_ = 0;
    just_seeded_ = false;
  }

  uint32_t state_[kN];
  int index_ = kN;
  bool just_seeded_ = true;  // no twist since seed(): see torch_position()
};

namespace detail {
// The uniform on [0, 1) PyTorch makes of one word (float) or two (double, first one high).
inline float unit_float(uint32_t w) { return static_cast<float>(w & ((1u << 24) - 1)) * (1.0f / float(1 << 24)); }
inline double unit_double(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 32) | lo;
  // through int64: the 53-bit value fits, and the signed conversion is one instruction on x86
  return static_cast<double>(static_cast<int64_t>(bits & ((uint64_t(1) << 53) - 1))) * (1.0 / double(uint64_t(1) << 53));
}

}  // namespace detail

// torch.get_rng_state()'s bytes: PyTorch's CPUGeneratorImplState as x86-64 and aarch64 lay it
// out (little-endian, each field at its natural alignment), read and written byte by byte so
// that any host gives the same bytes. The legacy part (THGenerator's old state) comes first:
//   [0, 8)        uint64 the_initial_seed   manual_seed's whole argument
//   [8, 12)       int32  left               see MT19937::torch_position()
//   [12, 16)      int32  seeded             1 (0 is refused, by torch too)
//   [16, 24)      uint64 next
//   [24, 5016)    uint64 state[624]         the 32-bit words, widened
//   [5016, 5024)  double normal_x           torch writes 0; read only in the legacy layout
//   [5024, 5032)  double normal_y           the cached double normal, when valid
//   [5032, 5040)  double normal_rho         torch writes 0; read only in the legacy layout
//   [5040, 5044)  int32  normal_is_valid
//   [5044, 5048)  padding                   the legacy state ends here: 5048 bytes
//   [5048, 5052)  float  next_float_normal_sample
//   [5052]        bool   is_next_float_normal_sample_valid
//   [5053, 5056)  padding
// Torch fills a value-initialised struct (std::make_unique<CPUGeneratorImplState>()), so its
// padding and unused fields are zeros (and were in every state the goldens hold); ours too.
namespace detail::torch_rng_state {

inline constexpr size_t kInitialSeed = 0, kLeft = 8, kSeeded = 12, kNext = 16, kWords = 24, kNormalX = 5016,
                        kNormalY = 5024, kNormalRho = 5032, kNormalIsValid = 5040, kLegacySize = 5048,
                        kFloatNormal = 5048, kFloatNormalIsValid = 5052, kSize = 5056;
static_assert(kWords + 8 * MT19937::kN == kNormalX, "the state words fill the gap");

inline uint64_t load(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline void store(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline double load_double(const uint8_t* p) {
  const uint64_t bits = load(p, 8);
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
inline float load_float(const uint8_t* p) {
  const auto bits = static_cast<uint32_t>(load(p, 4));
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
inline void store_double(uint8_t* p, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  store(p, bits, 8);
}
inline void store_float(uint8_t* p, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  store(p, bits, 4);
}

}  // namespace detail::torch_rng_state

class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 67280421310721ULL;  // PyTorch's default

  explicit Generator(uint64_t seed = kDefaultSeed) { manual_seed(seed); }

  void manual_seed(uint64_t seed) {
    engine_.seed(static_cast<uint32_t>(seed));  // PyTorch seeds its mt19937 with the low 32 bits
    initial_seed_ = seed;                       // and keeps all 64 for initial_seed()
    next_normal_.reset();
    next_float_normal_.reset();
    offset_ = 0;
  }

  // The last seed, all 64 bits (torch.initial_seed()); set_state sets it from the bytes.
  uint64_t initial_seed() const { return initial_seed_; }

  uint32_t random() {
    ++offset_;
    return engine_();
  }
  // out[0, n) = the next n words, as n calls of random() would give.
  void random_words(uint32_t* out, int64_t n) {
    offset_ += static_cast<uint64_t>(n);
    engine_.generate(out, n);
  }

  // The state as the 5056 bytes torch.get_rng_state() holds (layout above), so that
  // torch.set_rng_state(torch.tensor(list(bytes), dtype=torch.uint8)) continues this stream.
  TAPEGRAD_COLD std::vector<uint8_t> get_state() const {
    namespace layout = detail::torch_rng_state;
    std::vector<uint8_t> bytes(layout::kSize, 0);  // the padding and the unused fields stay 0, as torch's
    uint8_t* b = bytes.data();
    std::lock_guard lock(mutex_);
    const MT19937::TorchPosition position = engine_.torch_position();
    layout::store(b + layout::kInitialSeed, initial_seed_, 8);
    layout::store(b + layout::kLeft, static_cast<uint32_t>(position.left), 4);
    layout::store(b + layout::kSeeded, 1, 4);
    layout::store(b + layout::kNext, position.next, 8);
    const uint32_t* words = engine_.words();
    for (int i = 0; i < MT19937::kN; ++i) layout::store(b + layout::kWords + 8 * i, words[i], 8);
    if (next_normal_) {
      layout::store_double(b + layout::kNormalY, *next_normal_);
      layout::store(b + layout::kNormalIsValid, 1, 4);
    }
    if (next_float_normal_) {
      layout::store_float(b + layout::kFloatNormal, *next_float_normal_);
      b[layout::kFloatNormalIsValid] = 1;
    }
    return bytes;
  }

  // Sets the state from torch.get_rng_state()'s bytes (5056), or from the legacy layout's 5048
  // (the old THGenerator state, which torch 1.13 still loads: its cached normal is
  // normal_rho * sin(2 pi normal_x), and it has no float sample), as torch.set_rng_state does. Bytes torch would never write are
  // refused (tapegrad::Error naming the field and its value) and the generator is unchanged;
  // torch itself refuses fewer (it truncates words to 32 bits and reads any nonzero flag as
  // true), but such bytes can only come from corruption or editing.
  // The word count offset() restarts at 0, as after a seed: the bytes say nothing of what was
  // drawn before, and a module's recorded initialisation draws (nn::Sequential's replay) must
  // not be matched against a stream that was replaced under them.
  TAPEGRAD_COLD void set_state(const std::vector<uint8_t>& bytes) {
    namespace layout = detail::torch_rng_state;
    const size_t size = bytes.size();
    detail::check(size == layout::kSize || size == layout::kLegacySize, "Generator::set_state: expected ",
                  layout::kSize, " bytes (torch.get_rng_state()) or ", layout::kLegacySize,
                  " (its legacy layout), got ", size);
    const uint8_t* b = bytes.data();
    const auto seeded = static_cast<uint32_t>(layout::load(b + layout::kSeeded, 4));
    detail::check(seeded == 1, "Generator::set_state: seeded is ", seeded, ", expected 1");
    const auto left = static_cast<int32_t>(static_cast<uint32_t>(layout::load(b + layout::kLeft, 4)));
    detail::check(left >= 1 && left <= MT19937::kN, "Generator::set_state: left is ", left, ", expected 1 to 624");
    const uint64_t next = layout::load(b + layout::kNext, 8);
    detail::check(next <= MT19937::kN, "Generator::set_state: next is ", next, ", expected 0 to 624");
    // torch's own draws only ever leave left + next = 625, or left 1 and next 0 after a seed
    // (see MT19937::torch_position()). torch would take other pairs too, and then twist in the
    // middle of a block, but one index cannot express that, and no torch stream reaches them.
    detail::check(next == 0 ? left == 1 : left + static_cast<int64_t>(next) == MT19937::kN + 1,
                  "Generator::set_state: left ", left, " and next ", next,
                  " do not fit together (torch's states have left + next = 625, or left 1 and next 0 after a seed)");
    uint32_t words[MT19937::kN];
    for (int i = 0; i < MT19937::kN; ++i) {
      const uint64_t word = layout::load(b + layout::kWords + 8 * i, 8);
      detail::check(word <= 0xffffffffu, "Generator::set_state: state word ", i, " is ", word, ", expected below 2^32");
      words[i] = static_cast<uint32_t>(word);
    }
    const auto normal_is_valid = static_cast<uint32_t>(layout::load(b + layout::kNormalIsValid, 4));
    detail::check(normal_is_valid <= 1, "Generator::set_state: normal_is_valid is ", normal_is_valid,
                  ", expected 0 or 1");
    std::optional<double> next_normal;
    std::optional<float> next_float_normal;
    if (size == layout::kSize) {
      if (normal_is_valid) next_normal = layout::load_double(b + layout::kNormalY);
      const uint32_t float_valid = b[layout::kFloatNormalIsValid];
      detail::check(float_valid <= 1, "Generator::set_state: is_next_float_normal_sample_valid is ", float_valid,
                    ", expected 0 or 1");
      if (float_valid) next_float_normal = layout::load_float(b + layout::kFloatNormal);
    } else if (normal_is_valid) {
      // The legacy state kept the Box-Muller pair's angle uniform and radius; the cached value is
      // the sine half, computed as torch 1.13 computes it.
      const double rho = layout::load_double(b + layout::kNormalRho);
      const double theta = 2.0 * kPi * layout::load_double(b + layout::kNormalX);
      next_normal = rho * std::sin(theta);
    }
    std::lock_guard lock(mutex_);
    engine_.assign(words, {left, static_cast<uint32_t>(next)});
    initial_seed_ = layout::load(b + layout::kInitialSeed, 8);
    next_normal_ = next_normal;
    next_float_normal_ = next_float_normal;
    offset_ = 0;
  }

  // The whole state, to replay a stretch of draws (see nn::Sequential).
  struct Snapshot {
    MT19937 engine;
    std::optional<double> next_normal;
    std::optional<float> next_float_normal;
    uint64_t initial_seed;
    uint64_t offset;
  };
  Snapshot snapshot() const { return {engine_, next_normal_, next_float_normal_, initial_seed_, offset_}; }
  void restore(const Snapshot& s) {
    engine_ = s.engine;
    next_normal_ = s.next_normal;
    next_float_normal_ = s.next_float_normal;
    initial_seed_ = s.initial_seed;
    offset_ = s.offset;
  }
  // How many 32-bit words were drawn since the last seed or set_state.
  uint64_t offset() const { return offset_; }

  // One uniform draw on [from, to): 24 random bits for float, 53 for double.
  template <class T>
  T uniform(T from, T to) {
    T u;
    if constexpr (std::is_same_v<T, double>) {
      const uint32_t hi = random();
      u = detail::unit_double(hi, random());
    } else {
      u = detail::unit_float(random());
    }
    return std::fma(u, to - from, from);  // PyTorch's x86 kernels are built with FMA: bit-exact
  }

  // One standard normal draw in double, with PyTorch's one-value cache.
  TAPEGRAD_NOINLINE double normal() {
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

  // The lock that makes one fill of a shared generator atomic; recursive, so a module's
  // initialisation can hold it across all its fills.
  std::recursive_mutex& mutex() { return mutex_; }

 private:
  MT19937 engine_;
  uint64_t initial_seed_ = kDefaultSeed;
  std::optional<double> next_normal_;  // the sine half of the last scalar Box-Muller pair
  // torch's float cache: no tapegrad draw reads or fills it (torch 1.13's CPU normals all
  // cache in double), but a state from torch that holds one hands it back unchanged.
  std::optional<float> next_float_normal_;
  uint64_t offset_ = 0;
  mutable std::recursive_mutex mutex_;  // mutable: get_state() is const and locks it
};

namespace detail {

inline Generator& process_generator() {
  static Generator gen;
  return gen;
}
inline Generator*& thread_generator() {
  thread_local Generator* gen = nullptr;
  return gen;
}

}  // namespace detail

// The generator that manual_seed seeds and that every draw without an explicit generator uses
// (rand, randn, uniform_, normal_, bernoulli_, module initialisation, dropout): this thread's
// GeneratorGuard's generator while one is active, else the process-wide one. The process-wide
// generator is shared by all threads; each fill locks it, so concurrent draws are safe but
// their interleaving, and so each thread's numbers, depend on timing.
inline Generator& default_generator() {
  Generator* own = detail::thread_generator();
  return own ? *own : detail::process_generator();
}

// Makes `gen` this thread's default generator for the guard's lifetime (guards nest), so a
// thread that builds and trains its own model gets the same numbers as a program that does
// only that: `tg::Generator gen(seed); tg::GeneratorGuard use(gen);`.
class GeneratorGuard {
 public:
  explicit GeneratorGuard(Generator& gen) : previous_(detail::thread_generator()) { detail::thread_generator() = &gen; }
  ~GeneratorGuard() { detail::thread_generator() = previous_; }
  GeneratorGuard(const GeneratorGuard&) = delete;
  GeneratorGuard& operator=(const GeneratorGuard&) = delete;

 private:
  Generator* previous_;
};

inline void manual_seed(uint64_t seed) {
  Generator& gen = default_generator();
  std::lock_guard lock(gen.mutex());
  gen.manual_seed(seed);
}

// torch.get_rng_state() and torch.set_rng_state(): the default generator's state as bytes.
inline std::vector<uint8_t> get_rng_state() { return default_generator().get_state(); }
inline void set_rng_state(const std::vector<uint8_t>& bytes) { default_generator().set_state(bytes); }

namespace detail {

// Calls f(i, words, count) for the next n words of gen, drawn in stack-sized chunks: words
// [0, count) are the draws i .. i + count. Chunks are even, so pairs never straddle two.
template <class F>
void for_each_chunk(Generator& gen, int64_t n, F&& f) {
  constexpr int64_t kChunk = 512;
  uint32_t words[kChunk];
  for (int64_t first = 0; first < n; first += kChunk) {
    const int64_t take = std::min(kChunk, n - first);
    gen.random_words(words, take);
    f(first, words, take);
  }
}

// d[0, n) = one uniform draw each on [from, to), in order; the caller holds gen's lock.
template <class T>
void uniform_draws(T* d, int64_t n, double from, double to, Generator& gen) {
  const T lo = static_cast<T>(from), span = static_cast<T>(to) - lo;
  const bool unit = lo == T(0) && span == T(1);
  if constexpr (std::is_same_v<T, float>) {
    for_each_chunk(gen, n, [&](int64_t first, const uint32_t* w, int64_t count) {
      for (int64_t k = 0; k < count; ++k) {
        const float u = unit_float(w[k]);
        d[first + k] = unit ? u : std::fma(u, span, lo);  // fused, as PyTorch's x86 kernels
      }
    });
  } else {
    for_each_chunk(gen, 2 * n, [&](int64_t first, const uint32_t* w, int64_t count) {
      for (int64_t k = 0; k < count; k += 2) {
        const double u = unit_double(w[k], w[k + 1]);
        d[(first + k) / 2] = unit ? u : std::fma(u, span, lo);
      }
    });
  }
}

template <class T>
void uniform_fill(T* d, int64_t n, double from, double to, Generator& gen) {
  std::lock_guard lock(gen.mutex());
  uniform_draws(d, n, from, to, gen);
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
  std::lock_guard lock(gen.mutex());
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(gen.normal() * std + mean);
    return;
  }
  const T m = static_cast<T>(mean), s = static_cast<T>(std);
  uniform_draws(d, n, 0.0, 1.0, gen);
  for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill_16(d + i, m, s);
  if (n % 16 != 0) {  // the tail: redraw the last 16 values and transform them together
    T* tail = d + n - 16;
    uniform_draws(tail, 16, 0.0, 1.0, gen);
    normal_fill_16(tail, m, s);
  }
}

template <class T>
void bernoulli_fill(T* d, int64_t n, double p, Generator& gen) {
  std::lock_guard lock(gen.mutex());
  // Each element: u = (53 random bits) * 2^-53 from two words, 1 if u < p. Since p * 2^53 is
  // exact, u < p is bits < ceil(p * 2^53): an integer compare, done without a branch (the
  // outcome is random, so a branch would mispredict).
  const int64_t threshold = static_cast<int64_t>(std::ceil(p * 0x1p53));
  constexpr uint64_t kMask = (uint64_t(1) << 53) - 1;
  for_each_chunk(gen, 2 * n, [d, threshold](int64_t first, const uint32_t* w, int64_t count) {
    T* out = d + first / 2;
    const int64_t pairs = count / 2;
    for (int64_t i = 0; i < pairs; ++i) {
      const auto bits = static_cast<int64_t>(((static_cast<uint64_t>(w[2 * i]) << 32) | w[2 * i + 1]) & kMask);
      out[i] = static_cast<T>(-((bits - threshold) >> 63));  // 1 when bits < threshold
    }
  });
}

}  // namespace detail

template <class T = float>
Tensor<T> rand(IntArrayRef shape, Generator& gen = default_generator()) {
  Tensor<T> t = detail::make_tensor<T>(Dims(shape, "rand"));
  detail::uniform_fill(t.data(), t.numel(), 0.0, 1.0, gen);
  return t;
}

template <class T = float>
Tensor<T> randn(IntArrayRef shape, Generator& gen = default_generator()) {
  Tensor<T> t = detail::make_tensor<T>(Dims(shape, "randn"));
  detail::normal_fill(t.data(), t.numel(), 0.0, 1.0, gen);
  return t;
}

template <class T>
Tensor<T>& Tensor<T>::uniform_(double from, double to) {
  Impl& i = checked("uniform_");
  detail::check(from <= to, "uniform_: expects from <= to, but got from=", from, " to=", to);
  detail::uniform_fill(i.data, i.sizes.numel(), from, to, default_generator());
  detail::record_overwrite(*this);
  return *this;
}

template <class T>
Tensor<T>& Tensor<T>::normal_(double mean, double std) {
  Impl& i = checked("normal_");
  detail::check(std >= 0, "normal_: expects std >= 0.0, but got std=", std);
  detail::normal_fill(i.data, i.sizes.numel(), mean, std, default_generator());
  detail::record_overwrite(*this);
  return *this;
}

template <class T>
Tensor<T>& Tensor<T>::bernoulli_(double p) {
  Impl& i = checked("bernoulli_");
  detail::check(p >= 0 && p <= 1, "bernoulli_: expects 0 <= p <= 1, but got p=", p);
  detail::bernoulli_fill(i.data, i.sizes.numel(), p, default_generator());
  detail::record_overwrite(*this);
  return *this;
}

}  // namespace tapegrad
