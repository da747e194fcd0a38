// The catalogue of bad inputs. Each call must throw tapegrad::Error with exactly the message
// shown (the op, then the shapes or values), change nothing the test watches (values to the
// last bit, shapes, requires_grad, gradients, module parameters and buffers, the default
// generator's stream), and leave the same objects working afterwards.
#include <limits>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using tapegrad_test::check_refused;
using tapegrad_test::leaf;
using tapegrad_test::Watch;

TEST_CASE("Error is a std::invalid_argument") {
  CHECK_THROWS_AS(tg::zeros({2}) + tg::zeros({3}), tg::Error);
  CHECK_THROWS_AS(tg::zeros({2}) + tg::zeros({3}), std::invalid_argument);
}

TEST_CASE("binary ops and comparisons reject shapes that do not broadcast") {
  auto a = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = leaf({1, 2, 3, 4}, {4});
  const Watch watch(a, b);
  const std::string why = ": shapes [2, 3] and [4] cannot be broadcast together (3 != 4 at dim -1)";
  check_refused([&] { return a + b; }, "add" + why, watch);
  check_refused([&] { return a - b; }, "sub" + why, watch);
  check_refused([&] { return a * b; }, "mul" + why, watch);
  check_refused([&] { return a / b; }, "div" + why, watch);
  check_refused([&] { return a > b; }, "gt" + why, watch);
  check_refused([&] { return a < b; }, "lt" + why, watch);
  check_refused([&] { return a >= b; }, "ge" + why, watch);
  check_refused([&] { return a <= b; }, "le" + why, watch);
  check_refused([&] { return a == b; }, "eq" + why, watch);
  check_refused([&] { return a != b; }, "ne" + why, watch);
  auto c = tg::ones<double>({5, 1, 1});
  check_refused([&] { return tg::ones<double>({2, 3, 4}) + c; },
                "add: shapes [2, 3, 4] and [5, 1, 1] cannot be broadcast together (2 != 5 at dim -3)", Watch(c));
  // The operands still work, and backpropagate.
  (a + tg::ones<double>({3})).sum().backward();
  CHECK(a.grad().sum().item() == 6.0);
}

TEST_CASE("matmul names both shapes and the mismatched sizes") {
  auto a = tg::ones({100, 10}).requires_grad_();
  auto b = tg::ones({20, 1}).requires_grad_();
  const Watch watch(a, b);
  check_refused([&] { return tg::matmul(a, b); }, "matmul: shapes [100, 10] and [20, 1] cannot be multiplied (10 != 20)",
                watch);
  check_refused([&] { return a.matmul(b); }, "matmul: shapes [100, 10] and [20, 1] cannot be multiplied (10 != 20)",
                watch);
  check_refused([&] { return tg::matmul(tg::ones({3}), tg::ones({4})); },
                "matmul: shapes [3] and [4] cannot be multiplied (3 != 4)", watch);
  check_refused([&] { return tg::matmul(tg::ones({2, 2, 3}), tg::ones({3, 3, 4})); },
                "matmul: shapes [2] and [3] cannot be broadcast together (2 != 3 at dim -1)", watch);
  check_refused([&] { return tg::matmul(tg::scalar_tensor(1.0f), tg::ones({3})); },
                "matmul: both arguments need at least 1 dimension, got shapes [] and [3]", watch);
  CHECK(tg::matmul(a, tg::ones({10, 20})).shape() == tg::Shape{100, 20});
}

TEST_CASE("dims out of range are named with the valid range") {
  auto x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  const Watch watch(x);
  const std::string range = " is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])";
  check_refused([&] { return x.sum(2); }, "sum: dim 2" + range, watch);
  check_refused([&] { return x.mean(-3); }, "mean: dim -3" + range, watch);
  check_refused([&] { return x.var(5); }, "var: dim 5" + range, watch);
  check_refused([&] { return x.max(2); }, "max: dim 2" + range, watch);
  check_refused([&] { return tg::softmax(x, 2); }, "softmax: dim 2" + range, watch);
  check_refused([&] { return tg::log_softmax(x, -3); }, "log_softmax: dim -3" + range, watch);
  check_refused([&] { return x.squeeze(2); }, "squeeze: dim 2" + range, watch);
  check_refused([&] { return x.transpose(0, 2); }, "transpose: dim 2" + range, watch);
  check_refused([&] { return x.transpose(-3, 0); }, "transpose: dim -3" + range, watch);
  check_refused([&] { return x.narrow(2, 0, 1); }, "narrow: dim 2" + range, watch);
  check_refused([&] { return x.size(2); }, "size: dim 2" + range, watch);
  check_refused([&] { return tg::scalar_tensor(1.0).size(0); },
                "size: dim 0 given but a tensor of shape [] has no dimensions", watch);
  check_refused([&] { return x.unsqueeze(3); },
                "unsqueeze: dim 3 is out of range for a tensor of shape [2, 3] (expected a dim in [-3, 2])", watch);
  check_refused([&] { return tg::scalar_tensor(1.0).sum(1); },
                "sum: dim 1 is out of range for a tensor of shape [] (expected a dim in [-1, 0])", watch);
  // The same dim twice is the identity, as in PyTorch.
  CHECK(x.transpose(1, -1).to_vector() == x.to_vector());
  x.sum(-1).sum().backward();
  CHECK(x.grad().sum().item() == 6.0);
}

TEST_CASE("negative sizes and too many dims are refused by every factory, before any draw") {
  const Watch watch;
  check_refused([] { return tg::zeros({2, -1}); }, "zeros: negative size -1 in shape [2, -1]", watch);
  check_refused([] { return tg::ones({-3}); }, "ones: negative size -3 in shape [-3]", watch);
  check_refused([] { return tg::empty({1, -2, 3}); }, "empty: negative size -2 in shape [1, -2, 3]", watch);
  check_refused([] { return tg::full<double>({-1}, 2.0); }, "full: negative size -1 in shape [-1]", watch);
  check_refused([] { return tg::randn({4, -4}); }, "randn: negative size -4 in shape [4, -4]", watch);
  check_refused([] { return tg::rand({-1}); }, "rand: negative size -1 in shape [-1]", watch);
  check_refused([] { return tg::tensor<float>({1, 2}, {-2}); }, "tensor: negative size -2 in shape [-2]", watch);
  check_refused([] { return tg::zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}); },
                "zeros: tensors have at most 8 dimensions, got 9 in shape [1, 1, 1, 1, 1, 1, 1, 1, 1]", watch);
  check_refused([] { return tg::zeros({int64_t(1) << 32, int64_t(1) << 32}); },
                "zeros: shape [4294967296, 4294967296] has more elements than an int64 can count", watch);
  CHECK(tg::randn({2, 0}).numel() == 0);
}

TEST_CASE("tensor() needs as many values as the shape holds") {
  check_refused([] { return tg::tensor<float>({1, 2, 3}, {2, 2}); },
                "tensor: 3 values cannot fill shape [2, 2] (4 elements)", Watch());
  check_refused([] { return tg::tensor<double>({}, {1}); }, "tensor: 0 values cannot fill shape [1] (1 elements)",
                Watch());
}

TEST_CASE("item() needs exactly one element") {
  auto x = tg::ones({2, 3});
  check_refused([&] { return x.item(); },
                "item: a tensor with 6 elements cannot be converted to a scalar (shape [2, 3])", Watch(x));
  check_refused([] { return tg::ones({0}).item(); },
                "item: a tensor with 0 elements cannot be converted to a scalar (shape [0])", Watch());
  CHECK(x.sum().item() == 6.0f);
  CHECK(tg::ones({1, 1}).item() == 1.0f);
}

TEST_CASE("reshape and view name the target and the input") {
  auto x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  const Watch watch(x);
  check_refused([&] { return x.reshape({4, -1}); },
                "reshape: shape [4, -1] is invalid for input of shape [2, 3] (6 elements)", watch);
  check_refused([&] { return x.reshape({5}); }, "reshape: shape [5] is invalid for input of shape [2, 3] (6 elements)",
                watch);
  check_refused([&] { return x.reshape({-1, -1}); },
                "reshape: shape [-1, -1] is invalid for input of shape [2, 3] (6 elements)", watch);
  check_refused([&] { return x.reshape({-2, -3}); },
                "reshape: shape [-2, -3] is invalid for input of shape [2, 3] (6 elements)", watch);
  check_refused([&] { return x.view({7}); }, "view: shape [7] is invalid for input of shape [2, 3] (6 elements)",
                watch);
  check_refused([&] { return tg::ones({6}).reshape({int64_t(1) << 62, 4, -1}); },
                "reshape: shape [4611686018427387904, 4, -1] is invalid for input of shape [6] (6 elements)", watch);
  CHECK(x.reshape({3, -1}).shape() == tg::Shape{3, 2});
}

TEST_CASE("squeeze, t() and narrow() check their arguments") {
  auto x = tg::ones({2, 3, 4});
  const Watch watch(x);
  check_refused([&] { return x.t(); }, "t: expects a tensor with <= 2 dimensions, but got shape [2, 3, 4]", watch);
  check_refused([&] { return x.narrow(1, 2, 2); }, "narrow: start 2 and length 2 are out of range for dim 1 of shape [2, 3, 4]",
                watch);
  check_refused([&] { return x.narrow(0, 0, -1); },
                "narrow: start 0 and length -1 are out of range for dim 0 of shape [2, 3, 4]", watch);
  check_refused([&] { return x.narrow(0, -3, 1); },
                "narrow: start -3 and length 1 are out of range for dim 0 of shape [2, 3, 4]", watch);
  CHECK(x.narrow(0, -1, 1).shape() == tg::Shape{1, 3, 4});  // a negative start counts from the end
  CHECK(x.narrow(1, 1, 2).shape() == tg::Shape{2, 2, 4});
  CHECK(x.squeeze(0).shape() == tg::Shape{2, 3, 4});  // a dim of size != 1 stays, as in PyTorch
}

TEST_CASE("reductions with no value: max of nothing") {
  auto e = tg::ones({0, 3});
  const Watch watch(e);
  check_refused([&] { return e.max(); },
                "max: cannot reduce an empty tensor of shape [0, 3] (there is no identity); give a dim", watch);
  check_refused([&] { return e.max(0); }, "max: cannot reduce over dim 0 of size 0 (shape [0, 3])", watch);
  check_refused([&] { return e.max(-2, true); }, "max: cannot reduce over dim -2 of size 0 (shape [0, 3])", watch);
  CHECK(e.max(1).shape() == tg::Shape{0});
  CHECK(e.sum().item() == 0.0f);  // sums have an identity
}

TEST_CASE("undefined tensors are named in every op") {
  tg::Tensor<float> u;
  auto x = tg::ones({2}).requires_grad_();
  const Watch watch(u, x);
  const std::string why = ": expected a defined tensor, got an undefined one";
  check_refused([&] { return u + x; }, "add" + why, watch);
  check_refused([&] { return x * u; }, "mul" + why, watch);
  check_refused([&] { return u - 1; }, "sub" + why, watch);
  check_refused([&] { return 2 / u; }, "reciprocal" + why, watch);
  check_refused([&] { return -u; }, "neg" + why, watch);
  check_refused([&] { return tg::exp(u); }, "exp" + why, watch);
  check_refused([&] { return tg::log(u); }, "log" + why, watch);
  check_refused([&] { return tg::pow(u, 2); }, "pow" + why, watch);
  check_refused([&] { return tg::sigmoid(u); }, "sigmoid" + why, watch);
  check_refused([&] { return tg::relu(u); }, "relu" + why, watch);
  check_refused([&] { return tg::matmul(u, x); }, "matmul" + why, watch);
  check_refused([&] { return tg::matmul(x, u); }, "matmul" + why, watch);
  check_refused([&] { return tg::sum(u); }, "sum" + why, watch);
  check_refused([&] { return u.mean(0); }, "mean" + why, watch);
  check_refused([&] { return u.max(); }, "max" + why, watch);
  check_refused([&] { return u.reshape({2}); }, "reshape" + why, watch);
  check_refused([&] { return u.unsqueeze(0); }, "unsqueeze" + why, watch);
  check_refused([&] { return u.item(); }, "item" + why, watch);
  check_refused([&] { return u.shape(); }, "shape" + why, watch);
  check_refused([&] { return u.data(); }, "data" + why, watch);
  check_refused([&] { return u.backward(); }, "backward" + why, watch);
  check_refused([&] { return u.detach(); }, "detach" + why, watch);
  check_refused([&] { return tg::softmax(u, 0); }, "softmax" + why, watch);
  check_refused([&] { return u > 0; }, "gt" + why, watch);
  // an undefined gradient is the implicit one, which only a one-element tensor has
  check_refused([&] { return x.backward(u); },
                "backward: grad can be implicitly created only for one-element tensors, got shape [2]; pass a gradient", watch);
  CHECK_FALSE(u.defined());
  x.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("backward refuses non-scalars, wrong gradients and tensors outside the graph") {
  auto x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  auto y = x * 2;
  const Watch watch(x, y);
  check_refused([&] { y.backward(); },
                "backward: grad can be implicitly created only for one-element tensors, got shape [2, 3]; pass a gradient",
                watch);
  check_refused([&] { y.backward(tg::ones<double>({3, 2})); },
                "backward: gradient shape [3, 2] does not match tensor shape [2, 3]", watch);
  check_refused([&] { y.backward(tg::ones<double>({6})); }, "backward: gradient shape [6] does not match tensor shape [2, 3]",
                watch);
  auto c = tg::tensor<double>({1, 2}, {2});
  check_refused([&] { c.sum().backward(); }, "backward: tensor of shape [] does not require grad and has no grad_fn",
                watch);
  check_refused([&] { y.requires_grad_(false); },
                "requires_grad_: only leaf tensors can stop requiring grad (this one comes from MulBackward); use detach()", watch);
  y.backward(tg::ones<double>({2, 3}));
  CHECK(x.grad().sum().item() == 12.0);
}

TEST_CASE("autograd::grad refuses outputs, inputs and grad_outputs that do not fit") {
  auto x = leaf<double>({1, 2, 3}, {3});
  auto unused = leaf<double>({4}, {1});
  auto c = tg::tensor<double>({1, 2}, {2});
  auto y = (x * x).sum();
  auto v = x * 3;
  const Watch watch(x, unused, c);
  using tg::autograd::grad;
  check_refused([&] { return grad({c.sum()}, {x}); },
                "autograd::grad: output 0 (shape []) does not require grad and has no grad_fn", watch);
  check_refused([&] { return grad({y}, {x, unused}); },
                "autograd::grad: input 1 (shape [1]) was not used in the graph of the outputs; pass allow_unused = true if that "
                "is intended", watch);
  check_refused([&] { return grad({y}, {c}); }, "autograd::grad: input 0 (shape [2]) does not require grad", watch);
  check_refused([&] { return grad({y, v}, {x}, {tg::ones<double>({})}); }, "autograd::grad: got 1 grad_outputs for 2 outputs",
                watch);
  check_refused([&] { return grad({v}, {x}, {tg::ones<double>({2})}); },
                "autograd::grad: grad_outputs[0] has shape [2] but outputs[0] has shape [3]", watch);
  check_refused([&] { return grad({v}, {x}); },
                "autograd::grad: grad can be implicitly created only for one-element tensors, got shape [3]; pass a gradient",
                watch);
  check_refused([&] { return grad({y}, std::vector<tg::Tensor<double>>{}); }, "autograd::grad: expected at least one input",
                watch);
  check_refused([&] { return grad({y}, {tg::Tensor<double>()}); }, "autograd::grad: expected a defined tensor, got an undefined one",
                watch);
  // the same objects still work
  auto g = grad({y}, {x, unused}, {}, std::nullopt, false, true);
  CHECK(g[0].to_vector() == std::vector<double>{2, 4, 6});
  CHECK_FALSE(g[1].defined());
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a hook that returns the wrong shape or throws is refused and no grad() changes") {
  auto w = leaf<double>({1, 2}, {2});
  auto x = leaf<double>({3, 4, 5}, {3});
  (w.sum() * 2).backward();  // w.grad() = [2, 2] before the failing passes
  auto y = (w * 3).sum() + (x * x).sum();
  const uint64_t bad = x.register_hook([](const tg::Tensor<double>& g) { return g.sum(); });
  const Watch watch(w, x);
  check_refused([&] { y.backward(); }, "register_hook: a hook returned a gradient of shape [] for a gradient of shape [3]", watch);
  check_refused([&] { return tg::autograd::grad({y}, {x}); },
                "register_hook: a hook returned a gradient of shape [] for a gradient of shape [3]", watch);
  CHECK(x.remove_hook(bad));
  CHECK_FALSE(x.remove_hook(bad));
  // a hook on a non-leaf, run before its node: the leaves reached before it keep their grad()
  auto z = x * 2;
  auto loss = (w * 3).sum() + z.sum();
  z.register_hook([](const tg::Tensor<double>&) -> tg::Tensor<double> { throw tg::Error("hook: refused"); });
  check_refused([&] { loss.backward(); }, "hook: refused", watch);
  const auto c = tg::tensor<double>({1, 2}, {2});
  check_refused([&] { return c.register_hook([](const tg::Tensor<double>& g) { return g; }); },
                "register_hook: cannot register a hook on a tensor of shape [2] that does not require grad", Watch(c));
  check_refused([&] { return z.register_post_accumulate_grad_hook([](const tg::Tensor<double>&) {}); },
                "register_post_accumulate_grad_hook: only leaf tensors have an accumulated grad, but this one of shape [3] comes "
                "from MulBackward", Watch(z));
  y.backward();
  CHECK(w.grad().to_vector() == std::vector<double>{5, 5});
  CHECK(x.grad().to_vector() == std::vector<double>{6, 8, 10});
}

TEST_CASE("random fills check their parameters and draw nothing when they refuse") {
  auto x = tg::zeros({3});
  const Watch watch(x);
  check_refused([&] { x.bernoulli_(1.5); }, "bernoulli_: expects 0 <= p <= 1, but got p=1.5", watch);
  check_refused([&] { x.bernoulli_(std::nan("")); }, "bernoulli_: expects 0 <= p <= 1, but got p=nan", watch);
  check_refused([&] { x.uniform_(1, 0); }, "uniform_: expects from <= to, but got from=1 to=0", watch);
  check_refused([&] { x.normal_(0, -1); }, "normal_: expects std >= 0.0, but got std=-1", watch);
  x.uniform_(2, 3);
  for (float v : x.to_vector()) CHECK((v >= 2.0f && v < 3.0f));
}

TEST_CASE("losses check their targets") {
  namespace F = tg::nn::functional;
  auto p = tg::full({2, 3}, 0.5f).requires_grad_();
  tg::Tensor<float> none;
  const Watch watch(p);
  check_refused([&] { return F::binary_cross_entropy(p, none); },
                "binary_cross_entropy: expected a defined tensor, got an undefined one", watch);
  check_refused([&] { return F::mse_loss(p, none); }, "mse_loss: expected a defined tensor, got an undefined one", watch);
  check_refused([&] { return tg::nn::BCELoss()(p, tg::ones({3, 2})); },
                "binary_cross_entropy: target shape [3, 2] differs from input shape [2, 3]", watch);
  check_refused([&] { return tg::nn::MSELoss()(p, tg::ones({3})); },
                "mse_loss: target shape [3] differs from input shape [2, 3]", watch);
  auto q = tg::tensor<double>({0.5, 1.5}, {2}).requires_grad_();
  check_refused([&] { return tg::nn::BCELoss<double>()(q, tg::ones<double>({2})); },
                "binary_cross_entropy: all elements of input should be between 0 and 1, got 1.5 at index 1", Watch(q));
  auto r = tg::tensor<double>({0.5, std::nan("")}, {2});
  check_refused([&] { return F::binary_cross_entropy(r, tg::ones<double>({2})); },
                "binary_cross_entropy: all elements of input should be between 0 and 1, got nan at index 1", Watch(r));
  tg::nn::BCELoss()(p, tg::ones({2, 3})).backward();
  CHECK(p.grad().defined());
}

TEST_CASE("Linear refuses the wrong feature count or rank and stays usable") {
  tg::manual_seed(0);
  tg::nn::Linear lin(10, 20);
  const Watch watch(lin);
  const std::string tail = " does not match weight shape [20, 10] (expected the last dim to be in_features = 10)";
  check_refused([&] { return lin(tg::ones({4, 3})); }, "linear: input shape [4, 3]" + tail, watch);
  check_refused([&] { return lin(tg::ones({2, 4, 11})); }, "linear: input shape [2, 4, 11]" + tail, watch);
  check_refused([&] { return lin(tg::scalar_tensor(1.0f)); }, "linear: input shape []" + tail, watch);
  check_refused([] { return tg::nn::Linear(-1, 2); }, "Linear: in_features and out_features must be >= 0, got -1 and 2",
                watch);
  CHECK(lin(tg::ones({2, 4, 10})).shape() == tg::Shape{2, 4, 20});
  CHECK(lin(tg::ones({10})).shape() == tg::Shape{20});
}

TEST_CASE("BatchNorm refuses the wrong channels or rank and one value per channel in training") {
  tg::nn::BatchNorm1d bn(3);
  const Watch watch(bn);
  check_refused([&] { return bn(tg::ones({2, 3, 4, 5})); },
                "batch_norm: expected 2D or 3D input (N, C) or (N, C, L), got shape [2, 3, 4, 5]", watch);
  check_refused([&] { return bn(tg::ones({3})); }, "batch_norm: expected 2D or 3D input (N, C) or (N, C, L), got shape [3]",
                watch);
  check_refused([&] { return bn(tg::ones({4, 5})); },
                "batch_norm: input shape [4, 5] has 5 channels but a parameter or running statistic has shape [3]", watch);
  check_refused([&] { return bn(tg::ones({1, 3})); },
                "batch_norm: expected more than 1 value per channel when training, got input of shape [1, 3]", watch);
  check_refused([&] { return bn(tg::ones({1, 3, 1})); },
                "batch_norm: expected more than 1 value per channel when training, got input of shape [1, 3, 1]", watch);
  check_refused([] { return tg::nn::BatchNorm1d(0); }, "BatchNorm1d: num_features must be positive, got 0", watch);
  CHECK(bn(tg::randn({4, 3})).shape() == tg::Shape{4, 3});
  CHECK(bn.num_batches_tracked.item() == 1.0f);
  bn.eval();
  CHECK(bn(tg::ones({1, 3})).shape() == tg::Shape{1, 3});  // one value per channel is fine in eval
}

TEST_CASE("Dropout refuses p outside 0..1, NaN included") {
  check_refused([] { return tg::nn::Dropout(1.5); }, "Dropout: probability has to be between 0 and 1, but got 1.5", Watch());
  check_refused([] { return tg::nn::Dropout(-0.1); }, "Dropout: probability has to be between 0 and 1, but got -0.1",
                Watch());
  check_refused([] { return tg::nn::Dropout(std::nan("")); },
                "Dropout: probability has to be between 0 and 1, but got nan", Watch());
  auto x = tg::ones({3});
  check_refused([&] { return tg::nn::functional::dropout(x, -0.1); },
                "dropout: probability has to be between 0 and 1, but got -0.1", Watch(x));
  CHECK(tg::nn::Dropout(1.0)(x).sum().item() == 0.0f);
}

TEST_CASE("Adam refuses invalid options, NaN included") {
  std::vector<tg::Tensor<double>> params{tg::zeros<double>({3}).requires_grad_()};
  using tg::optim::AdamOptions;
  const Watch watch(params[0]);
  const double nan = std::nan("");
  check_refused([&] { return tg::optim::Adam<double>(params, nan); }, "Adam: invalid learning rate: nan", watch);
  check_refused([&] { return tg::optim::Adam<double>(params, AdamOptions().betas({nan, 0.999})); },
                "Adam: invalid beta parameter at index 0: nan", watch);
  check_refused([&] { return tg::optim::Adam<double>(params, AdamOptions().eps(nan)); }, "Adam: invalid epsilon value: nan",
                watch);
  check_refused([&] { return tg::optim::Adam<double>(params, AdamOptions().weight_decay(nan)); },
                "Adam: invalid weight_decay value: nan", watch);
}

TEST_CASE("a parameter replaced by one of the wrong shape between steps is refused, and the model recovers") {
  tg::manual_seed(1);
  tg::nn::Linear lin(4, 2);
  tg::optim::Adam opt(lin.parameters(), 0.1);
  auto x = tg::randn({8, 4});
  auto loss_of = [&] { return tg::pow(lin(x), 2).mean(); };
  loss_of().backward();
  opt.step();

  const auto good_weight = lin.weight;
  lin.weight = tg::zeros({2, 5}).requires_grad_();  // the member, not the registered parameter
  const Watch watch(lin, good_weight);
  check_refused([&] { return loss_of(); },
                "linear: input shape [8, 4] does not match weight shape [2, 5] (expected the last dim to be in_features = 5)",
                watch);
  lin.weight = good_weight;
  opt.zero_grad();
  loss_of().backward();
  CHECK_NOTHROW(opt.step());

  tg::nn::BatchNorm1d bn(3);
  const auto good_mean = bn.running_mean;
  bn.running_mean = tg::zeros({4});
  const auto batch = tg::randn({5, 3});
  const Watch bn_watch(bn, good_mean);
  check_refused([&] { return bn(batch); },
                "batch_norm: input shape [5, 3] has 3 channels but a parameter or running statistic has shape [4]", bn_watch);
  bn.running_mean = good_mean;
  CHECK(bn(batch).shape() == tg::Shape{5, 3});
}

TEST_CASE("set_grad refuses a gradient of another shape, so step() never meets one") {
  auto w = tg::zeros<double>({2, 2}).requires_grad_();
  auto b = tg::zeros<double>({2}).requires_grad_();
  tg::optim::Adam<double> opt({w, b}, 0.1);
  w.set_grad(tg::ones<double>({2, 2}));
  const Watch watch(w, b);
  check_refused([&] { b.set_grad(tg::ones<double>({3})); }, "set_grad: gradient shape [3] does not match tensor shape [2]",
                watch);
  check_refused([&] { opt.step({tg::ones<double>({2, 2}), tg::ones<double>({3})}); },
                "Adam: gradient 1 has shape [3] but parameter 1 has shape [2]", watch);
  b.set_grad(tg::ones<double>({2}));
  opt.step();
  for (double v : w.to_vector()) CHECK(std::abs(v + 0.1) < 1e-8);  // Adam's first step moves by lr
}

TEST_CASE("SGD and AdamW refuse invalid options, NaN included") {
  std::vector<tg::Tensor<double>> params{tg::zeros<double>({3}).requires_grad_()};
  using tg::optim::AdamWOptions;
  using tg::optim::SGDOptions;
  const Watch watch(params[0]);
  const double nan = std::nan("");
  check_refused([&] { return tg::optim::SGD<double>(params, -0.1); }, "SGD: invalid learning rate: -0.1", watch);
  check_refused([&] { return tg::optim::SGD<double>(params, nan); }, "SGD: invalid learning rate: nan", watch);
  check_refused([&] { return tg::optim::SGD<double>(params, SGDOptions(0.1).momentum(nan)); },
                "SGD: invalid momentum value: nan", watch);
  check_refused([&] { return tg::optim::SGD<double>(params, SGDOptions(0.1).weight_decay(-1)); },
                "SGD: invalid weight_decay value: -1", watch);
  check_refused([&] { return tg::optim::SGD<double>(params, SGDOptions(0.1).nesterov(true)); },
                "SGD: Nesterov momentum requires a momentum and zero dampening (momentum 0, dampening 0)", watch);
  check_refused([&] { return tg::optim::AdamW<double>(params, AdamWOptions(nan)); }, "AdamW: invalid learning rate: nan",
                watch);
  check_refused([&] { return tg::optim::AdamW<double>(params, AdamWOptions().betas({0.9, nan})); },
                "AdamW: invalid beta parameter at index 1: nan", watch);
  check_refused([&] { return tg::optim::AdamW<double>(params, AdamWOptions().betas({-0.5, 0.999})); },
                "AdamW: invalid beta parameter at index 0: -0.5", watch);
  tg::optim::SGD<double> sgd(params, 0.1);
  check_refused([&] { sgd.set_lr(nan); }, "SGD: invalid learning rate: nan", watch);
  CHECK(sgd.lr() == 0.1);
}

TEST_CASE("SGD refuses a gradient of another shape once its buffer exists, schedules refuse bad periods") {
  auto w = tg::zeros<double>({2, 2}).requires_grad_();
  tg::optim::SGD<double> opt({w}, tg::optim::SGDOptions(0.1).momentum(0.9));
  opt.step({tg::ones<double>({2, 2})});
  const Watch watch(w);
  check_refused([&] { opt.step({tg::ones<double>({4})}); }, "SGD: gradient 0 has shape [4] but parameter 0 has shape [2, 2]",
                watch);
  check_refused([&] { return tg::optim::StepLR<double>(opt, 0); }, "StepLR: step_size must be positive, got 0", watch);
  check_refused([&] { return tg::optim::CosineAnnealingLR<double>(opt, 0); },
                "CosineAnnealingLR: T_max must be positive, got 0", watch);
  CHECK(opt.lr() == 0.1);
  CHECK_NOTHROW(opt.step({tg::ones<double>({2, 2})}));
}

TEST_CASE("clip_grad_norm_ and nn::init refuse bad arguments, changing nothing and drawing nothing") {
  auto w = tg::zeros<double>({2, 3}).requires_grad_();
  w.set_grad(tg::ones<double>({2, 3}));
  const auto g = w.grad();
  auto v = tg::zeros<double>({4});
  const Watch watch(w, g, v);
  namespace init = tg::nn::init;
  check_refused([&] { return tg::nn::utils::clip_grad_norm_(std::vector<tg::Tensor<double>>{w}, -0.5); },
                "clip_grad_norm_: max_norm must be >= 0, got -0.5", watch);
  check_refused([&] { return tg::nn::utils::clip_grad_norm_(w, std::nan("")); },
                "clip_grad_norm_: max_norm must be >= 0, got nan", watch);
  check_refused([&] { return tg::nn::utils::clip_grad_norm_(w, 1.0, -1.0); },
                "clip_grad_norm_: norm_type must be positive or inf, got -1", watch);
  const std::string fewer = ": fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape [4]";
  check_refused([&] { return init::xavier_uniform_(v); }, "xavier_uniform_" + fewer, watch);
  check_refused([&] { return init::xavier_normal_(v); }, "xavier_normal_" + fewer, watch);
  check_refused([&] { return init::kaiming_uniform_(v); }, "kaiming_uniform_" + fewer, watch);
  check_refused([&] { return init::kaiming_normal_(v); }, "kaiming_normal_" + fewer, watch);
  check_refused([&] { return init::kaiming_uniform_(w, 0, "fan"); },
                "kaiming_uniform_: mode \"fan\" not supported, please use one of fan_in, fan_out", watch);
  check_refused([&] { return init::kaiming_normal_(w, 0, "fan_in", "gelu"); },
                "kaiming_normal_: unsupported nonlinearity \"gelu\" (linear, conv1d, conv2d, conv3d, conv_transpose1d, "
                "conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, leaky_relu, selu)",
                watch);
  check_refused([&] { return init::calculate_gain("softmax"); },
                "calculate_gain: unsupported nonlinearity \"softmax\" (linear, conv1d, conv2d, conv3d, conv_transpose1d, "
                "conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, leaky_relu, selu)",
                watch);
}

TEST_CASE("conv2d and Conv2d name the op, the shapes and the values they refuse") {
  namespace F = tg::nn::functional;
  auto x = tg::randn({2, 3, 5, 5}).requires_grad_();
  auto w = tg::randn({4, 3, 3, 3}).requires_grad_();
  auto b = tg::randn({4}).requires_grad_();
  const Watch watch(x, w, b);
  check_refused([&] { return F::conv2d(tg::ones({3, 5}), w); },
                "conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape [3, 5]", watch);
  check_refused([&] { return F::conv2d(tg::ones({1, 2, 3, 5, 5}), w); },
                "conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape [1, 2, 3, 5, 5]", watch);
  check_refused([&] { return F::conv2d(x, tg::ones({4, 3, 3})); },
                "conv2d: weight must be 4-D (out_channels, in_channels / groups, kH, kW), got shape [4, 3, 3]", watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, int64_t(1) << 62); },
                "conv2d: stride [1, 1], padding [4611686018427387904, 4611686018427387904] and dilation [1, 1] must each be "
                "below 2^31", watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, 0, {1, int64_t(1) << 40}); },
                "conv2d: stride [1, 1], padding [0, 0] and dilation [1, 1099511627776] must each be below 2^31", watch);
  check_refused([&] { return F::conv2d(tg::ones({2, 6, 5, 5}), tg::ones({2, 1, 3, 3}), {}, 1, 0, 1, 6); },
                "conv2d: weight shape [2, 1, 3, 3] has 2 output channels, fewer than groups = 6", watch);
  check_refused([&] { return F::conv2d(x, tg::ones({0, 3, 3, 3})); },
                "conv2d: weight shape [0, 3, 3, 3] has 0 output channels, fewer than groups = 1", watch);
  check_refused([&] { return F::conv2d(x, tg::ones({4, 3, 0, 3})); }, "conv2d: weight shape [4, 3, 0, 3] has an empty kernel",
                watch);
  check_refused([&] { return F::conv2d(x, tg::ones({8, 4, 3, 3})); },
                "conv2d: input shape [2, 3, 5, 5] has 3 channels but weight shape [8, 4, 3, 3] with groups = 1 expects 4", watch);
  check_refused([&] { return F::conv2d(tg::ones({3, 5, 5}), tg::ones({8, 4, 3, 3})); },
                "conv2d: input shape [3, 5, 5] has 3 channels but weight shape [8, 4, 3, 3] with groups = 1 expects 4", watch);
  check_refused([&] { return F::conv2d(x, tg::ones({4, 1, 3, 3}), {}, 1, 0, 1, 2); },
                "conv2d: input shape [2, 3, 5, 5] has 3 channels but weight shape [4, 1, 3, 3] with groups = 2 expects 2", watch);
  check_refused([&] { return F::conv2d(x, tg::ones({3, 1, 3, 3}), {}, 1, 0, 1, 2); },
                "conv2d: weight shape [3, 1, 3, 3] has 3 output channels, not divisible by groups = 2", watch);
  check_refused([&] { return F::conv2d(x, w, tg::ones({3})); },
                "conv2d: bias shape [3] does not match weight shape [4, 3, 3, 3] (expected [4])", watch);
  check_refused([&] { return F::conv2d(x, w, tg::ones({4, 1})); },
                "conv2d: bias shape [4, 1] does not match weight shape [4, 3, 3, 3] (expected [4])", watch);
  check_refused([&] { return F::conv2d(tg::ones({1, 3, 2, 2}), w); },
                "conv2d: input shape [1, 3, 2, 2] padded by [0, 0] is (2 x 2) per channel, smaller than the kernel (3 x 3) of "
                "weight shape [4, 3, 3, 3] with dilation [1, 1]",
                watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, {0, 1}, 3); },
                "conv2d: input shape [2, 3, 5, 5] padded by [0, 1] is (5 x 7) per channel, smaller than the kernel (7 x 7) of "
                "weight shape [4, 3, 3, 3] with dilation [3, 3]",
                watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, {0, -1}); }, "conv2d: padding must be non-negative, got [0, -1]", watch);
  check_refused([&] { return F::conv2d(x, w, b, 0); }, "conv2d: stride must be positive, got [0, 0]", watch);
  check_refused([&] { return F::conv2d(x, w, b, {1, -2}); }, "conv2d: stride must be positive, got [1, -2]", watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, 0, {0, 1}); }, "conv2d: dilation must be positive, got [0, 1]", watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, 0, 1, 0); }, "conv2d: groups must be positive, got 0", watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, 0, 1, -1); }, "conv2d: groups must be positive, got -1", watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, "full"); }, "conv2d: padding must be \"same\" or \"valid\", got \"full\"",
                watch);
  check_refused([&] { return F::conv2d(x, w, b, 2, "same"); },
                "conv2d: padding=\"same\" is not supported for strided convolutions, got stride [2, 2]", watch);
  check_refused([&] { return F::conv2d(tg::ones({1, 3, 2, 2}), w, b, 1, "valid"); },
                "conv2d: input shape [1, 3, 2, 2] padded by [0, 0] is (2 x 2) per channel, smaller than the kernel (3 x 3) of "
                "weight shape [4, 3, 3, 3] with dilation [1, 1]",
                watch);
  check_refused([&] { return F::conv2d(x, w, b, 1, 0, {1, 2, 3}); }, "ExpandingArray: expected 2 values, got 3", watch);

  // the layer's own options, refused before any draw
  check_refused([] { return tg::nn::Conv2d(3, 8, 3, 1, 0, 1, 0); }, "Conv2d: groups must be positive, got 0", watch);
  check_refused([] { return tg::nn::Conv2d(0, 8, 3); }, "Conv2d: in_channels and out_channels must be positive, got 0 and 8",
                watch);
  check_refused([] { return tg::nn::Conv2d(3, 8, 3, 1, 0, 1, 2); }, "Conv2d: in_channels 3 is not divisible by groups 2", watch);
  check_refused([] { return tg::nn::Conv2d(4, 6, 3, 1, 0, 1, 4); }, "Conv2d: out_channels 6 is not divisible by groups 4", watch);
  check_refused([] { return tg::nn::Conv2d(3, 8, {0, 3}); }, "Conv2d: kernel_size must be positive, got [0, 3]", watch);
  check_refused([] { return tg::nn::Conv2d(3, 8, 3, {1, 0}); }, "Conv2d: stride must be positive, got [1, 0]", watch);
  check_refused([] { return tg::nn::Conv2d(3, 8, 3, 1, 0, -1); }, "Conv2d: dilation must be positive, got [-1, -1]", watch);
  check_refused([] { return tg::nn::Conv2d(3, 8, 3, 1, -1); }, "Conv2d: padding must be non-negative, got [-1, -1]", watch);

  // a layer whose weight was replaced by one of the wrong shape refuses, and works once restored
  tg::nn::Conv2d conv(3, 4, 3, 1, 1);
  const auto good_weight = conv.weight;
  conv.weight = tg::zeros({4, 2, 3, 3}).requires_grad_();
  const Watch conv_watch(conv, good_weight, x);
  check_refused([&] { return conv(x); },
                "conv2d: input shape [2, 3, 5, 5] has 3 channels but weight shape [4, 2, 3, 3] with groups = 1 expects 2",
                conv_watch);
  conv.weight = good_weight;
  conv(x).sum().backward();
  CHECK(x.grad().shape() == x.shape());
  CHECK(F::conv2d(x, w, b, 1, 1).shape() == tg::Shape{2, 4, 5, 5});
}

// The full lists are in tests/pooling_test.cpp and tests/activation_test.cpp; here, one of each
// kind, with the input unchanged by the refused call.
TEST_CASE("Pooling, flatten, BatchNorm2d and GELU refuse bad settings naming the op and shapes") {
  auto x = tg::randn<float>({1, 2, 5, 5}).requires_grad_();
  const Watch watch(x);
  check_refused([&] { return tg::nn::MaxPool2d(6)(x); },
                "max_pool2d: input of shape [1, 2, 5, 5] is too small for kernel [6, 6] (stride [6, 6], padding [0, 0], "
                "dilation [1, 1]): output size [0, 0]", watch);
  check_refused([&] { return tg::nn::AvgPool2d(3, 1, 2)(x); },
                "avg_pool2d: pad should be at most half of kernel size, but got padding [2, 2] for kernel [3, 3]", watch);
  check_refused([&] { return tg::nn::AdaptiveAvgPool2d(2)(x.flatten(0, 2)); },
                "adaptive_avg_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape [10, 5]", watch);
  check_refused([&] { return x.flatten(2, 0); }, "flatten: start_dim 2 comes after end_dim 0 for input of shape [1, 2, 5, 5]",
                watch);
  check_refused([&] { return tg::nn::BatchNorm2d(2)(x.flatten(2)); },
                "BatchNorm2d: expected 4D input (got 3D input of shape [1, 2, 25])", watch);
  check_refused([&] { return tg::nn::functional::gelu(x, "fast"); },
                "gelu: approximate argument must be either none or tanh, but got \"fast\"", watch);
}

TEST_CASE("class losses check shapes, class indices, weights, label_smoothing and the reduction") {
  namespace F = tg::nn::functional;
  auto x = tg::tensor<float>({0.5f, -1, 2, 0, 1, 3}, {2, 3}).requires_grad_();
  const Watch watch(x);
  check_refused([&] { return F::cross_entropy(x, tg::zeros({3})); },
                "cross_entropy: target shape [3] does not match input shape [2, 3] (expected class indices of shape [2] or "
                "class probabilities of shape [2, 3])", watch);
  check_refused([&] { return tg::nn::NLLLoss()(x, tg::zeros({2, 3})); },
                "nll_loss: target shape [2, 3] does not match input shape [2, 3] (expected class indices of shape [2])", watch);
  check_refused([&] { return F::cross_entropy(tg::scalar_tensor(1.0f), tg::scalar_tensor(0.0f)); },
                "cross_entropy: input must have at least 1 dimension (C), (N, C) or (N, C, d1, ...), got shape []", watch);
  const std::string range = " classes (expected 0 <= target < 3 or ignore_index -100)";
  check_refused([&] { return tg::nn::CrossEntropyLoss()(x, tg::tensor<float>({0, 3}, {2})); },
                "cross_entropy: target 3 at index 1 is out of range for 3" + range, watch);
  check_refused([&] { return F::nll_loss(x, tg::tensor<float>({-1, 0}, {2})); },
                "nll_loss: target -1 at index 0 is out of range for 3" + range, watch);
  check_refused([&] { return F::cross_entropy(x, tg::tensor<float>({0, 1.5f}, {2})); },
                "cross_entropy: target 1.5 at index 1 is not an integer class index (3 classes)", watch);
  check_refused([&] { return F::cross_entropy(x, tg::tensor<float>({std::nanf(""), 0}, {2})); },
                "cross_entropy: target nan at index 0 is not an integer class index (3 classes)", watch);
  check_refused([&] { return F::cross_entropy(x, tg::tensor<float>({0, 7}, {2}), F::CrossEntropyFuncOptions().ignore_index(4)); },
                "cross_entropy: target 7 at index 1 is out of range for 3 classes (expected 0 <= target < 3 or ignore_index 4)",
                watch);
  check_refused([&] { return F::cross_entropy(x, tg::zeros({2}), F::CrossEntropyFuncOptions().reduction("avg")); },
                "cross_entropy: reduction must be \"mean\", \"sum\" or \"none\", got \"avg\"", watch);
  check_refused([&] { return tg::nn::NLLLoss(tg::nn::NLLLossOptions().reduction("Mean")); },
                "nll_loss: reduction must be \"mean\", \"sum\" or \"none\", got \"Mean\"", watch);
  check_refused([&] { return F::cross_entropy(x, tg::zeros({2}), F::CrossEntropyFuncOptions().weight(tg::ones({4}))); },
                "cross_entropy: weight shape [4] does not match the 3 classes of input shape [2, 3] (expected [3])", watch);
  check_refused([&] { return F::nll_loss(x, tg::zeros({2}), F::NLLLossFuncOptions().weight(tg::ones({1, 3}))); },
                "nll_loss: weight shape [1, 3] does not match the 3 classes of input shape [2, 3] (expected [3])", watch);
  check_refused([&] { return F::cross_entropy(x, tg::zeros({2}), F::CrossEntropyFuncOptions().weight(tg::ones<double>({3}))); },
                "cross_entropy: weight is a double tensor but the input is float", watch);
  check_refused([&] { return F::cross_entropy(x, tg::zeros({2}), F::CrossEntropyFuncOptions().label_smoothing(1.5)); },
                "cross_entropy: label_smoothing must be between 0.0 and 1.0, got 1.5", watch);
  check_refused([&] { return F::cross_entropy(x, tg::zeros({2}), F::CrossEntropyFuncOptions().label_smoothing(-0.25)); },
                "cross_entropy: label_smoothing must be between 0.0 and 1.0, got -0.25", watch);
  check_refused([&] { return F::cross_entropy(x, tg::zeros({2}), F::CrossEntropyFuncOptions().label_smoothing(std::nan(""))); },
                "cross_entropy: label_smoothing must be between 0.0 and 1.0, got nan", watch);
  check_refused([&] { return F::cross_entropy(x, tg::full({2, 3}, 1.0f / 3), F::CrossEntropyFuncOptions().ignore_index(1)); },
                "cross_entropy: ignore_index is not supported for class probability targets, got 1", watch);
  // the same objects still work: an ignored index is allowed whatever its value
  auto loss = F::cross_entropy(x, tg::tensor<float>({5, 1}, {2}), F::CrossEntropyFuncOptions().ignore_index(5));
  loss.backward();
  CHECK(x.grad().defined());
}

TEST_CASE("elementwise losses check shapes, weights and the reduction") {
  namespace F = tg::nn::functional;
  auto x = tg::full({2, 3}, 0.25).requires_grad_();
  auto t = tg::full({2, 3}, 0.5).requires_grad_();
  const Watch watch(x, t);
  check_refused([&] { return F::l1_loss(x, tg::ones<double>({3, 2})); }, "l1_loss: target shape [3, 2] differs from input shape [2, 3]",
                watch);
  check_refused([&] { return tg::nn::BCEWithLogitsLoss<double>()(x, tg::ones<double>({6})); },
                "binary_cross_entropy_with_logits: target shape [6] differs from input shape [2, 3]", watch);
  check_refused([&] { return F::mse_loss(x, t, F::MSELossFuncOptions().reduction("")); },
                "mse_loss: reduction must be \"mean\", \"sum\" or \"none\", got \"\"", watch);
  check_refused([] { return tg::nn::L1Loss(tg::nn::L1LossOptions().reduction("elementwise_mean")); },
                "l1_loss: reduction must be \"mean\", \"sum\" or \"none\", got \"elementwise_mean\"", watch);
  check_refused([&] { return F::binary_cross_entropy(x, t, F::BinaryCrossEntropyFuncOptions().weight(tg::ones<double>({2}))); },
                "binary_cross_entropy: weight shape [2] does not broadcast to input shape [2, 3]", watch);
  check_refused([&] { return F::binary_cross_entropy(x, t, F::BinaryCrossEntropyFuncOptions().weight(tg::ones<double>({2, 2, 3}))); },
                "binary_cross_entropy: weight shape [2, 2, 3] does not broadcast to input shape [2, 3]", watch);
  check_refused([&] { return F::binary_cross_entropy_with_logits(x, t, F::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(tg::ones<double>({4}))); },
                "binary_cross_entropy_with_logits: pos_weight shape [4] does not broadcast to input shape [2, 3]", watch);
  check_refused([&] { return tg::nn::BCEWithLogitsLoss<double>(tg::nn::BCEWithLogitsLossOptions().weight(tg::ones({3})))(x, t); },
                "binary_cross_entropy_with_logits: weight is a float tensor but the input is double", watch);
  check_refused([&] { return tg::nn::BCELoss<double>(tg::nn::BCELossOptions().reduction("sum"))(x * 5, t); },
                "binary_cross_entropy: all elements of input should be between 0 and 1, got 1.25 at index 0", watch);
  F::binary_cross_entropy_with_logits(x, t, F::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(tg::ones<double>({3}))).backward();
  CHECK(x.grad().defined());
  CHECK(t.grad().defined());
}
