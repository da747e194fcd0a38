// The tape's semantics: gradient values worked out by hand, reuse and diamonds, accumulation,
// grad mode, error messages, detach, deep graphs and freeing the graph with its last tensor.
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;

namespace {

// Runs `f` on a thread whose stack is only `bytes` long (POSIX threads), and waits for it.
template <class F>
void run_on_small_stack(size_t bytes, F f) {
  pthread_attr_t attr;
  REQUIRE(pthread_attr_init(&attr) == 0);
  REQUIRE(pthread_attr_setstacksize(&attr, bytes) == 0);
  pthread_t thread;
  void* (*entry)(void*) = [](void* fn) -> void* {
    (*static_cast<F*>(fn))();
    return nullptr;
  };
  REQUIRE(pthread_create(&thread, &attr, entry, &f) == 0);
  REQUIRE(pthread_join(thread, nullptr) == 0);
  pthread_attr_destroy(&attr);
}

}  // namespace

// ---- values by hand -----------------------------------------------------------------------

TEST_CASE("autograd: product and sum rule by hand") {
  // f = x*y + x at x = 2, y = 3: df/dx = y + 1 = 4, df/dy = x = 2
  Td x = leaf({2}, {1}), y = leaf({3}, {1});
  Td f = x * y + x;
  CHECK(f.item() == 8.0);
  f.backward();
  CHECK(x.grad().item() == 4.0);
  CHECK(y.grad().item() == 2.0);
}

TEST_CASE("autograd: float tensors, the default type, record and backpropagate too") {
  // f = sum(x^2 / 2 + 3x) at x = [1, -2]: df/dx = x + 3 = [4, 1]
  auto x = tg::tensor<float>({1.0f, -2.0f}, {2}).requires_grad_();
  (x * x / 2 + x * 3).sum().backward();
  check_close(x.grad(), {4, 1}, {2}, 0);
}

TEST_CASE("autograd: quotient rule by hand") {
  // z = (a - b) / b at a = 6, b = 2: dz/da = 1/b = 0.5, dz/db = -1/b - (a - b)/b^2 = -a/b^2 = -1.5
  Td a = leaf({6}, {}), b = leaf({2}, {});
  Td z = (a - b) / b;
  CHECK(z.item() == 2.0);
  z.backward();
  CHECK(a.grad().item() == 0.5);
  CHECK(b.grad().item() == -1.5);
  CHECK(a.grad().dim() == 0);
}

TEST_CASE("autograd: scalars on either side by hand") {
  // f = sum(3 - 2x + x/4 + 1/x) at x = [1, 2]: df/dx = -2 + 1/4 - 1/x^2 = [-2.75, -2]
  Td x = leaf({1, 2}, {2});
  (3 - 2 * x + x / 4 + 1 / x).sum().backward();
  check_close(x.grad(), {-2.75, -2.0}, {2}, 1e-15);
}

TEST_CASE("autograd: elementwise derivatives at known points") {
  Td x = leaf({0, 0, 0, 4, 1, -1}, {6});
  // exp'(0) = 1, tanh'(0) = 1, sigmoid'(0) = 1/4, sqrt'(4) = 1/4, log'(1) = 1, abs'(-1) = -1
  Td parts[] = {tg::exp(x.narrow(0, 0, 1)), tg::tanh(x.narrow(0, 1, 1)), tg::sigmoid(x.narrow(0, 2, 1)),
                tg::sqrt(x.narrow(0, 3, 1)), tg::log(x.narrow(0, 4, 1)), tg::abs(x.narrow(0, 5, 1))};
  Td total = parts[0];
  for (int i = 1; i < 6; ++i) total = total + parts[i];
  total.sum().backward();
  check_close(x.grad(), {1, 1, 0.25, 0.25, 1, -1}, {6}, 1e-15);
}

TEST_CASE("autograd: relu and abs have zero gradient at 0") {
  // relu' = [0, 0, 1] at [-1, 0, 2]; abs' = sign = [-1, 0, 1]
  Td x = leaf({-1, 0, 2}, {3});
  tg::relu(x).sum().backward();
  check_close(x.grad(), {0, 0, 1}, {3}, 0);
  Td y = leaf({-1, 0, 2}, {3});
  tg::abs(y).sum().backward();
  check_close(y.grad(), {-1, 0, 1}, {3}, 0);
}

TEST_CASE("autograd: pow by hand") {
  // d x^3 = 3 x^2 = 12 at 2; d x^-1 = -x^-2 = -1/4; d x^0.5 = 0.5 x^-0.5 = 1/4 at 4; d x^0 = 0
  Td x = leaf({2, 2, 4, 5}, {4});
  Td parts = tg::pow(x.narrow(0, 0, 1), 3) + tg::pow(x.narrow(0, 1, 1), -1) + tg::pow(x.narrow(0, 2, 1), 0.5) +
             tg::pow(x.narrow(0, 3, 1), 0);
  CHECK(parts.item() == 8.0 + 0.5 + 2.0 + 1.0);
  parts.backward();
  check_close(x.grad(), {12, -0.25, 0.25, 0}, {4}, 1e-15);
}

TEST_CASE("autograd: matmul by hand") {
  // L = sum(A @ B): dL/dA[i][j] = sum_n B[j][n], dL/dB[j][n] = sum_i A[i][j]
  Td A = leaf({1, 2, 3, 4}, {2, 2});
  Td B = leaf({5, 6, 7, 8, 9, 10}, {2, 3});
  Td C = tg::matmul(A, B);
  check_close(C, {1 * 5 + 2 * 8, 1 * 6 + 2 * 9, 1 * 7 + 2 * 10, 3 * 5 + 4 * 8, 3 * 6 + 4 * 9, 3 * 7 + 4 * 10},
              {2, 3}, 0);
  C.sum().backward();
  check_close(A.grad(), {18, 27, 18, 27}, {2, 2}, 0);
  check_close(B.grad(), {4, 4, 4, 6, 6, 6}, {2, 3}, 0);
}

TEST_CASE("autograd: broadcast gradients are summed back to the input's shape") {
  // y = x (2,3) + b (3) then * c (2,1): db[j] = sum_i c[i], dc[i] = sum_j (x[i][j] + b[j])
  Td x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Td b = leaf({10, 20, 30}, {3});
  Td c = leaf({2, -1}, {2, 1});
  ((x + b) * c).sum().backward();
  check_close(x.grad(), {2, 2, 2, -1, -1, -1}, {2, 3}, 0);
  check_close(b.grad(), {1, 1, 1}, {3}, 0);
  check_close(c.grad(), {66, 75}, {2, 1}, 0);
}

TEST_CASE("autograd: reductions by hand") {
  Td x = leaf({1, 2, 3, 4}, {2, 2});
  // mean: 1/4 each
  x.mean().backward();
  check_close(x.grad(), {0.25, 0.25, 0.25, 0.25}, {2, 2}, 0);
  // sum(dim 0) weighted by g = [1, 2]: column j gets g[j]
  x.set_grad(Td());
  x.sum(0).backward(tg::tensor<double>({1, 2}, {2}));
  check_close(x.grad(), {1, 2, 1, 2}, {2, 2}, 0);
  // var(dim 1, unbiased) of rows [1, 2] and [3, 4]: d/dx = 2 (x - mean) / (n - 1) = [-1, 1, -1, 1]
  x.set_grad(Td());
  x.var(1).sum().backward();
  check_close(x.grad(), {-1, 1, -1, 1}, {2, 2}, 1e-15);
  // biased: 2 (x - mean) / n = [-0.5, 0.5, -0.5, 0.5]
  x.set_grad(Td());
  x.var(1, false).sum().backward();
  check_close(x.grad(), {-0.5, 0.5, -0.5, 0.5}, {2, 2}, 1e-15);
}

TEST_CASE("autograd: max sends the gradient to the winner, ties share it evenly") {
  Td x = leaf({1, 5, 3, 2}, {2, 2});
  x.max(1).sum().backward();  // row maxima at [0][1] and [1][0]
  check_close(x.grad(), {0, 1, 1, 0}, {2, 2}, 0);
  Td y = leaf({1, 3, 3, 0}, {4});
  y.max().backward();  // like PyTorch's max(): evenly among equal maxima
  check_close(y.grad(), {0, 0.5, 0.5, 0}, {4}, 0);
}

TEST_CASE("autograd: softmax and log_softmax by hand") {
  // y = softmax([0, 0]) = [1/2, 1/2]; d y0 / dx = [y0 (1 - y0), -y0 y1] = [1/4, -1/4]
  Td x = leaf({0, 0}, {2});
  Td y = tg::softmax(x, 0);
  check_close(y, {0.5, 0.5}, {2}, 0);
  y.narrow(0, 0, 1).sum().backward();
  check_close(x.grad(), {0.25, -0.25}, {2}, 1e-15);
  // d log_softmax(x)_0 / dx = onehot_0 - softmax(x) = [1/2, -1/2]
  Td z = leaf({0, 0}, {2});
  tg::log_softmax(z, 0).narrow(0, 0, 1).sum().backward();
  check_close(z.grad(), {0.5, -0.5}, {2}, 1e-15);
}

// ---- graph structure ----------------------------------------------------------------------

TEST_CASE("autograd: a tensor used twice gets both gradients") {
  Td x = leaf({3}, {});
  (x * x).backward();  // d x^2 = 2x
  CHECK(x.grad().item() == 6.0);
  Td y = leaf({3}, {});
  (y * y * y).backward();  // d y^3 = 3 y^2
  CHECK(y.grad().item() == 27.0);
  Td z = leaf({1, 2}, {2});
  (z + z + z).sum().backward();
  check_close(z.grad(), {3, 3}, {2}, 0);
}

TEST_CASE("autograd: a diamond graph runs each node once, after all its consumers") {
  // a = 2x, b = 3x, sum(a*b) = sum(6 x^2): d/dx = 12 x
  Td x = leaf({1, -2, 0.5}, {3});
  Td a = x * 2, b = x * 3;
  (a * b).sum().backward();
  check_close(x.grad(), {12, -24, 6}, {3}, 1e-15);
  // a deeper diamond: h = x + 1 feeds p = h*h and q = exp(h), both into r = p + q
  Td y = leaf({0}, {});
  Td h = y + 1;
  Td r = h * h + tg::exp(h);
  r.backward();  // dr/dy = 2h + e^h at h = 1
  CHECK(y.grad().item() == Approx(2.0 + std::exp(1.0)).epsilon(1e-14));
}

TEST_CASE("autograd: two backward calls accumulate into a leaf's grad()") {
  Td x = leaf({1, 2}, {2});
  Td f = (x * x).sum();
  f.backward();
  check_close(x.grad(), {2, 4}, {2}, 0);
  f.backward();  // the graph is still there: a second pass adds to grad()
  check_close(x.grad(), {4, 8}, {2}, 0);
  // a separate graph accumulates into the same grad()
  (x * 3).sum().backward();
  check_close(x.grad(), {7, 11}, {2}, 0);
}

TEST_CASE("autograd: tensors that do not require grad, and non-leaves, get no grad()") {
  Td x = leaf({1, 2}, {2});
  Td c = tg::tensor<double>({3, 4}, {2});
  Td h = x * c;
  CHECK_FALSE(c.requires_grad());
  CHECK(h.requires_grad());
  (h * h).sum().backward();
  check_close(x.grad(), {2 * 1 * 9, 2 * 2 * 16}, {2}, 0);  // d (x c)^2 = 2 x c^2
  CHECK_FALSE(c.grad().defined());
  CHECK_FALSE(h.grad().defined());  // like PyTorch, only leaves keep .grad
  // an op on tensors that do not require grad records nothing
  Td d = c * c + 1;
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(std::string(d.grad_fn_name()).empty());
}

TEST_CASE("autograd: backward with an explicit gradient weights the outputs") {
  // y = 2x (3), g = [1, 2, 3]: x.grad = 2 g
  Td x = leaf({1, 1, 1}, {3});
  (x * 2).backward(tg::tensor<double>({1, 2, 3}, {3}));
  check_close(x.grad(), {2, 4, 6}, {3}, 0);
  // the caller's gradient tensor is not changed by the pass
  Td g = tg::tensor<double>({1, 1, 1}, {3});
  Td y = leaf({5, 6, 7}, {3});
  y.backward(g);  // backward on a leaf accumulates g itself
  y.backward(g);
  check_close(y.grad(), {2, 2, 2}, {3}, 0);
  check_close(g, {1, 1, 1}, {3}, 0);
}

// ---- grad mode ----------------------------------------------------------------------------

TEST_CASE("autograd: NoGradGuard records nothing and nesting restores the state") {
  Td x = leaf({1, 2}, {2});
  const auto refs = x.impl_ptr().use_count();
  REQUIRE(tg::GradMode::is_enabled());
  {
    tg::NoGradGuard outer;
    CHECK_FALSE(tg::GradMode::is_enabled());
    Td y = tg::exp(x * 2 + 1);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    CHECK(std::string(y.grad_fn_name()).empty());
    CHECK(x.impl_ptr().use_count() == refs);  // no node holds x
    check_close(y, {std::exp(3.0), std::exp(5.0)}, {2}, 1e-15);
    {
      tg::NoGradGuard inner;
      CHECK_FALSE(tg::GradMode::is_enabled());
    }
    CHECK_FALSE(tg::GradMode::is_enabled());  // the inner guard restores "off", not "on"
  }
  CHECK(tg::GradMode::is_enabled());
  Td z = x * 2;
  CHECK(z.requires_grad());
  CHECK(std::string(z.grad_fn_name()) == "MulBackward");
}

TEST_CASE("autograd: a value computed under NoGradGuard is a constant later") {
  Td x = leaf({1, 2}, {2});
  Td y;
  {
    tg::NoGradGuard no_grad;
    y = x * 2;
  }
  (y * x).sum().backward();  // y is a constant: d/dx = y = 2x
  check_close(x.grad(), {2, 4}, {2}, 0);
}

TEST_CASE("autograd: GradMode switches recording and is per thread") {
  Td x = leaf({1}, {1});
  tg::GradMode::set_enabled(false);
  CHECK_FALSE(tg::GradMode::is_enabled());
  CHECK_FALSE((x * 2).requires_grad());
  {
    tg::NoGradGuard guard;  // restores the "off" it found
  }
  CHECK_FALSE(tg::GradMode::is_enabled());
  bool other_thread_enabled = false, other_thread_records = false;
  std::thread worker([&] {
    other_thread_enabled = tg::GradMode::is_enabled();
    Td w = leaf({1}, {1});
    other_thread_records = (w * 2).requires_grad();
  });
  worker.join();
  CHECK(other_thread_enabled);
  CHECK(other_thread_records);
  tg::GradMode::set_enabled(true);
  CHECK((x * 2).requires_grad());
}

TEST_CASE("autograd: backward restores grad mode and records nothing itself") {
  Td x = leaf({1, 2}, {2});
  (x * x).sum().backward();
  CHECK(tg::GradMode::is_enabled());
  CHECK_FALSE(x.grad().requires_grad());
  CHECK(x.grad().is_leaf());
}

// ---- errors -------------------------------------------------------------------------------

TEST_CASE("autograd: backward() on a tensor with more than one element throws") {
  Td x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Td y = x * 2;
  CHECK_THROWS_AS(y.backward(), tg::Error);
  CHECK_THROWS_WITH(y.backward(),
                    "backward: grad can be implicitly created only for one-element tensors, got shape [2, 3]; "
                    "pass a gradient");
  CHECK_FALSE(x.grad().defined());
  // a one-element tensor of any rank is fine
  (x.sum(1, true).sum(0, true)).backward();
  check_close(x.grad(), {1, 1, 1, 1, 1, 1}, {2, 3}, 0);
}

TEST_CASE("autograd: backward(g) with a wrongly shaped g throws") {
  Td x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Td y = x * 2;
  CHECK_THROWS_AS(y.backward(tg::ones<double>({3, 2})), tg::Error);
  CHECK_THROWS_WITH(y.backward(tg::ones<double>({3, 2})),
                    "backward: gradient shape [3, 2] does not match tensor shape [2, 3]");
  CHECK_THROWS_WITH(y.backward(tg::ones<double>({6})), "backward: gradient shape [6] does not match tensor shape [2, 3]");
  CHECK_THROWS_WITH(y.backward(Td()),  // an undefined gradient is the implicit one
                    "backward: grad can be implicitly created only for one-element tensors, got shape [2, 3]; pass a gradient");
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("autograd: backward on a tensor that does not require grad throws") {
  Td c = tg::tensor<double>({1, 2}, {2});
  CHECK_THROWS_AS(c.sum().backward(), tg::Error);
  CHECK_THROWS_WITH(c.sum().backward(), "backward: tensor of shape [] does not require grad and has no grad_fn");
  CHECK_THROWS_WITH(c.backward(tg::ones<double>({2})),
                    "backward: tensor of shape [2] does not require grad and has no grad_fn");
  Td x = leaf({1, 2}, {2});
  Td y;
  {
    tg::NoGradGuard no_grad;
    y = x.sum();
  }
  CHECK_THROWS_WITH(y.backward(), "backward: tensor of shape [] does not require grad and has no grad_fn");
  CHECK_THROWS_WITH(Td().backward(), "backward: expected a defined tensor, got an undefined one");
}

TEST_CASE("autograd: requires_grad_(false) on a non-leaf throws") {
  Td x = leaf({1, 2}, {2});
  Td y = x * 2;
  CHECK_THROWS_AS(y.requires_grad_(false), tg::Error);
  CHECK_THROWS_WITH(y.requires_grad_(false),
                    "requires_grad_: only leaf tensors can stop requiring grad (this one comes from MulBackward); "
                    "use detach()");
  CHECK(y.requires_grad());
  CHECK_NOTHROW(y.requires_grad_(true));  // asking a non-leaf to require grad is harmless
  // a leaf may switch either way, and requires_grad_ returns the tensor itself
  Td& same = x.requires_grad_(false);
  CHECK(&same == &x);
  CHECK_FALSE(x.requires_grad());
  CHECK_FALSE((x * 2).requires_grad());
  x.requires_grad_();
  CHECK(x.requires_grad());
}

// ---- detach, is_leaf, set_grad, grad_fn_name ----------------------------------------------

TEST_CASE("autograd: detach shares values but cuts the graph") {
  Td x = leaf({1, 2, 3}, {3});
  Td y = x * 2;
  Td d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(std::string(d.grad_fn_name()).empty());
  CHECK(d.data() == y.data());  // same storage
  d.data()[0] = 10;
  CHECK(y.data()[0] == 10.0);
  // gradient does not flow through the detached copy: d/dx sum(x * y.detach() + y) = y + 2
  (x * d + y).sum().backward();
  check_close(x.grad(), {12, 6, 8}, {3}, 0);
  // a detached leaf is a different tensor: setting its requires_grad leaves x alone
  Td xd = x.detach();
  xd.requires_grad_();
  (xd * 5).sum().backward();
  check_close(xd.grad(), {5, 5, 5}, {3}, 0);
  check_close(x.grad(), {12, 6, 8}, {3}, 0);
}

TEST_CASE("autograd: clone copies the values and stays in the graph") {
  Td x = leaf({1, 2, 3}, {3});
  Td c = x.clone();
  CHECK(c.data() != x.data());
  CHECK(std::string(c.grad_fn_name()) == "CloneBackward");
  (c * c).sum().backward();
  check_close(x.grad(), {2, 4, 6}, {3}, 0);
  c.data()[0] = 10;  // its own values
  CHECK(x.data()[0] == 1.0);
  CHECK_FALSE(tg::tensor<double>({1}, {1}).clone().requires_grad());
}

TEST_CASE("autograd: is_leaf") {
  Td x = tg::randn<double>({2});
  CHECK(x.is_leaf());
  x.requires_grad_();
  CHECK(x.is_leaf());
  Td y = x * 2;
  CHECK_FALSE(y.is_leaf());
  CHECK_FALSE(y.reshape({2, 1}).is_leaf());
  CHECK(y.detach().is_leaf());
  Td c = tg::randn<double>({2});
  CHECK((c * 2).is_leaf());  // no grad required: nothing recorded, a leaf like in PyTorch
  CHECK_THROWS_WITH(Td().is_leaf(), "is_leaf: expected a defined tensor, got an undefined one");
}

TEST_CASE("autograd: set_grad sets, clears and is accumulated into") {
  Td x = leaf({1, 2}, {2});
  x.set_grad(tg::tensor<double>({10, 20}, {2}));
  check_close(x.grad(), {10, 20}, {2}, 0);
  (x * 3).sum().backward();  // backward adds to the grad that is there
  check_close(x.grad(), {13, 23}, {2}, 0);
  x.set_grad(Td());
  CHECK_FALSE(x.grad().defined());
  (x * 3).sum().backward();
  check_close(x.grad(), {3, 3}, {2}, 0);
  CHECK_THROWS_AS(x.set_grad(tg::ones<double>({3})), tg::Error);
  CHECK_THROWS_WITH(x.set_grad(tg::ones<double>({3})), "set_grad: gradient shape [3] does not match tensor shape [2]");
  CHECK_THROWS_WITH(x.set_grad(tg::ones<double>({1, 2})),
                    "set_grad: gradient shape [1, 2] does not match tensor shape [2]");
  check_close(x.grad(), {3, 3}, {2}, 0);  // a failed set_grad changes nothing
}

TEST_CASE("autograd: grad_fn_name names the op that made a tensor") {
  Td x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Td m = leaf({1, 2, 3}, {3, 1});
  Td b3 = leaf({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 3});
  auto name = [](const Td& t) { return std::string(t.grad_fn_name()); };
  CHECK(name(x).empty());
  CHECK(name(x + x) == "AddBackward");
  CHECK(name(x + 1) == "AddBackward");
  CHECK(name(x - x) == "SubBackward");
  CHECK(name(x - 1) == "SubBackward");
  CHECK(name(1 - x) == "RsubBackward");
  CHECK(name(x * x) == "MulBackward");
  CHECK(name(x * 2) == "MulBackward");
  CHECK(name(x / x) == "DivBackward");
  CHECK(name(x / 2) == "DivBackward");
  CHECK(name(tg::reciprocal(x)) == "ReciprocalBackward");
  CHECK(name(-x) == "NegBackward");
  CHECK(name(tg::exp(x)) == "ExpBackward");
  CHECK(name(tg::log(x)) == "LogBackward");
  CHECK(name(tg::sqrt(x)) == "SqrtBackward");
  CHECK(name(tg::abs(x)) == "AbsBackward");
  CHECK(name(tg::pow(x, 2)) == "PowBackward");
  CHECK(name(tg::tanh(x)) == "TanhBackward");
  CHECK(name(tg::sigmoid(x)) == "SigmoidBackward");
  CHECK(name(tg::relu(x)) == "ReluBackward");
  CHECK(name(tg::softmax(x, 1)) == "SoftmaxBackward");
  CHECK(name(tg::log_softmax(x, 1)) == "LogSoftmaxBackward");
  CHECK(name(x.sum()) == "SumBackward");
  CHECK(name(x.sum(0)) == "SumBackward");
  CHECK(name(x.mean()) == "MeanBackward");
  CHECK(name(x.mean(1)) == "MeanBackward");
  CHECK(name(x.var(1)) == "VarBackward");
  CHECK(name(x.max()) == "MaxBackward");
  CHECK(name(x.max(0)) == "MaxBackward");
  CHECK(name(tg::matmul(x, m)) == "MmBackward");
  CHECK(name(tg::matmul(b3, m)) == "ViewBackward");  // folded into one product and viewed back, as PyTorch
  CHECK(name(tg::matmul(b3, b3.transpose(1, 2))) == "BmmBackward");
  CHECK(name(x.reshape({3, 2})) == "ViewBackward");
  CHECK(name(x.unsqueeze(0)) == "UnsqueezeBackward");
  CHECK(name(m.squeeze()) == "SqueezeBackward");
  CHECK(name(m.squeeze(1)) == "SqueezeBackward");
  CHECK(name(x.t()) == "TransposeBackward");
  CHECK(name(x.transpose(0, 1)) == "TransposeBackward");
  CHECK(name(x.narrow(1, 0, 2)) == "NarrowBackward");
  CHECK(name(x.detach()).empty());
}

// ---- graph lifetime -----------------------------------------------------------------------

TEST_CASE("autograd: a chain of 100000 ops backpropagates and is freed without stack overflow") {
  // On a 1 MiB stack: releasing (or walking) 100000 nodes recursively would need several MiB
  // and crash, so passing shows the graph is gathered and freed iteratively.
  // y = ((x c + 1) c + 1) ... : 50000 multiplications and 50000 additions, dy/dx = c^50000
  const double c = 1.00001;
  Td x = leaf({0.5, -1.0}, {2});
  Td z = leaf({0.1, 0.2}, {2});
  REQUIRE(x.impl_ptr().use_count() == 1);
  int32_t refs_while_alive = 0, refs_after = 0, z_refs_after = 0;
  std::string tanh_chain_name;
  run_on_small_stack(size_t(1) << 20, [&] {
    {
      Td y = x;
      for (int i = 0; i < 50000; ++i) {
        y = y * c;
        y = y + 1;
      }
      refs_while_alive = x.impl_ptr().use_count();  // x and the first node's edge
      y.sum().backward();
    }  // the last tensor dies: 100000 nodes are released one after another
    refs_after = x.impl_ptr().use_count();
    // a chain that saves tensors for backward, dropped without ever running backward
    {
      Td y = z;
      for (int i = 0; i < 100000; ++i) y = tg::tanh(y);
      tanh_chain_name = y.grad_fn_name();
    }
    z_refs_after = z.impl_ptr().use_count();
  });
  CHECK(refs_while_alive == 2);
  CHECK(refs_after == 1);
  const double expected = std::pow(c, 50000);
  check_close(x.grad(), {expected, expected}, {2}, 1e-9);
  CHECK(tanh_chain_name == "TanhBackward");
  CHECK(z_refs_after == 1);
}

TEST_CASE("autograd: an empty broadcast has an empty gradient") {
  auto a = tg::zeros<double>({0}).requires_grad_();
  auto b = tg::zeros<double>({2, 0});
  (a + b).sum().backward();
  REQUIRE(a.grad().defined());
  CHECK(a.grad().shape() == tg::Shape{0});
}

TEST_CASE("autograd: batch_norm with a weight and no bias still trains the weight") {
  tg::manual_seed(3);
  auto x = tg::randn<double>({6, 3});
  auto w = tg::ones<double>({3}).requires_grad_();
  tg::nn::functional::BatchNormOptions opt;
  auto y = tg::nn::functional::batch_norm(x, tg::Tensor<double>(), tg::Tensor<double>(), w, tg::Tensor<double>(), opt);
  (y * y).sum().backward();
  REQUIRE(w.grad().defined());
  // d/dw sum((w * xhat)^2) = 2 w sum(xhat^2) = 2 N var / (var + eps) per channel, w = 1
  const auto var = x.var(0, false).to_vector();
  const auto grad = w.grad().to_vector();
  for (size_t c = 0; c < 3; ++c) CHECK(grad[c] == Approx(2 * 6 * var[c] / (var[c] + 1e-5)).epsilon(1e-9));
}

TEST_CASE("autograd: pow(x, 0) is 1 even at inf and NaN, and pow(x, 1) passes gradients through") {
  auto x = tg::tensor<double>({std::numeric_limits<double>::infinity(), std::nan(""), 2.0}, {3}).requires_grad_();
  for (double v : tg::pow(x, 0).to_vector()) CHECK(v == 1.0);
  tg::pow(x, 1).sum().backward();
  for (double g : x.grad().to_vector()) CHECK(g == 1.0);
}
