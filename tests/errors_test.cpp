// Bad input throws tapegrad::Error whose message names the op and the shapes or values, and
// leaves its arguments usable.
#include "support/helpers.hpp"

namespace tg = tapegrad;

TEST_CASE("Error is a std::invalid_argument") {
  CHECK_THROWS_AS(tg::zeros({2}) + tg::zeros({3}), tg::Error);
  CHECK_THROWS_AS(tg::zeros({2}) + tg::zeros({3}), std::invalid_argument);
}

TEST_CASE("binary ops reject shapes that do not broadcast") {
  auto a = tg::ones({2, 3});
  auto b = tg::ones({4});
  const char* why = ": shapes [2, 3] and [4] cannot be broadcast together (3 != 4 at dim -1)";
  CHECK_THROWS_WITH(a + b, std::string("add") + why);
  CHECK_THROWS_WITH(a - b, std::string("sub") + why);
  CHECK_THROWS_WITH(a * b, std::string("mul") + why);
  CHECK_THROWS_WITH(a / b, std::string("div") + why);
  CHECK_THROWS_WITH(a > b, std::string("gt") + why);
  CHECK_THROWS_WITH(a == b, std::string("eq") + why);
  CHECK_THROWS_WITH(tg::ones({2, 3, 4}) + tg::ones({5, 1, 1}),
                    "add: shapes [2, 3, 4] and [5, 1, 1] cannot be broadcast together (2 != 5 at dim -3)");
  // The operands still work afterwards.
  CHECK((a + tg::ones({3})).sum().item() == 12.0f);
}

TEST_CASE("matmul names both shapes and the mismatched sizes") {
  CHECK_THROWS_WITH(tg::matmul(tg::ones({100, 10}), tg::ones({20, 1})),
                    "matmul: shapes [100, 10] and [20, 1] cannot be multiplied (10 != 20)");
  CHECK_THROWS_WITH(tg::matmul(tg::ones({3}), tg::ones({4})), "matmul: shapes [3] and [4] cannot be multiplied (3 != 4)");
  CHECK_THROWS_WITH(tg::matmul(tg::ones({2, 2, 3}), tg::ones({3, 3, 4})),
                    "matmul: shapes [2] and [3] cannot be broadcast together (2 != 3 at dim -1)");
  CHECK_THROWS_WITH(tg::matmul(tg::scalar_tensor(1.0f), tg::ones({3})),
                    "matmul: both arguments need at least 1 dimension, got shapes [] and [3]");
}

TEST_CASE("dims out of range are named with the valid range") {
  auto x = tg::ones({2, 3});
  CHECK_THROWS_WITH(x.sum(2), "sum: dim 2 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
  CHECK_THROWS_WITH(x.mean(-3), "mean: dim -3 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
  CHECK_THROWS_WITH(x.var(5), "var: dim 5 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
  CHECK_THROWS_WITH(x.max(2), "max: dim 2 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
  CHECK_THROWS_WITH(tg::softmax(x, 2), "softmax: dim 2 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
  CHECK_THROWS_WITH(tg::log_softmax(x, -3),
                    "log_softmax: dim -3 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
  CHECK_THROWS_WITH(x.unsqueeze(3), "unsqueeze: dim 3 is out of range for a tensor of shape [2, 3] (expected a dim in [-3, 2])");
  CHECK_THROWS_WITH(x.squeeze(2), "squeeze: dim 2 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
  CHECK_THROWS_WITH(x.transpose(0, 2), "transpose: dim 2 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
  CHECK_THROWS_WITH(x.size(2), "size: dim 2 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])");
}

TEST_CASE("negative sizes and too many dims are refused by every factory") {
  CHECK_THROWS_WITH(tg::zeros({2, -1}), "zeros: negative size -1 in shape [2, -1]");
  CHECK_THROWS_WITH(tg::ones({-3}), "ones: negative size -3 in shape [-3]");
  CHECK_THROWS_WITH(tg::empty({1, -2, 3}), "empty: negative size -2 in shape [1, -2, 3]");
  CHECK_THROWS_WITH(tg::full<double>({-1}, 2.0), "full: negative size -1 in shape [-1]");
  CHECK_THROWS_WITH(tg::randn({4, -4}), "randn: negative size -4 in shape [4, -4]");
  CHECK_THROWS_WITH(tg::rand({-1}), "rand: negative size -1 in shape [-1]");
  CHECK_THROWS_WITH(tg::tensor<float>({1, 2}, {-2}), "tensor: negative size -2 in shape [-2]");
}

TEST_CASE("tensor() needs as many values as the shape holds") {
  CHECK_THROWS_WITH(tg::tensor<float>({1, 2, 3}, {2, 2}), "tensor: 3 values cannot fill shape [2, 2] (4 elements)");
}

TEST_CASE("item() needs exactly one element") {
  CHECK_THROWS_WITH(tg::ones({2, 3}).item(), "item: a tensor with 6 elements cannot be converted to a scalar (shape [2, 3])");
  CHECK_THROWS_WITH(tg::ones({0}).item(), "item: a tensor with 0 elements cannot be converted to a scalar (shape [0])");
  CHECK(tg::ones({1, 1}).item() == 1.0f);
}

TEST_CASE("reshape names the target and the input") {
  auto x = tg::ones({2, 3});
  CHECK_THROWS_WITH(x.reshape({4, -1}), "reshape: shape [4, -1] is invalid for input of shape [2, 3] (6 elements)");
  CHECK_THROWS_WITH(x.reshape({5}), "reshape: shape [5] is invalid for input of shape [2, 3] (6 elements)");
  CHECK_THROWS_WITH(x.reshape({-1, -1}), "reshape: shape [-1, -1] is invalid for input of shape [2, 3] (6 elements)");
  CHECK(x.reshape({3, -1}).shape() == tg::Shape{3, 2});
}

TEST_CASE("t() and narrow() check their arguments") {
  CHECK_THROWS_WITH(tg::ones({2, 3, 4}).t(), "t: expects a tensor with <= 2 dimensions, but got shape [2, 3, 4]");
  CHECK_THROWS_WITH(tg::ones({2, 3}).narrow(1, 2, 2), "narrow: start 2 and length 2 are out of range for dim 1 of shape [2, 3]");
  CHECK_THROWS_WITH(tg::ones({2, 3}).narrow(0, 0, -1), "narrow: start 0 and length -1 are out of range for dim 0 of shape [2, 3]");
}

TEST_CASE("max of nothing has no value") {
  CHECK_THROWS_WITH(tg::ones({0, 3}).max(), "max: cannot reduce an empty tensor of shape [0, 3] (there is no identity); give a dim");
  CHECK_THROWS_WITH(tg::ones({0, 3}).max(0), "max: cannot reduce over dim 0 of size 0 (shape [0, 3])");
  CHECK(tg::ones({0, 3}).max(1).shape() == tg::Shape{0});
}

TEST_CASE("undefined tensors are named in every op") {
  tg::Tensor<float> u;
  auto x = tg::ones({2});
  const std::string why = ": expected a defined tensor, got an undefined one";
  CHECK_THROWS_WITH(u + x, "add" + why);
  CHECK_THROWS_WITH(x * u, "mul" + why);
  CHECK_THROWS_WITH(u - 1, "sub" + why);
  CHECK_THROWS_WITH(2 / u, "reciprocal" + why);
  CHECK_THROWS_WITH(-u, "neg" + why);
  CHECK_THROWS_WITH(tg::exp(u), "exp" + why);
  CHECK_THROWS_WITH(tg::relu(u), "relu" + why);
  CHECK_THROWS_WITH(tg::matmul(u, x), "matmul" + why);
  CHECK_THROWS_WITH(tg::sum(u), "sum" + why);
  CHECK_THROWS_WITH(u.mean(0), "mean" + why);
  CHECK_THROWS_WITH(u.reshape({2}), "reshape" + why);
  CHECK_THROWS_WITH(u.item(), "item" + why);
  CHECK_THROWS_WITH(u.shape(), "shape" + why);
  CHECK_THROWS_WITH(u.backward(), "backward" + why);
  CHECK_THROWS_WITH(tg::softmax(u, 0), "softmax" + why);
  CHECK_THROWS_WITH(u > 0, "gt" + why);
  CHECK_FALSE(u.defined());
}

TEST_CASE("random fills check their parameters") {
  auto x = tg::zeros({3});
  CHECK_THROWS_WITH(x.bernoulli_(1.5), "bernoulli_: expects 0 <= p <= 1, but got p=1.5");
  CHECK_THROWS_WITH(x.uniform_(1, 0), "uniform_: expects from <= to, but got from=1 to=0");
  CHECK_THROWS_WITH(x.normal_(0, -1), "normal_: expects std >= 0.0, but got std=-1");
  CHECK(x.sum().item() == 0.0f);  // nothing was drawn into x
}

TEST_CASE("a shape whose element count overflows int64 is refused") {
  CHECK_THROWS_WITH(tg::zeros({int64_t(1) << 32, int64_t(1) << 32}),
                    "zeros: shape [4294967296, 4294967296] has more elements than an int64 can count");
  CHECK_THROWS_WITH(tg::ones({6}).reshape({int64_t(1) << 62, 4, -1}),
                    "reshape: shape [4611686018427387904, 4, -1] is invalid for input of shape [6] (6 elements)");
}

TEST_CASE("losses name themselves for an undefined target") {
  auto p = tg::full({3}, 0.5f);
  tg::Tensor<float> none;
  CHECK_THROWS_WITH(tg::nn::functional::binary_cross_entropy(p, none),
                    "binary_cross_entropy: expected a defined tensor, got an undefined one");
  CHECK_THROWS_WITH(tg::nn::functional::mse_loss(p, none), "mse_loss: expected a defined tensor, got an undefined one");
}
