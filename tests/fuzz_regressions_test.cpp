// What tests/fuzz/op_program_fuzzer found, one test per bug, so each stays fixed in every
// build (the sanitizer build turns the undefined behaviour of the old code into failures).
// The inputs that found them are in tests/fuzz/corpus (seed_edges, seed_narrow_extreme).
#include <limits>

#include "support/helpers.hpp"

namespace tg = tapegrad;

namespace {
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t k2e31 = int64_t(1) << 31, k2e40 = int64_t(1) << 40, k2e61 = int64_t(1) << 61;
}  // namespace

TEST_CASE("a tensor whose size in bytes overflows is refused and not allocated short") {
  // 2^61 doubles are 2^64 bytes: the byte count wrapped to a 64-byte block that zeros() then
  // filled far past its end.
  CHECK_THROWS_WITH(tg::zeros<double>({k2e61}),
                    "tensor: cannot allocate 2305843009213693952 elements of 8 bytes (more than one allocation can hold)");
  CHECK_THROWS_WITH(tg::full<float>({int64_t(1) << 62}, 1.0f),
                    "tensor: cannot allocate 4611686018427387904 elements of 4 bytes (more than one allocation can hold)");
  CHECK_THROWS_AS(tg::ones<double>({kMax}), tg::Error);
}

TEST_CASE("matmul of empty operands refuses a product it cannot hold") {
  // (m, 0) @ (0, n) is m * n zeros: fine when small, an Error (not a heap overflow) when not.
  auto small = tg::matmul(tg::zeros<double>({3, 0}), tg::zeros<double>({0, 2}));
  CHECK(small.shape() == tg::Shape{3, 2});
  CHECK(small.to_vector() == std::vector<double>(6, 0.0));
  CHECK_THROWS_WITH(tg::matmul(tg::zeros<double>({k2e31, 0}), tg::zeros<double>({0, k2e31})),
                    "tensor: cannot allocate 4611686018427387904 elements of 8 bytes (more than one allocation can hold)");
  // m * n past int64: counted without signed overflow
  CHECK_THROWS_WITH(tg::matmul(tg::zeros<double>({k2e40, 0}), tg::zeros<double>({0, k2e40})),
                    "tensor: shape [1099511627776, 1099511627776] has more elements than an int64 can count");
  CHECK_THROWS_WITH(tg::nn::functional::linear(tg::zeros<double>({k2e61, 0}), tg::zeros<double>({4, 0})),
                    "tensor: shape [2305843009213693952, 4] has more elements than an int64 can count");
}

TEST_CASE("empty tensors with huge dims broadcast to an empty result") {
  // [2^40, 2^40, 0] has no elements; counting them multiplied 2^40 * 2^40 first (signed overflow).
  auto a = tg::zeros<double>({k2e40, 1, 0});
  a.requires_grad_();
  auto b = tg::zeros<double>({1, k2e40, 0});
  auto c = a + b;
  CHECK(c.shape() == tg::Shape{k2e40, k2e40, 0});
  CHECK(c.numel() == 0);
  c.sum().backward();
  REQUIRE(a.grad().defined());
  CHECK(a.grad().shape() == a.shape());
}

TEST_CASE("reducing the empty dim of a tensor with huge dims") {
  auto x = tg::zeros<double>({0, k2e40, k2e40});
  CHECK_THROWS_WITH(x.sum(0), "tensor: shape [1099511627776, 1099511627776] has more elements than an int64 can count");
  CHECK(x.sum(1).shape() == tg::Shape{0, k2e40});
  CHECK(x.mean(2, true).shape() == tg::Shape{0, k2e40, 1});
}

TEST_CASE("narrow with a start or length near INT64_MAX is refused") {
  // start + length overflowed, passed the range check and copied far out of bounds.
  auto x = tg::ones<double>({3});
  CHECK_THROWS_WITH(x.narrow(0, 1, kMax), "narrow: start 1 and length 9223372036854775807 are out of range for dim 0 of shape [3]");
  CHECK_THROWS_WITH(x.narrow(0, kMax, 1), "narrow: start 9223372036854775807 and length 1 are out of range for dim 0 of shape [3]");
  CHECK_THROWS_WITH(x.narrow(0, 3, 1), "narrow: start 3 and length 1 are out of range for dim 0 of shape [3]");
  CHECK(x.narrow(0, 3, 0).numel() == 0);  // an empty slice at the end is fine
  CHECK(x.narrow(0, -1, 1).to_vector() == std::vector<double>{1.0});
}

TEST_CASE("an in-place fill cuts the tensor's history from the gradient") {
  // c = clone(x); c.fill_(v): c still had CloneBackward, so x got a gradient through values
  // that no longer depended on it (analytical 16, numerical 0). As PyTorch's FillBackward, the
  // history now gets zero through every fill.
  auto x = tg::tensor<double>({0.5}, {1}).requires_grad_();
  auto fills = std::vector<std::function<void(tg::Tensor<double>&)>>{
      [](tg::Tensor<double>& t) { t.fill_(2.0); }, [](tg::Tensor<double>& t) { t.zero_(); },
      [](tg::Tensor<double>& t) { t.uniform_(1, 2); }, [](tg::Tensor<double>& t) { t.normal_(0, 1); },
      [](tg::Tensor<double>& t) { t.bernoulli_(0.5); }};
  for (auto& fill : fills) {
    x.set_grad(tg::Tensor<double>());
    auto c = x * 3;
    fill(c);
    CHECK(std::string(c.grad_fn_name()) == "FillBackward");
    (c * x).sum().backward();  // d/dx = c, and nothing through c
    REQUIRE(x.grad().defined());
    CHECK(x.grad().item() == c.item());
  }
  // a leaf's fill (a layer's initialisation) records nothing
  x.fill_(1.0);
  CHECK(x.is_leaf());
}
