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
