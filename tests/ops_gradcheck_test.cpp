// gradcheck of every differentiable op in double: the tape's Jacobian against central
// differences with PyTorch's tolerances, plus the zero-gradient and two-backwards checks
// (tapegrad_test::require_gradcheck). Inputs are seeded and the seed printed on failure.
#include <algorithm>
#include <numeric>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;
using Inputs = std::vector<Td>;

namespace {

// Normal values pushed at least `margin` away from 0, where abs and relu have kinks and 1/x a pole.
Td leaf_nonzero(const tg::Shape& s, double margin = 0.5) {
  Td x = tg::randn<double>(s);
  for (int64_t k = 0; k < x.numel(); ++k) x.data()[k] += x.data()[k] >= 0 ? margin : -margin;
  return x.requires_grad_();
}

// Uniform values in [lo, lo + width): positive inputs for log, sqrt and pow.
Td leaf_positive(const tg::Shape& s, double lo = 0.5, double width = 1.5) {
  Td x = tg::rand<double>(s);
  for (int64_t k = 0; k < x.numel(); ++k) x.data()[k] = lo + width * x.data()[k];
  return x.requires_grad_();
}

// Values in random order at least 0.25 apart: max has a unique winner, and a finite-difference
// step never creates a tie.
Td leaf_distinct(const tg::Shape& s) {
  Td keys = tg::rand<double>(s);
  const int64_t n = keys.numel();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys.data()[a] < keys.data()[b]; });
  Td x = tg::empty<double>(s);
  for (int64_t j = 0; j < n; ++j) x.data()[order[static_cast<size_t>(j)]] = 0.25 * static_cast<double>(j) - 0.125 * static_cast<double>(n);
  return x.requires_grad_();
}

}  // namespace

// ---- arithmetic ---------------------------------------------------------------------------

TEST_CASE("gradcheck: + - * / on tensors of the same shape") {
  SEED(101);
  Td x = leaf_randn({3, 4}), y = leaf_nonzero({3, 4});
  require_gradcheck([](const Inputs& in) { return in[0] + in[1]; }, {x, y});
  require_gradcheck([](const Inputs& in) { return in[0] - in[1]; }, {x, y});
  require_gradcheck([](const Inputs& in) { return in[0] * in[1]; }, {x, y});
  require_gradcheck([](const Inputs& in) { return in[0] / in[1]; }, {x, y});
  // one tensor on both sides: its two gradients add up
  require_gradcheck([](const Inputs& in) { return in[0] * in[0]; }, {x});
  require_gradcheck([](const Inputs& in) { return in[0] / in[0] + in[0] - in[0] * 2; }, {y});
}

TEST_CASE("gradcheck: broadcasting a row-vector bias (3,4) with (4)") {
  SEED(102);
  Td x = leaf_nonzero({3, 4}), b = leaf_nonzero({4});
  require_gradcheck([](const Inputs& in) { return in[0] + in[1]; }, {x, b});
  require_gradcheck([](const Inputs& in) { return in[1] + in[0]; }, {x, b});
  require_gradcheck([](const Inputs& in) { return in[0] - in[1]; }, {x, b});
  require_gradcheck([](const Inputs& in) { return in[1] - in[0]; }, {x, b});
  require_gradcheck([](const Inputs& in) { return in[0] * in[1]; }, {x, b});
  require_gradcheck([](const Inputs& in) { return in[1] * in[0]; }, {x, b});
  require_gradcheck([](const Inputs& in) { return in[0] / in[1]; }, {x, b});
  require_gradcheck([](const Inputs& in) { return in[1] / in[0]; }, {x, b});
  // only the bias requires grad: the other side's gradient is skipped
  Td c = tg::randn<double>({3, 4});
  require_gradcheck([](const Inputs& in) { return in[0] * in[1]; }, {c, b});
  require_gradcheck([](const Inputs& in) { return in[1] / in[0]; }, {c, b});
}

TEST_CASE("gradcheck: broadcasting a column (3,1) with a row (1,4)") {
  SEED(103);
  Td col = leaf_nonzero({3, 1}), row = leaf_nonzero({1, 4});
  require_gradcheck([](const Inputs& in) { return in[0] + in[1]; }, {col, row});
  require_gradcheck([](const Inputs& in) { return in[0] - in[1]; }, {col, row});
  require_gradcheck([](const Inputs& in) { return in[0] * in[1]; }, {col, row});
  require_gradcheck([](const Inputs& in) { return in[1] * in[0]; }, {col, row});
  require_gradcheck([](const Inputs& in) { return in[0] / in[1]; }, {col, row});
}

TEST_CASE("gradcheck: broadcasting (2,1,3) with (4,1)") {
  SEED(104);
  Td a = leaf_nonzero({2, 1, 3}), b = leaf_nonzero({4, 1});
  require_gradcheck([](const Inputs& in) { return in[0] / in[1]; }, {a, b});
  require_gradcheck([](const Inputs& in) { return in[1] / in[0]; }, {a, b});
  require_gradcheck([](const Inputs& in) { return in[0] * in[1]; }, {a, b});
  require_gradcheck([](const Inputs& in) { return in[0] + in[1]; }, {a, b});
  require_gradcheck([](const Inputs& in) { return in[1] - in[0]; }, {a, b});
}

TEST_CASE("gradcheck: broadcasting against one-element (1) tensors") {
  SEED(105);
  Td x = leaf_nonzero({3, 4}), s = leaf_nonzero({1});
  require_gradcheck([](const Inputs& in) { return in[0] + in[1]; }, {x, s});
  require_gradcheck([](const Inputs& in) { return in[1] - in[0]; }, {x, s});
  require_gradcheck([](const Inputs& in) { return in[1] * in[0]; }, {x, s});
  require_gradcheck([](const Inputs& in) { return in[0] / in[1]; }, {x, s});
  require_gradcheck([](const Inputs& in) { return in[1] / in[0]; }, {x, s});
  // (1) against (1, 1, 1): the result grows a rank
  Td t = leaf_nonzero({1, 1, 1});
  require_gradcheck([](const Inputs& in) { return in[0] * in[1]; }, {s, t});
}

TEST_CASE("gradcheck: broadcasting against 0-d tensors") {
  SEED(106);
  Td x = leaf_nonzero({2, 3}), s = leaf_nonzero(tg::Shape{});
  REQUIRE(s.dim() == 0);
  require_gradcheck([](const Inputs& in) { return in[0] + in[1]; }, {x, s});
  require_gradcheck([](const Inputs& in) { return in[1] - in[0]; }, {x, s});
  require_gradcheck([](const Inputs& in) { return in[0] * in[1]; }, {x, s});
  require_gradcheck([](const Inputs& in) { return in[0] / in[1]; }, {x, s});
  require_gradcheck([](const Inputs& in) { return in[1] / in[0]; }, {x, s});
  // 0-d with 0-d gives 0-d
  Td r = leaf_nonzero(tg::Shape{});
  require_gradcheck([](const Inputs& in) { return in[0] * in[1] / in[0] - in[1]; }, {s, r});
}

TEST_CASE("gradcheck: int and double scalars on either side") {
  SEED(107);
  Td x = leaf_nonzero({2, 3});
  require_gradcheck([](const Inputs& in) { return in[0] + 1; }, {x});
  require_gradcheck([](const Inputs& in) { return 1 + in[0]; }, {x});
  require_gradcheck([](const Inputs& in) { return in[0] + 0.25; }, {x});
  require_gradcheck([](const Inputs& in) { return 2 - in[0]; }, {x});
  require_gradcheck([](const Inputs& in) { return 2.5 - in[0]; }, {x});
  require_gradcheck([](const Inputs& in) { return in[0] - 2; }, {x});
  require_gradcheck([](const Inputs& in) { return in[0] * 3.5; }, {x});
  require_gradcheck([](const Inputs& in) { return 3 * in[0]; }, {x});
  require_gradcheck([](const Inputs& in) { return 1 / in[0]; }, {x});
  require_gradcheck([](const Inputs& in) { return -2.5 / in[0]; }, {x});
  require_gradcheck([](const Inputs& in) { return in[0] / 2; }, {x});
  require_gradcheck([](const Inputs& in) { return in[0] / 0.75; }, {x});
}

TEST_CASE("gradcheck: unary minus") {
  SEED(108);
  Td x = leaf_randn({2, 3});
  require_gradcheck([](const Inputs& in) { return -in[0]; }, {x});
  require_gradcheck([](const Inputs& in) { return -(in[0] * in[0]); }, {x});
}

// ---- elementwise functions ----------------------------------------------------------------

TEST_CASE("gradcheck: exp") {
  SEED(201);
  Td x = leaf_randn({2, 3});
  require_gradcheck([](const Inputs& in) { return tg::exp(in[0]); }, {x});
  Td s = leaf_randn(tg::Shape{});
  require_gradcheck([](const Inputs& in) { return tg::exp(in[0]); }, {s});
}

TEST_CASE("gradcheck: log of positive inputs") {
  SEED(202);
  Td x = leaf_positive({2, 3});
  require_gradcheck([](const Inputs& in) { return tg::log(in[0]); }, {x});
}

TEST_CASE("gradcheck: sqrt of positive inputs") {
  SEED(203);
  Td x = leaf_positive({2, 3});
  require_gradcheck([](const Inputs& in) { return tg::sqrt(in[0]); }, {x});
}

TEST_CASE("gradcheck: abs away from 0") {
  SEED(204);
  Td x = leaf_nonzero({2, 3});
  require_gradcheck([](const Inputs& in) { return tg::abs(in[0]); }, {x});
}

TEST_CASE("gradcheck: pow with exponents 2, 3, 0.5, -1, -2, 1.7 and 0") {
  SEED(205);
  Td x = leaf_positive({2, 3});
  for (double p : {2.0, 3.0, 0.5, -1.0, -2.0, 1.7, 0.0}) {
    INFO("pow(x, " << p << ")");
    require_gradcheck([p](const Inputs& in) { return tg::pow(in[0], p); }, {x});
  }
  // integer exponents, and integer powers of negative bases
  Td y = leaf_nonzero({2, 3});
  for (int p : {2, 3, -1, -2}) {
    INFO("pow(y, int " << p << ")");
    require_gradcheck([p](const Inputs& in) { return tg::pow(in[0], p); }, {y});
  }
}

TEST_CASE("gradcheck: tanh") {
  SEED(206);
  Td x = leaf_randn({2, 3});
  require_gradcheck([](const Inputs& in) { return tg::tanh(in[0]); }, {x});
}

TEST_CASE("gradcheck: sigmoid") {
  SEED(207);
  Td x = leaf_randn({2, 3});
  require_gradcheck([](const Inputs& in) { return tg::sigmoid(in[0]); }, {x});
}

TEST_CASE("gradcheck: relu away from 0") {
  SEED(208);
  Td x = leaf_nonzero({3, 4});
  require_gradcheck([](const Inputs& in) { return tg::relu(in[0]); }, {x});
}

// ---- softmax ------------------------------------------------------------------------------

TEST_CASE("gradcheck: softmax along dims 0, 1, -1 of 2-D and 3-D inputs") {
  SEED(301);
  Td x2 = leaf_randn({3, 4}), x3 = leaf_randn({2, 3, 4});
  for (int64_t dim : {0, 1, -1, -2}) {
    INFO("softmax of shape (3, 4) along dim " << dim);
    require_gradcheck([dim](const Inputs& in) { return tg::softmax(in[0], dim); }, {x2});
  }
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    INFO("softmax of shape (2, 3, 4) along dim " << dim);
    require_gradcheck([dim](const Inputs& in) { return tg::softmax(in[0], dim); }, {x3});
  }
}

TEST_CASE("gradcheck: log_softmax along dims 0, 1, -1 of 2-D and 3-D inputs") {
  SEED(302);
  Td x2 = leaf_randn({3, 4}), x3 = leaf_randn({2, 3, 4});
  for (int64_t dim : {0, 1, -1, -2}) {
    INFO("log_softmax of shape (3, 4) along dim " << dim);
    require_gradcheck([dim](const Inputs& in) { return tg::log_softmax(in[0], dim); }, {x2});
  }
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    INFO("log_softmax of shape (2, 3, 4) along dim " << dim);
    require_gradcheck([dim](const Inputs& in) { return tg::log_softmax(in[0], dim); }, {x3});
  }
}

// ---- reductions ---------------------------------------------------------------------------

TEST_CASE("gradcheck: sum over all and over a dim") {
  SEED(401);
  Td x = leaf_randn({2, 3, 4});
  require_gradcheck([](const Inputs& in) { return in[0].sum(); }, {x});
  require_gradcheck([](const Inputs& in) { return tg::sum(in[0]); }, {x});
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    for (bool keepdim : {false, true}) {
      INFO("sum(dim " << dim << ", keepdim " << keepdim << ")");
      require_gradcheck([dim, keepdim](const Inputs& in) { return in[0].sum(dim, keepdim); }, {x});
      require_gradcheck([dim, keepdim](const Inputs& in) { return tg::sum(in[0], dim, keepdim); }, {x});
    }
  }
  Td s = leaf_randn(tg::Shape{});
  require_gradcheck([](const Inputs& in) { return in[0].sum(0); }, {s});
}

TEST_CASE("gradcheck: mean over all and over a dim") {
  SEED(402);
  Td x = leaf_randn({2, 3, 4});
  require_gradcheck([](const Inputs& in) { return in[0].mean(); }, {x});
  require_gradcheck([](const Inputs& in) { return tg::mean(in[0]); }, {x});
  for (int64_t dim : {0, 1, 2, -1, -2}) {
    for (bool keepdim : {false, true}) {
      INFO("mean(dim " << dim << ", keepdim " << keepdim << ")");
      require_gradcheck([dim, keepdim](const Inputs& in) { return in[0].mean(dim, keepdim); }, {x});
      require_gradcheck([dim, keepdim](const Inputs& in) { return tg::mean(in[0], dim, keepdim); }, {x});
    }
  }
}

TEST_CASE("gradcheck: var over all and over a dim, unbiased and biased") {
  SEED(403);
  Td x = leaf_randn({2, 3, 4});
  require_gradcheck([](const Inputs& in) { return in[0].var(); }, {x});
  require_gradcheck([](const Inputs& in) { return tg::var(in[0]); }, {x});
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    for (bool unbiased : {true, false}) {
      for (bool keepdim : {false, true}) {
        INFO("var(dim " << dim << ", unbiased " << unbiased << ", keepdim " << keepdim << ")");
        require_gradcheck([=](const Inputs& in) { return in[0].var(dim, unbiased, keepdim); }, {x});
      }
    }
  }
}

TEST_CASE("gradcheck: max over all and over a dim of distinct values") {
  SEED(404);
  Td x = leaf_distinct({2, 3, 4});
  require_gradcheck([](const Inputs& in) { return in[0].max(); }, {x});
  require_gradcheck([](const Inputs& in) { return tg::max(in[0]); }, {x});
  for (int64_t dim : {0, 1, 2, -1, -2}) {
    for (bool keepdim : {false, true}) {
      INFO("max(dim " << dim << ", keepdim " << keepdim << ")");
      require_gradcheck([dim, keepdim](const Inputs& in) { return in[0].max(dim, keepdim); }, {x});
    }
  }
}

// ---- matmul -------------------------------------------------------------------------------

TEST_CASE("gradcheck: matmul 2-D @ 2-D") {
  SEED(501);
  Td a = leaf_randn({3, 4}), b = leaf_randn({4, 2});
  CHECK(tg::matmul(a, b).shape() == tg::Shape{3, 2});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, b});
  require_gradcheck([](const Inputs& in) { return in[0].matmul(in[1]); }, {a, b});
  // one side constant
  Td c = tg::randn<double>({4, 2}), d = tg::randn<double>({3, 4});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, c});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {d, b});
}

TEST_CASE("gradcheck: matmul 3-D @ 2-D") {
  SEED(502);
  Td a = leaf_randn({2, 3, 4}), b = leaf_randn({4, 5});
  CHECK(tg::matmul(a, b).shape() == tg::Shape{2, 3, 5});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, b});
}

TEST_CASE("gradcheck: matmul 2-D @ 3-D") {
  SEED(503);
  Td a = leaf_randn({3, 4}), b = leaf_randn({2, 4, 5});
  CHECK(tg::matmul(a, b).shape() == tg::Shape{2, 3, 5});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, b});
}

TEST_CASE("gradcheck: batched matmul 3-D @ 3-D") {
  SEED(504);
  Td a = leaf_randn({2, 3, 4}), b = leaf_randn({2, 4, 5});
  CHECK(tg::matmul(a, b).shape() == tg::Shape{2, 3, 5});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, b});
  Td c = tg::randn<double>({2, 4, 5});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, c});
}

TEST_CASE("gradcheck: matmul with broadcast batch (2,1,3,4) @ (5,4,2)") {
  SEED(505);
  Td a = leaf_randn({2, 1, 3, 4}), b = leaf_randn({5, 4, 2});
  CHECK(tg::matmul(a, b).shape() == tg::Shape{2, 5, 3, 2});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, b});
  // (1,3,4) @ (2,4,2): a batch of one broadcast against two
  Td c = leaf_randn({1, 3, 4}), d = leaf_randn({2, 4, 2});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {c, d});
}

TEST_CASE("gradcheck: matmul 1-D @ 2-D") {
  SEED(506);
  Td v = leaf_randn({4}), m = leaf_randn({4, 3});
  CHECK(tg::matmul(v, m).shape() == tg::Shape{3});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {v, m});
}

TEST_CASE("gradcheck: matmul 2-D @ 1-D") {
  SEED(507);
  Td m = leaf_randn({3, 4}), v = leaf_randn({4});
  CHECK(tg::matmul(m, v).shape() == tg::Shape{3});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {m, v});
}

TEST_CASE("gradcheck: matmul 1-D @ 1-D") {
  SEED(508);
  Td u = leaf_randn({4}), v = leaf_randn({4});
  CHECK(tg::matmul(u, v).dim() == 0);
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {u, v});
}

TEST_CASE("gradcheck: matmul of 1-D with 3-D on either side") {
  SEED(509);
  Td v = leaf_randn({4}), a = leaf_randn({2, 4, 3}), b = leaf_randn({2, 3, 4});
  CHECK(tg::matmul(v, a).shape() == tg::Shape{2, 3});
  CHECK(tg::matmul(b, v).shape() == tg::Shape{2, 3});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {v, a});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[1], in[0]); }, {v, b});
}

// ---- shape ops ----------------------------------------------------------------------------

TEST_CASE("gradcheck: reshape, with an inferred -1") {
  SEED(601);
  Td x = leaf_randn({2, 3, 4});
  CHECK(x.reshape({4, -1}).shape() == tg::Shape{4, 6});
  require_gradcheck([](const Inputs& in) { return in[0].reshape({4, -1}); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].reshape({-1}); }, {x});
  require_gradcheck([](const Inputs& in) { return tg::reshape(in[0], {3, 2, 4}); }, {x});
  // through another op, so the reshaped gradient meets a non-trivial one
  require_gradcheck([](const Inputs& in) { return in[0].reshape({6, -1}) * in[0].reshape({6, 4}); }, {x});
}

TEST_CASE("gradcheck: unsqueeze") {
  SEED(602);
  Td x = leaf_randn({2, 3});
  for (int64_t d : {0, 1, 2, -1, -3}) {
    INFO("unsqueeze(" << d << ")");
    require_gradcheck([d](const Inputs& in) { return in[0].unsqueeze(d); }, {x});
  }
  require_gradcheck([](const Inputs& in) { return in[0].unsqueeze(1) * in[0].unsqueeze(0); }, {x});
}

TEST_CASE("gradcheck: squeeze() and squeeze(d)") {
  SEED(603);
  Td x = leaf_randn({3, 1, 4, 1});
  CHECK(x.squeeze().shape() == tg::Shape{3, 4});
  require_gradcheck([](const Inputs& in) { return in[0].squeeze(); }, {x});
  for (int64_t d : {1, 3, -1, 0}) {  // dim 0 has size 3: no-op
    INFO("squeeze(" << d << ")");
    require_gradcheck([d](const Inputs& in) { return in[0].squeeze(d); }, {x});
  }
  require_gradcheck([](const Inputs& in) { return tg::exp(in[0].squeeze(-1)).squeeze(1); }, {x});
}

TEST_CASE("gradcheck: t() of 2-D and 1-D tensors") {
  SEED(604);
  Td x = leaf_randn({3, 4}), v = leaf_randn({4});
  CHECK(x.t().shape() == tg::Shape{4, 3});
  require_gradcheck([](const Inputs& in) { return in[0].t(); }, {x});
  require_gradcheck([](const Inputs& in) { return tg::t(in[0]); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].t(); }, {v});
  require_gradcheck([](const Inputs& in) { return tg::matmul(in[0].t(), in[0]); }, {x});
}

TEST_CASE("gradcheck: transpose of a 3-D tensor") {
  SEED(605);
  Td x = leaf_randn({2, 3, 4});
  CHECK(x.transpose(0, 2).shape() == tg::Shape{4, 3, 2});
  const std::vector<std::pair<int64_t, int64_t>> pairs = {{0, 1}, {0, 2}, {1, 2}, {2, 0}, {-1, -2}, {1, 1}};
  for (auto [d0, d1] : pairs) {
    INFO("transpose(" << d0 << ", " << d1 << ")");
    require_gradcheck([d0 = d0, d1 = d1](const Inputs& in) { return in[0].transpose(d0, d1); }, {x});
  }
}

TEST_CASE("gradcheck: narrow") {
  SEED(606);
  Td x = leaf_randn({3, 5, 2});
  CHECK(x.narrow(1, 1, 3).shape() == tg::Shape{3, 3, 2});
  require_gradcheck([](const Inputs& in) { return in[0].narrow(1, 1, 3); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].narrow(0, 2, 1); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].narrow(-1, 0, 1); }, {x});
  require_gradcheck([](const Inputs& in) { return tg::narrow(in[0], 1, -2, 2); }, {x});
  // overlapping slices of one tensor add up
  require_gradcheck([](const Inputs& in) { return in[0].narrow(1, 0, 3) * in[0].narrow(1, 2, 3); }, {x});
}

// ---- detach -------------------------------------------------------------------------------

TEST_CASE("gradcheck: a detached tensor is a constant to the tape") {
  SEED(701);
  Td x = leaf_randn({2, 3}), y = leaf_randn({2, 3});
  // y * 2 detached is a constant factor: x's gradient is exactly it, and y gets nothing
  require_gradcheck([&y](const Inputs& in) { return in[0] * (y * 2).detach(); }, {x});
  CHECK_FALSE(y.grad().defined());

  // through the detached path no gradient flows back to x: d/dx sum(x * x.detach()) = x, not 2x
  x.set_grad(Td());
  (x * x.detach()).sum().backward();
  REQUIRE(x.grad().defined());
  check_close(x.grad(), x.detach(), 1e-15);
}

// ---- composite ----------------------------------------------------------------------------

TEST_CASE("gradcheck: matmul + bias + sigmoid * softmax + keepdim reductions + masked log_softmax") {
  SEED(801);
  Td X = leaf_randn({4, 3}), W = leaf_randn({3, 5}), b = leaf_randn({5});
  // a constant one-hot mask: class k of row i is (2 i + 1) mod 5
  Td mask = tg::zeros<double>({4, 5});
  for (int64_t i = 0; i < 4; ++i) mask.data()[i * 5 + (2 * i + 1) % 5] = 1;
  auto f = [mask](const Inputs& in) {
    Td h = tg::matmul(in[0], in[1]) + in[2];                      // (4, 5)
    Td s = tg::sigmoid(h) * tg::softmax(h, -1);                   // (4, 5)
    Td r = s.sum(1, true) / (s.max(1, true) + 1) + s.var(0, true, true).mean(1, true);  // (4, 1)
    Td nll = -(tg::log_softmax(h, 1) * mask).sum(1, true);        // (4, 1)
    return (r * 2 + nll.mean(0, true)).mean(0) - tg::tanh(h).mean(0).sum(0, true);  // (1)
  };
  require_gradcheck(f, {X, W, b});
  // a non-scalar version: the same pieces per row
  require_gradcheck([mask](const Inputs& in) {
    Td h = tg::matmul(in[0], in[1]) + in[2];
    return tg::sigmoid(h) * tg::softmax(h, 0) - tg::log_softmax(h, -1) * mask;
  }, {X, W, b});
}

// ---- joins, nn ops and losses ---------------------------------------------------------------

TEST_CASE("gradcheck: cat and stack of several tensors, along every dim") {
  SEED(901);
  Td a = leaf_randn({2, 3}), b = leaf_randn({2, 1}), c = leaf_randn({2, 4}), d = leaf_randn({2, 3});
  require_gradcheck([](const Inputs& in) { return tg::cat({in[0], in[1], in[2]}, 1); }, {a, b, c});
  require_gradcheck([](const Inputs& in) { return tg::cat({in[0], in[1], in[0]}, -1).pow(2); }, {a, b});
  require_gradcheck([](const Inputs& in) { return tg::cat({in[0], in[1]}, 0); }, {a, d});
  // more inputs than a node keeps inline
  require_gradcheck([](const Inputs& in) { return tg::cat({in[0], in[1], in[2], in[3], in[0]}, 1).tanh(); }, {a, b, c, d});
  require_gradcheck([](const Inputs& in) { return tg::stack({in[0], in[1], in[0] * in[1]}, 0); }, {a, d});
  require_gradcheck([](const Inputs& in) { return tg::stack({in[0], in[1], in[1], in[0]}, 2).sigmoid(); }, {a, d});
  CHECK(tg::stack({a, d}, 1).shape() == tg::Shape{2, 2, 3});
  CHECK(tg::cat({a, b, c}, 1).shape() == tg::Shape{2, 8});
}

TEST_CASE("gradcheck: linear with and without bias, 2-D and 3-D input") {
  SEED(902);
  namespace F = tg::nn::functional;
  Td x = leaf_randn({4, 3}), x3 = leaf_randn({2, 4, 3}), w = leaf_randn({5, 3}), b = leaf_randn({5});
  require_gradcheck([](const Inputs& in) { return F::linear(in[0], in[1], in[2]); }, {x, w, b});
  require_gradcheck([](const Inputs& in) { return F::linear(in[0], in[1]).tanh(); }, {x, w});
  require_gradcheck([](const Inputs& in) { return F::linear(in[0], in[1], in[2]).pow(3); }, {x3, w, b});
}

TEST_CASE("gradcheck: batch_norm in training and eval, with and without weight and bias") {
  SEED(903);
  namespace F = tg::nn::functional;
  Td x = leaf_randn({5, 3}), x3 = leaf_randn({4, 3, 2}), w = leaf_nonzero({3}), b = leaf_randn({3});
  F::BatchNormOptions train, eval;
  eval.training = false;
  // fresh running statistics per call: training updates them in place
  auto stats = [](bool mean) { return mean ? tg::zeros<double>({3}) : tg::full<double>({3}, 1.5); };
  require_gradcheck([&](const Inputs& in) { return F::batch_norm(in[0], stats(true), stats(false), in[1], in[2], train); },
                    {x, w, b});
  require_gradcheck([&](const Inputs& in) { return F::batch_norm(in[0], stats(true), stats(false), in[1], in[2], train).pow(2); },
                    {x3, w, b});
  require_gradcheck([&](const Inputs& in) { return F::batch_norm(in[0], Td(), Td(), Td(), Td(), train).tanh(); }, {x3});
  require_gradcheck([&](const Inputs& in) { return F::batch_norm(in[0], stats(true), stats(false), in[1], in[2], eval).pow(3); },
                    {x3, w, b});
}

TEST_CASE("gradcheck: dropout with a fixed mask") {
  SEED(904);
  Td x = leaf_randn({4, 5});
  // each evaluation draws the same mask from its own generator
  require_gradcheck([](const Inputs& in) {
    tg::Generator gen(17);
    tg::GeneratorGuard use(gen);
    return tg::nn::functional::dropout(in[0], 0.4, true).pow(2);
  }, {x});
}

TEST_CASE("gradcheck: binary cross entropy and mean squared error") {
  SEED(905);
  namespace F = tg::nn::functional;
  Td p = leaf_positive({3, 4}, 0.1, 0.8), t = leaf_positive({3, 4}, 0.0, 1.0), y = leaf_randn({3, 4});
  require_gradcheck([](const Inputs& in) { return F::binary_cross_entropy(in[0], in[1]); }, {p, t});
  require_gradcheck([](const Inputs& in) { return F::binary_cross_entropy(tg::sigmoid(in[0]), in[1]); }, {y, t});
  require_gradcheck([](const Inputs& in) { return F::mse_loss(in[0], in[1]); }, {y, t});
}

TEST_CASE("gradcheck: clamp_min") {
  SEED(906);
  Td x = leaf_nonzero({3, 4}, 0.3);
  require_gradcheck([](const Inputs& in) { return tg::clamp_min(in[0], 0.0).pow(2); }, {x});
  require_gradcheck([](const Inputs& in) { return tg::clamp_min(in[0] * in[0], -1.0); }, {x});
}
