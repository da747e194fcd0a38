// Tensor vocabulary, indexing and shape: split, chunk, select, index_select, gather, permute,
// expand, contiguous, one_hot, arange, linspace. Gradchecked and gradgradchecked in double;
// error messages. (PyTorch goldens: still to come.)
#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;
using Inputs = std::vector<Td>;

TEST_CASE("gradcheck: split, chunk, select, index_select, gather, permute, expand") {
  tg::manual_seed(1401);
  Td x = tg::randn<double>({3, 4}).requires_grad_();
  const Td idx = tg::tensor<double>({2, 0, 2}, {3});
  const Td gidx = tg::tensor<double>({3, 3, 0, 1, 1, 1}, {3, 2});
  require_gradcheck([](const Inputs& in) { auto p = in[0].split(3, 1); return p[1].pow(2) * p[0].narrow(1, 0, 1); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].chunk(2, 0)[1].pow(3); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].select(1, -1).pow(2); }, {x});
  require_gradcheck([&](const Inputs& in) { return in[0].index_select(0, idx).pow(2); }, {x});
  require_gradcheck([&](const Inputs& in) { return in[0].gather(1, gidx).pow(2); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].reshape({3, 2, 2}).permute({2, 0, 1}).pow(2); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].narrow(0, 0, 1).expand({2, -1, 4}).pow(2); }, {x});
}

TEST_CASE("indexing values and accumulated gradients") {
  auto x = tg::arange<double>(12).reshape({3, 4}).requires_grad_();
  auto is = x.index_select(0, tg::tensor<double>({2, 0, 2}, {3}));
  CHECK(is.shape() == tg::Shape{3, 4});
  is.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2});
  CHECK(tg::one_hot(tg::tensor<double>({0, 2}, {2})).to_vector() == std::vector<double>{1, 0, 0, 0, 0, 1});
  CHECK(tg::arange<double>(0, 1, 0.25).to_vector() == std::vector<double>{0, 0.25, 0.5, 0.75});
  CHECK(x.contiguous().data() == x.data());
}

TEST_CASE("indexing refuses bad input") {
  auto x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  const Watch watch(x);
  check_refused([&] { return x.index_select(0, tg::tensor<double>({2}, {1})); },
                "index_select: index 2 is out of range for dim 0 of size 2 (expected 0 <= index < 2)", watch);
  check_refused([&] { return x.split(0, 1); }, "split: split_size must be positive, got 0 (dim 1 of shape [2, 3])", watch);
  check_refused([&] { return x.chunk(0); }, "chunk: chunks must be positive, got 0", watch);
}
