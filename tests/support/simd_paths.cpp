// Run by ctest as simd.<path>, compiled with the -march=native flags of the *_native tests:
// says whether that SIMD path is compiled into them and checks that it computes the right
// numbers. Exit 0: compiled in and correct; 1: wrong; 77: not compiled in (ctest: Skipped).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace {

[[maybe_unused]] constexpr int kSkip = 77;  // unused where every path is compiled in

// The 8-wide twist and temper (generator.hpp, under __AVX2__) against std::mt19937's words.
int avx2_mersenne_twister() {
#if defined(__AVX2__)
  tapegrad::MT19937 engine(42);
  std::mt19937 reference(42);
  int64_t compared = 0, mismatches = 0;
  // Single draws put the bulk fills at every offset mod 8; 5000 words cross several twists.
  for (int64_t n : {3, 5000, 1, 7, 623, 625, 1248, 8, 9}) {
    std::vector<uint32_t> words(static_cast<size_t>(n));
    engine.generate(words.data(), n);
    for (uint32_t w : words) mismatches += w != reference();
    compared += n;
    mismatches += engine() != reference();
    ++compared;
  }
  std::printf("AVX2 Mersenne Twister compiled in (__AVX2__): %lld of %lld words differ from std::mt19937\n",
              static_cast<long long>(mismatches), static_cast<long long>(compared));
  return mismatches == 0 ? 0 : 1;
#else
  std::printf("SKIPPED: compiled without __AVX2__, the Mersenne Twister runs its SSE2 or scalar path\n");
  return kSkip;
#endif
}

#if TAPEGRAD_EIGEN_INTERNALS && defined(EIGEN_VECTORIZE_AVX512)
// C = op(A) op(B) through tapegrad's gemm against a double sum: each element within
// k * eps * sum |a b| (the bound for any order of summation). Returns the elements outside it.
template <class T>
int64_t check_product(bool ta, bool tb, int64_t m, int64_t n, int64_t k, bool accumulate) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<T> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n)), c(static_cast<size_t>(m * n));
  for (T& v : a) v = static_cast<T>(dist(rng));
  for (T& v : b) v = static_cast<T>(dist(rng));
  for (T& v : c) v = static_cast<T>(dist(rng));
  const std::vector<T> c0 = c;
  tapegrad::detail::gemm(a.data(), ta, b.data(), tb, c.data(), m, n, k, accumulate);
  int64_t bad = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = accumulate ? static_cast<double>(c0[i * n + j]) : 0.0, scale = std::abs(sum);
      for (int64_t p = 0; p < k; ++p) {
        const double x = a[ta ? p * m + i : i * k + p], y = b[tb ? j * k + p : p * n + j];
        sum += x * y;
        scale += std::abs(x * y);
      }
      bad += !(std::abs(c[i * n + j] - sum) <= (k + 1) * std::numeric_limits<T>::epsilon() * scale);
    }
  }
  return bad;
}
#endif

// The 12 x 32 float (12 x 16 double) register tile that gemm.hpp's Tile gets from Eigen's
// AVX-512 packets and 32 vector registers, run over blocked products with edge tiles.
int avx512_gemm_tile() {
#if !TAPEGRAD_EIGEN_INTERNALS
  std::printf("SKIPPED: Eigen is not 3.4 (TAPEGRAD_EIGEN_INTERNALS is 0), products use Eigen's expressions\n");
  return kSkip;
#elif !defined(EIGEN_VECTORIZE_AVX512)
  std::printf("SKIPPED: compiled without AVX-512 (EIGEN_VECTORIZE_AVX512 undefined), the GEMM tile is %d x %d floats\n",
              tapegrad::detail::gemm_impl::Tile<float>::kMr, tapegrad::detail::gemm_impl::Tile<float>::kNr);
  return kSkip;
#else
  using Float = tapegrad::detail::gemm_impl::Tile<float>;
  using Double = tapegrad::detail::gemm_impl::Tile<double>;
  std::printf("AVX-512 GEMM tile compiled in (EIGEN_VECTORIZE_AVX512): %d x %d floats, %d x %d doubles, %d registers\n",
              Float::kMr, Float::kNr, Double::kMr, Double::kNr, Float::kRegisters);
  if (Float::kPacket != 16 || Double::kPacket != 8 || Float::kMr != 12 || Double::kMr != 12) {
    std::printf("FAILED: the tile is not AVX-512's (expected 16 floats or 8 doubles per packet, 12 rows)\n");
    return 1;
  }
  // 50 x 70 over k = 300: two kc blocks, full and edge tiles in both directions, all four
  // storage orders (none of these shapes takes the few-rows or few-columns routes).
  int64_t bad = 0;
  for (int form = 0; form < 4; ++form) {
    const bool ta = form & 1, tb = form & 2;
    bad += check_product<float>(ta, tb, 50, 70, 300, form == 3);
    bad += check_product<double>(ta, tb, 50, 70, 300, form == 0);
  }
  std::printf("%lld elements of 8 products outside the summation bound\n", static_cast<long long>(bad));
  return bad == 0 ? 0 : 1;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "";
  if (std::strcmp(path, "avx2_mersenne_twister") == 0) return avx2_mersenne_twister();
  if (std::strcmp(path, "avx512_gemm_tile") == 0) return avx512_gemm_tile();
  std::printf("usage: simd_paths avx2_mersenne_twister|avx512_gemm_tile\n");
  return 2;
}
