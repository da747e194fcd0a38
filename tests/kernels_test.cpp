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
#if TAPEGRAD_EIGEN_INTERNALS
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

#if TAPEGRAD_EIGEN_INTERNALS
namespace {
// A random convolution of horizontal stride 1 and a filter of 32 values or more, whose rows are
// wide enough for the direct kernels (conv_direct.hpp) at this build's packet width.
template <class T>
tg::detail::conv::Geometry random_direct_geometry(std::mt19937& rng) {
  namespace dc = tg::detail::conv;
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (;;) {
    dc::Geometry s{};
    s.groups = pick(1, 3) == 3 ? 2 : 1;
    s.N = pick(1, 3), s.C = s.groups * pick(1, 6), s.O = s.groups * pick(1, 11);
    s.kh = pick(1, 4), s.kw = pick(1, 5), s.sh = pick(1, 2), s.sw = 1;
    s.dh = pick(1, 2), s.dw = pick(1, 2), s.ph = pick(0, 2), s.pw = pick(0, 2);
    s.H = pick(1, 9), s.W = pick(3, 40);
    s.Ho = (s.H + 2 * s.ph - s.dh * (s.kh - 1) - 1) / s.sh + 1;
    s.Wo = s.W + 2 * s.pw - s.dw * (s.kw - 1);
    if (s.Ho >= 1 && s.Wo >= 1 && s.K() >= dc::kShortFilter && dc::lanes_well_used<T>(s.Wo)) return s;
  }
}

template <class T>
std::vector<T> random_values(std::mt19937& rng, int64_t n) {
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(u(rng));
  return v;
}

// Whether a and b agree to within (terms + 2) epsilons of the largest magnitude.
template <class T>
int64_t disagreements(const std::vector<T>& a, const std::vector<T>& b, int64_t terms) {
  T mag = 1;
  for (T v : b) mag = std::max(mag, std::abs(v));
  const double tol = (terms + 2) * std::numeric_limits<T>::epsilon() * mag;
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) bad += !(std::abs(double(a[i]) - double(b[i])) <= tol);
  return bad;
}
}  // namespace

TEMPLATE_TEST_CASE("direct convolution kernels match the im2col path", "", float, double) {
  using T = TestType;
  namespace dc = tg::detail::conv;
  std::mt19937 rng(17);
  INFO("seed 17");
  int64_t forward = 0, input_grad = 0, weight_grad = 0, bad = 0;
  for (int trial = 0; trial < 150; ++trial) {
    const dc::Geometry s = random_direct_geometry<T>(rng);
    INFO("trial " << trial << ": x (" << s.N << ", " << s.C << ", " << s.H << ", " << s.W << "), O " << s.O << ", k "
                  << s.kh << "x" << s.kw << ", stride " << s.sh << ", padding " << s.ph << "x" << s.pw << ", dilation "
                  << s.dh << "x" << s.dw << ", groups " << s.groups);
    const auto x = random_values<T>(rng, s.N * s.C * s.HW()), w = random_values<T>(rng, s.O * s.K());
    const auto bias = random_values<T>(rng, s.O), g = random_values<T>(rng, s.N * s.O * s.HWo());
    std::vector<T> direct(s.N * s.O * s.HWo()), lowered(direct.size());
    REQUIRE(dc::forward_is_direct<T>(s));
    dc::forward_direct(s, x.data(), w.data(), bias.data(), direct.data());
    dc::forward_lowered(s, x.data(), w.data(), bias.data(), lowered.data());
    bad += disagreements(direct, lowered, s.K());
    ++forward;
    if (dc::input_grad_is_direct<T>(s)) {
      std::vector<T> dx(s.N * s.C * s.HW()), dx_lowered(dx.size());
      dc::input_grad_direct(s, g.data(), w.data(), dx.data());
      dc::input_grad_lowered(s, g.data(), w.data(), dx_lowered.data());
      bad += disagreements(dx, dx_lowered, s.Og() * s.kh * s.kw);
      ++input_grad;
    }
    REQUIRE(dc::weight_grad_is_direct<T>(s));
    std::vector<T> dw(s.O * s.K()), dw_lowered(dw.size());
    REQUIRE(dc::weight_grad_direct(s, x.data(), g.data(), dw.data()));
    dc::weight_grad_lowered(s, x.data(), g.data(), dw_lowered.data());
    bad += disagreements(dw, dw_lowered, s.N * s.HWo());
    ++weight_grad;
  }
  CHECK(input_grad > 20);  // stride-1 geometries were among them
  CHECK(bad == 0);
}

TEMPLATE_TEST_CASE("all_finite: one infinity or NaN anywhere, in the packets or the tail, is found", "", float, double) {
  using T = TestType;
  namespace dc = tg::detail::conv;
  const int64_t n = 3 * dc::DirectTile<T>::kPacket + 5;  // whole packets and a tail
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = (i % 2 ? T(-1) : T(1)) * std::numeric_limits<T>::max() / T(i + 1);
  CHECK(dc::all_finite(v.data(), n));
  CHECK(dc::all_finite(v.data(), 0));
  for (const T bad : {std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(), std::numeric_limits<T>::quiet_NaN()}) {
    for (int64_t at : {int64_t(0), int64_t(7), n - 6, n - 1}) {
      INFO("value " << bad << " at " << at);
      std::vector<T> w = v;
      w[static_cast<size_t>(at)] = bad;
      CHECK_FALSE(dc::all_finite(w.data(), n));
      CHECK(dc::all_finite(w.data(), at));  // the values before it
    }
  }
}

TEMPLATE_TEST_CASE("a non-finite input takes the weight gradient off the direct path", "", float, double) {
  using T = TestType;
  namespace dc = tg::detail::conv;
  // x (1, 4, 3, 14), w (2, 4, 3, 3), padding 1. The lanes past an output row's end read the
  // row's last columns for the first filter column, and multiply them by zeros: with an
  // infinity in the last column that is NaN where the true gradient is finite.
  const dc::Geometry s{1, 4, 3, 14, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 3, 14};
  std::mt19937 rng(3);
  auto x = random_values<T>(rng, s.N * s.C * s.HW());
  const auto g = random_values<T>(rng, s.N * s.O * s.HWo());
  x[1 * s.W + 13] = std::numeric_limits<T>::infinity();  // channel 0, row 1, the last column
  REQUIRE(dc::forward_is_direct<T>(s));
  REQUIRE(dc::weight_grad_is_direct<T>(s));
  std::vector<T> dw(s.O * s.K()), dw_lowered(dw.size()), dw_direct(dw.size());
  CHECK_FALSE(dc::weight_grad_direct(s, x.data(), g.data(), dw_direct.data()));  // it refuses
  dc::weight_grad_values(s, x.data(), g.data(), dw.data());
  dc::weight_grad_lowered(s, x.data(), g.data(), dw_lowered.data());
  dc::weight_grad_direct(s, x.data(), g.data(), dw_direct.data(), /*finite_only=*/false);  // what it would give
  int64_t infinite = 0, mismatched = 0, direct_nan = 0;
  for (size_t i = 0; i < dw.size(); ++i) {
    infinite += std::isinf(dw[i]);
    mismatched += !(dw[i] == dw_lowered[i] || (std::isnan(dw[i]) && std::isnan(dw_lowered[i])));
    direct_nan += std::isnan(dw_direct[i]) && std::isfinite(dw_lowered[i]);
  }
  CHECK(infinite > 0);  // the taps that read the infinity
  CHECK(mismatched == 0);
  // where this build's packets leave lanes unused past a 14-wide row, the direct kernel is wrong
  if (s.Wo % dc::DirectTile<T>::kPacket != 0) CHECK(direct_nan > 0);
}
#endif
