// Tensor basics: factories, queries, handle semantics, Eigen interop.
#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

TEST_CASE("factories fill values and shapes") {
  auto z = tg::zeros({2, 3});
  CHECK(z.shape() == tg::Shape{2, 3});
  CHECK(z.dim() == 2);
  CHECK(z.numel() == 6);
  CHECK(z.size(-1) == 3);
  for (float v : z.to_vector()) CHECK(v == 0.0f);
  auto o = tg::ones<double>({4});
  for (double v : o.to_vector()) CHECK(v == 1.0);
  auto f = tg::full<double>({2, 2}, 2.5);
  for (double v : f.to_vector()) CHECK(v == 2.5);
  auto t = tg::tensor<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.data()[4] == 5.0);
  CHECK(tg::empty({0, 3}).numel() == 0);
}

TEST_CASE("a 0-d tensor holds one value") {
  auto s = tg::scalar_tensor<double>(3.5);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 3.5);
}

TEST_CASE("copies share storage like libtorch handles") {
  auto a = tg::zeros({3});
  auto b = a;
  b.data()[1] = 7.0f;
  CHECK(a.data()[1] == 7.0f);
  auto c = a.clone();
  c.data()[1] = 1.0f;
  CHECK(a.data()[1] == 7.0f);
}

TEST_CASE("matrix() and from_eigen round-trip through Eigen") {
  Eigen::MatrixXd m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  auto t = tg::from_eigen(m);
  CHECK(t.shape() == tg::Shape{2, 3});
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(t.matrix()(1, 2) == 6.0);
  t.matrix()(0, 0) = 10;
  CHECK(t.data()[0] == 10.0);
}

TEST_CASE("tensors up to 8 dims") {
  auto t = tg::ones({1, 2, 1, 2, 1, 2, 1, 2});
  CHECK(t.dim() == 8);
  CHECK(t.sum().item() == 16.0f);
  CHECK_THROWS_WITH(tg::ones({1, 1, 1, 1, 1, 1, 1, 1, 1}), "ones: tensors have at most 8 dimensions, got 9 in shape [1, 1, 1, 1, 1, 1, 1, 1, 1]");
}

TEST_CASE("the method spellings are the free functions") {
  auto x = tg::tensor<double>({0.5, 1.5, 2.5, 3.5, 4.5, 5.5}, {2, 3}).requires_grad_();
  auto same = [](const tg::Tensor<double>& a, const tg::Tensor<double>& b) {
    CHECK(a.shape() == b.shape());
    CHECK(a.to_vector() == b.to_vector());
    CHECK(std::string(a.grad_fn_name()) == b.grad_fn_name());
  };
  same(x.exp(), tg::exp(x));
  same(x.log(), tg::log(x));
  same(x.sqrt(), tg::sqrt(x));
  same(x.abs(), tg::abs(x));
  same(x.pow(1.5), tg::pow(x, 1.5));
  same(x.tanh(), tg::tanh(x));
  same(x.sigmoid(), tg::sigmoid(x));
  same(x.relu(), tg::relu(x));
  same(x.neg(), -x);
  same(x.reciprocal(), tg::reciprocal(x));
  same(x.softmax(1), tg::softmax(x, 1));
  same(x.log_softmax(0), tg::log_softmax(x, 0));
  x.pow(2).mean().backward();
  CHECK(x.grad().to_vector() == (x.detach() * (2.0 / 6)).to_vector());
}
