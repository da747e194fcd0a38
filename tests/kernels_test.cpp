// Kernel-level exactness: where PyTorch's result is correctly rounded, tapegrad's must be too,
// whatever Eigen's vectorised approximations would give.
#include "support/helpers.hpp"

namespace tg = tapegrad;

TEST_CASE("float sqrt, pow(x, 0.5) and pow(x, -0.5) are correctly rounded") {
  tg::manual_seed(11);
  auto x = tg::rand({4099}) * 1000 + 1e-3;  // odd length: vector body and scalar tail
  const auto root = tg::sqrt(x).to_vector();
  const auto half = tg::pow(x, 0.5).to_vector();
  const auto inv = tg::pow(x, -0.5).to_vector();
  const auto v = x.to_vector();
  int mismatches = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    mismatches += root[i] != std::sqrt(v[i]);
    mismatches += half[i] != std::sqrt(v[i]);
    mismatches += inv[i] != 1.0f / std::sqrt(v[i]);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("Adam's denominator uses the correctly rounded sqrt") {
  // One step from zero state: p - lr * g / (|g| * (1 - b1) / (1 - b1) ...) reduces to
  // p - lr * m / (sqrt(v) / sqrt(1 - b2) + eps) with m = (1 - b1) g, v = (1 - b2) g^2.
  tg::manual_seed(12);
  auto p = tg::randn({1031});
  auto g = tg::randn({1031});
  const auto p0 = p.to_vector();
  const auto gv = g.to_vector();
  tg::optim::Adam<float> adam({p}, 0.1);
  adam.step({g});
  const float b1 = 0.9f, b2 = 0.999f, one_minus_b1 = 1 - 0.9, one_minus_b2 = static_cast<float>(1 - 0.999);
  const float step_size = static_cast<float>(0.1 / (1 - 0.9));
  const float bc2_sqrt = static_cast<float>(std::sqrt(1 - 0.999));
  int mismatches = 0;
  for (size_t i = 0; i < p0.size(); ++i) {
    const float m = 0.0f * b1 + one_minus_b1 * gv[i];
    const float v = 0.0f * b2 + one_minus_b2 * gv[i] * gv[i];
    const float expected = p0[i] + (-step_size) * (m / (std::sqrt(v) / bc2_sqrt + 1e-8f));
    mismatches += p.data()[i] != expected;
  }
  CHECK(mismatches == 0);
}

// The product every matmul and Linear goes through, against a double-precision reference:
// every operand order, = and +=, shapes on each side of the micro-kernel's tile (rows and
// columns) and of the packing blocks (mc, kc, nc), the matrix-vector forms and the routes for
// a few rows or columns. C is followed by sentinels that an edge tile must not touch.
TEMPLATE_TEST_CASE("gemm matches a reference at every tile and block edge", "", float, double) {
  using T = TestType;
  namespace di = tg::detail;
#if TAPEGRAD_EIGEN_INTERNALS && !defined(EIGEN_HAS_OPENMP)
  const int64_t mr = di::gemm_impl::Tile<T>::kMr, nr = di::gemm_impl::Tile<T>::kNr;
  const int64_t kc = di::gemm_impl::Tile<T>::kKc, mc = di::gemm_impl::Tile<T>::kMc, nc = di::gemm_impl::Tile<T>::kNc;
#else
  const int64_t mr = 6, nr = 8, kc = 256, mc = 96, nc = 2048;
#endif
  const std::vector<int64_t> rows = {1, 2, 4, 5, mr - 1, mr, mr + 1, 2 * mr + 3, mc - 1, mc + 1};
  const std::vector<int64_t> cols = {1, 3, 5, nr - 1, nr, nr + 1, 2 * nr + 5, 4 * nr + 1, nc + 5};
  const std::vector<int64_t> depths = {1, 2, 17, kc, kc + 1, 2 * kc + 3};
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  int64_t checked = 0, bad = 0;
  for (int64_t m : rows) {
    for (int64_t n : cols) {
      for (int64_t k : depths) {
        if (m * n * k > 2000000) continue;  // keeps the reference loops fast
        for (int form = 0; form < 8; ++form) {
          const bool ta = form & 1, tb = form & 2, acc = form & 4;
          std::vector<T> a(m * k), b(k * n), c(m * n + 16);
          for (auto* v : {&a, &b, &c}) {
            for (T& x : *v) x = static_cast<T>(u(rng));
          }
          const std::vector<T> c0 = c;
          di::gemm(a.data(), ta, b.data(), tb, c.data(), m, n, k, acc);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double s = acc ? c0[i * n + j] : 0, mag = std::abs(s);
              for (int64_t p = 0; p < k; ++p) {
                const double x = ta ? a[p * m + i] : a[i * k + p], y = tb ? b[j * k + p] : b[p * n + j];
                s += x * y;
                mag += std::abs(x * y);
              }
              const double tol = (k + 2) * std::numeric_limits<T>::epsilon() * mag;
              bad += !(std::abs(s - c[i * n + j]) <= tol);
              ++checked;
            }
          }
          for (int64_t i = m * n; i < m * n + 16; ++i) bad += c[i] != c0[i];
        }
      }
    }
  }
  CHECK(checked > 500000);  // the shapes above were all visited
  CHECK(bad == 0);
}
