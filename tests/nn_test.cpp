// nn: Module mechanics (registries, keys, train/eval, zero_grad, Sequential), the layers and
// losses against PyTorch's numbers (tests/golden/nn_*.txt, written by tools/gen_nn_golden.py),
// and a whole training run followed epoch by epoch.
#include <memory>
#include <string>
#include <type_traits>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

// Copies golden values into an existing tensor (a module's registered parameter keeps its handle).
template <class T>
void assign(tg::Tensor<T>& target, const GoldenTensor& values) {
  REQUIRE(target.shape() == values.shape);
  for (size_t i = 0; i < values.values.size(); ++i) target.data()[i] = static_cast<T>(values.values[i]);
}

template <class T>
std::vector<std::string> keys(const std::vector<std::pair<std::string, T>>& named) {
  std::vector<std::string> out;
  for (const auto& entry : named) out.push_back(entry.first);
  return out;
}

// Every module of the tree under `m` (itself included) is in training mode `on`.
template <class T>
bool all_in_mode(const tg::nn::Module<T>& m, bool on) {
  if (m.is_training() != on) return false;
  for (const auto& child : m.named_children()) {
    if (!all_in_mode(*child.second, on)) return false;
  }
  return true;
}

// Tolerances of the golden comparisons: float rounding in float runs, summation order in double.
template <class T>
struct Tol {
  static constexpr double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-7;
  static constexpr double atol = std::is_same_v<T, float> ? 1e-6 : 1e-12;
};

}  // namespace

// ---- module mechanics ---------------------------------------------------------------------

TEST_CASE("the demo's Sequential has PyTorch's parameter and buffer keys, in order") {
  tg::nn::Sequential model(tg::nn::Linear(10, 20), tg::nn::BatchNorm1d(20), tg::nn::ReLU(), tg::nn::Dropout(0.2),
                           tg::nn::Linear(20, 1), tg::nn::Sigmoid());
  static_assert(std::is_same_v<decltype(model), tg::nn::Sequential<float>>, "Sequential deduces float");
  CHECK(model.size() == 6);
  const auto named = model.named_parameters();
  CHECK(keys(named) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"});
  CHECK(named[0].second.shape() == tg::Shape{20, 10});
  CHECK(named[1].second.shape() == tg::Shape{20});
  CHECK(named[4].second.shape() == tg::Shape{1, 20});
  for (const auto& p : named) CHECK(p.second.requires_grad());

  // parameters() is named_parameters() without the names: the same tensors, in the same order
  const auto params = model.parameters();
  REQUIRE(params.size() == named.size());
  for (size_t i = 0; i < params.size(); ++i) CHECK(params[i].impl() == named[i].second.impl());
  auto& linear0 = dynamic_cast<tg::nn::Linear<float>&>(model[0]);
  CHECK(params[0].impl() == linear0.weight.impl());
  CHECK(params[1].impl() == linear0.bias.impl());

  const auto buffers = model.named_buffers();
  CHECK(keys(buffers) == std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"});
  CHECK(model.buffers().size() == 3);
  auto& bn = dynamic_cast<tg::nn::BatchNorm1d<float>&>(model[1]);
  CHECK(buffers[0].second.impl() == bn.running_mean.impl());
  CHECK(buffers[2].second.shape() == tg::Shape{});
  CHECK(buffers[2].second.item() == 0.0f);
  for (const auto& b : buffers) CHECK(!b.second.requires_grad());
}

TEST_CASE("train() and eval() reach every child, nested Sequential included") {
  using S = tg::nn::Sequential<double>;
  S model(tg::nn::Linear<double>(4, 8), S(tg::nn::BatchNorm1d<double>(8), tg::nn::ReLU<double>(), tg::nn::Dropout<double>(0.5)),
          tg::nn::Linear<double>(8, 2));
  CHECK(keys(model.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.0.weight", "1.0.bias", "2.weight", "2.bias"});
  CHECK(keys(model.named_buffers()) ==
        std::vector<std::string>{"1.0.running_mean", "1.0.running_var", "1.0.num_batches_tracked"});
  CHECK(all_in_mode(model, true));

  model.eval();
  CHECK(all_in_mode(model, false));
  auto& inner = dynamic_cast<S&>(model[1]);
  CHECK(!inner[2].is_training());
  // in eval the dropout draws nothing and batch norm uses (and keeps) its running statistics
  tg::manual_seed(1);
  auto x = tg::randn<double>({5, 4});
  const uint64_t offset = tg::default_generator().offset();
  auto y1 = model(x), y2 = model(x);
  CHECK(tg::default_generator().offset() == offset);
  CHECK(y1.to_vector() == y2.to_vector());
  auto& bn = dynamic_cast<tg::nn::BatchNorm1d<double>&>(inner[0]);
  CHECK(bn.num_batches_tracked.item() == 0.0);
  for (double v : bn.running_mean.to_vector()) CHECK(v == 0.0);

  model.train();
  CHECK(all_in_mode(model, true));
  model(x);
  CHECK(tg::default_generator().offset() > offset);  // the dropout mask was drawn
  CHECK(bn.num_batches_tracked.item() == 1.0);

  inner.eval();  // a child alone
  CHECK(model.is_training());
  CHECK(!bn.is_training());
  CHECK(!inner[2].is_training());
  CHECK(model[0].is_training());
}

TEST_CASE("zero_grad forgets every parameter's gradient") {
  tg::manual_seed(3);
  tg::nn::Sequential<double> model(tg::nn::Linear<double>(3, 4), tg::nn::BatchNorm1d<double>(4), tg::nn::Sigmoid<double>(),
                                   tg::nn::Linear<double>(4, 1));
  auto x = tg::randn<double>({6, 3});
  model(x).sum().backward();
  for (const auto& p : model.parameters()) CHECK(p.grad().defined());
  const auto first = model.parameters()[0].grad().to_vector();
  model(x).sum().backward();  // gradients accumulate until zero_grad
  const auto twice = model.parameters()[0].grad().to_vector();
  for (size_t i = 0; i < first.size(); ++i) CHECK(twice[i] == Approx(2 * first[i]).epsilon(1e-12).margin(1e-14));
  model.zero_grad();
  for (const auto& p : model.parameters()) CHECK(!p.grad().defined());
  model(x).sum().backward();
  const auto again = model.parameters()[0].grad().to_vector();
  for (size_t i = 0; i < first.size(); ++i) CHECK(again[i] == Approx(first[i]).epsilon(1e-12).margin(1e-14));
}

namespace {

// A Sequential built step by step and returned by value.
tg::nn::Sequential<double> make_mlp(tg::nn::Linear<double>& head) {
  tg::nn::Sequential<double> s;
  s.push_back(tg::nn::Linear<double>(3, 5));
  s.push_back(tg::nn::ReLU<double>());
  s.push_back(head);  // an lvalue is copied in; the copy shares head's parameters
  s.push_back(std::make_shared<tg::nn::Sigmoid<double>>());
  return s;
}

}  // namespace

TEST_CASE("Sequential: push_back, copies and return by value share the parameters") {
  tg::manual_seed(5);
  tg::nn::Linear<double> head(5, 1);
  tg::nn::Sequential<double> model = make_mlp(head);
  CHECK(model.size() == 4);
  CHECK(keys(model.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(model.parameters()[2].impl() == head.weight.impl());

  auto x = tg::randn<double>({7, 3});
  auto y = model(x);
  REQUIRE(y.shape() == tg::Shape{7, 1});
  const auto& l0 = dynamic_cast<const tg::nn::Linear<double>&>(model[0]);
  auto expected = tg::sigmoid(tg::nn::functional::linear(tg::relu(tg::nn::functional::linear(x, l0.weight, l0.bias)),
                                                         head.weight, head.bias));
  check_close(y, expected, 1e-14);

  // a copy is another handle on the same modules (as libtorch's module holders are)
  tg::nn::Sequential<double> copy = model;
  CHECK(copy.parameters()[0].impl() == model.parameters()[0].impl());
  head.weight.data()[0] += 1.0;
  check_close(copy(x), model(x), 0.0);
  copy.eval();
  CHECK(model.is_training());       // the copy's own flag changed,
  CHECK(!model[0].is_training());   // the children are shared
}

namespace {

// A user-defined module: children and its own parameter and buffer registered by hand.
struct ScaledMlp : tg::nn::Module<double> {
  ScaledMlp() {
    fc1 = register_module("fc1", tg::nn::Linear<double>(3, 4));
    fc2 = register_module("fc2", tg::nn::Linear<double>(4, 2));
    scale = register_parameter("scale", tg::full<double>({2}, 0.5));
    calls = register_buffer("calls", tg::zeros<double>({}));
  }
  tg::Tensor<double> forward(const tg::Tensor<double>& x) override {
    calls.data()[0] += 1;
    return fc2->forward(tg::relu(fc1->forward(x))) * scale;
  }
  std::shared_ptr<tg::nn::Linear<double>> fc1, fc2;
  tg::Tensor<double> scale, calls;
};

}  // namespace

TEST_CASE("a Module subclass with register_parameter, register_buffer and register_module") {
  tg::manual_seed(9);
  ScaledMlp m;
  // as in PyTorch: the module's own entries first, then each child's, whatever the
  // registration order
  CHECK(keys(m.named_parameters()) ==
        std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(keys(m.named_buffers()) == std::vector<std::string>{"calls"});
  CHECK(m.scale.requires_grad());
  CHECK(m.parameters()[1].impl() == m.fc1->weight.impl());
  CHECK(m.named_children().size() == 2);

  auto x = tg::randn<double>({4, 3});
  m(x).sum().backward();
  CHECK(m.calls.item() == 1.0);
  for (const auto& p : m.named_parameters()) {
    INFO(p.first);
    CHECK(p.second.grad().defined());
  }
  m.eval();
  CHECK(!m.fc1->is_training());
  CHECK(!m.fc2->is_training());
  m.zero_grad();
  CHECK(!m.fc1->weight.grad().defined());

  // it nests like any other module
  tg::nn::Sequential<double> outer(tg::nn::Linear<double>(3, 3), m);
  CHECK(keys(outer.named_parameters())[2] == "1.scale");
  CHECK(keys(outer.named_parameters())[3] == "1.fc1.weight");
  CHECK(keys(outer.named_buffers()) == std::vector<std::string>{"1.calls"});
}

// ---- golden: Linear -----------------------------------------------------------------------

namespace {

struct LinearCase {
  uint64_t seed;
  int64_t in, out;
  bool bias;
  std::string name;
};

template <class T>
void check_linear(const LinearCase& c) {
  const Golden& g = golden_file("nn_linear.txt");
  const std::string p = c.name + "." + dtype_tag<T>();
  INFO("case " << p);
  tg::manual_seed(c.seed);
  tg::nn::Linear<T> lin(c.in, c.out, c.bias);
  // the initial draws are PyTorch's, bit for bit
  expect_golden(lin.weight, g, p + ".weight", 0, 0);
  if (c.bias) {
    expect_golden(lin.bias, g, p + ".bias", 0, 0);
  } else {
    CHECK(!lin.bias.defined());
    CHECK(lin.parameters().size() == 1);
  }
  for (const std::string& k : std::vector<std::string>{"2", "3"}) {
    auto x = golden_tensor<T>(g, p + ".x" + k).requires_grad_();
    lin.zero_grad();
    auto y = lin(x);
    y.backward(golden_tensor<T>(g, p + ".gout" + k));
    expect_golden(y, g, p + ".y" + k, Tol<T>::rtol, Tol<T>::atol);
    expect_golden(x.grad(), g, p + ".gx" + k, Tol<T>::rtol, Tol<T>::atol);
    expect_golden(lin.weight.grad(), g, p + ".gw" + k, Tol<T>::rtol, Tol<T>::atol);
    if (c.bias) expect_golden(lin.bias.grad(), g, p + ".gb" + k, Tol<T>::rtol, Tol<T>::atol);
  }
}

const LinearCase kLinearCases[] = {
    {0, 5, 3, true, "lin5x3s0"}, {3, 7, 4, true, "lin7x4s3"}, {11, 6, 2, false, "lin6x2s11_nobias"}};

}  // namespace

TEST_CASE("golden: Linear init, forward and grads for 2-D and 3-D input, float") {
  for (const auto& c : kLinearCases) check_linear<float>(c);
}

TEST_CASE("golden: Linear init, forward and grads for 2-D and 3-D input, double") {
  for (const auto& c : kLinearCases) check_linear<double>(c);
}

// ---- golden: BatchNorm1d ------------------------------------------------------------------

namespace {

template <class T>
void check_batchnorm(const std::string& name, double eps, double momentum) {
  const Golden& g = golden_file("nn_batchnorm.txt");
  const std::string p = name + "." + dtype_tag<T>();
  INFO("case " << p);
  const double rtol = Tol<T>::rtol, atol = Tol<T>::atol;
  const auto& w0 = golden_entry(g, p + ".weight");
  tg::nn::BatchNorm1d<T> bn(w0.shape[0], eps, momentum);
  assign(bn.weight, w0);
  assign(bn.bias, golden_entry(g, p + ".bias"));
  // bn on the input x<k>, backward from g<k>: the output y<k> and the gradients gx<k>, gw<k>, gb<k>
  const auto check_call = [&](const std::string& k) {
    auto x = golden_tensor<T>(g, p + ".x" + k).requires_grad_();
    auto y = bn(x);
    y.backward(golden_tensor<T>(g, p + ".g" + k));
    expect_golden(y, g, p + ".y" + k, rtol, atol);
    expect_golden(x.grad(), g, p + ".gx" + k, rtol, atol);
    expect_golden(bn.weight.grad(), g, p + ".gw" + k, rtol, atol);
    expect_golden(bn.bias.grad(), g, p + ".gb" + k, rtol, atol);
  };

  // training: batch statistics, gradients through them
  check_call("1");
  expect_golden(bn(golden_tensor<T>(g, p + ".x2")), g, p + ".y2", rtol, atol);
  expect_golden(bn.running_mean, g, p + ".running_mean", rtol, atol);
  expect_golden(bn.running_var, g, p + ".running_var", rtol, atol);
  expect_golden(bn.num_batches_tracked, g, p + ".num_batches_tracked", 0, 0);

  // eval: the running statistics are constants
  bn.eval();
  bn.zero_grad();
  check_call("e");
  // eval calls leave the statistics alone
  expect_golden(bn.running_mean, g, p + ".running_mean", rtol, atol);
  expect_golden(bn.num_batches_tracked, g, p + ".num_batches_tracked", 0, 0);
}

}  // namespace

TEST_CASE("golden: BatchNorm1d on (N, C), training and eval, double") { check_batchnorm<double>("bn2d", 1e-5, 0.1); }
TEST_CASE("golden: BatchNorm1d on (N, C, L), training and eval, double") { check_batchnorm<double>("bn3d", 1e-3, 0.25); }
TEST_CASE("golden: BatchNorm1d on (N, C), training and eval, float") { check_batchnorm<float>("bn2d", 1e-5, 0.1); }
TEST_CASE("golden: BatchNorm1d on (N, C, L), training and eval, float") { check_batchnorm<float>("bn3d", 1e-3, 0.25); }

// ---- golden: Dropout ----------------------------------------------------------------------

namespace {

template <class T>
void check_dropout(uint64_t seed, double p_drop, const std::string& name) {
  const Golden& g = golden_file("nn_dropout.txt");
  const std::string p = name + "." + dtype_tag<T>();
  INFO("case " << p);
  // the mask is PyTorch's draw for draw; the kept values are x * (1 / (1 - p)) rounded alike
  const double rtol = std::is_same_v<T, float> ? 1e-7 : 1e-15;
  auto x = golden_tensor<T>(g, p + ".x").requires_grad_();
  tg::manual_seed(seed);
  auto y1 = tg::nn::functional::dropout(x, p_drop, true);
  auto y2 = tg::nn::functional::dropout(x, p_drop, true);  // the stream goes on
  y1.sum().backward();
  expect_golden(y1, g, p + ".y1", rtol, 0);
  expect_golden(y2, g, p + ".y2", rtol, 0);
  expect_golden(x.grad(), g, p + ".gx1", rtol, 0);

  // the module draws the same masks in training and is the identity in eval
  tg::nn::Dropout<T> module(p_drop);
  tg::manual_seed(seed);
  expect_golden(module(x), g, p + ".y1", rtol, 0);
  expect_golden(module(x), g, p + ".y2", rtol, 0);
  module.eval();
  check_close(module(x), x, 0.0);
}

}  // namespace

TEST_CASE("golden: dropout masks follow PyTorch's stream, float") {
  check_dropout<float>(0, 0.3, "d0_p0.3");
  check_dropout<float>(5, 0.5, "d5_p0.5");
  check_dropout<float>(9, 0.2, "d9_p0.2");
  check_dropout<float>(1, 0.0, "d1_p0.0");
  check_dropout<float>(2, 1.0, "d2_p1.0");
}

TEST_CASE("golden: dropout masks follow PyTorch's stream, double") {
  check_dropout<double>(0, 0.3, "d0_p0.3");
  check_dropout<double>(5, 0.5, "d5_p0.5");
  check_dropout<double>(9, 0.2, "d9_p0.2");
  check_dropout<double>(1, 0.0, "d1_p0.0");
  check_dropout<double>(2, 1.0, "d2_p1.0");
}

// ---- golden: losses -----------------------------------------------------------------------

namespace {

template <class T>
void check_losses() {
  const Golden& g = golden_file("nn_loss.txt");
  const double rtol = std::is_same_v<T, float> ? 1e-5 : 1e-12, atol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  const std::string t = dtype_tag<T>();
  {  // p exactly 0 and 1 at some elements: each log is clamped at -100
    auto p = golden_tensor<T>(g, "bce." + t + ".p").requires_grad_();
    auto loss = tg::nn::BCELoss<T>()(p, golden_tensor<T>(g, "bce." + t + ".t"));
    loss.backward();
    expect_golden(loss, g, "bce." + t + ".loss", rtol, atol);
    expect_golden(p.grad(), g, "bce." + t + ".gp", rtol, atol);
  }
  {
    auto p = golden_tensor<T>(g, "bce_interior." + t + ".p").requires_grad_();
    auto target = golden_tensor<T>(g, "bce_interior." + t + ".t").requires_grad_();
    auto loss = tg::nn::functional::binary_cross_entropy(p, target);
    loss.backward();
    expect_golden(loss, g, "bce_interior." + t + ".loss", rtol, atol);
    expect_golden(p.grad(), g, "bce_interior." + t + ".gp", rtol, atol);
    expect_golden(target.grad(), g, "bce_interior." + t + ".gt", rtol, atol);
  }
  {
    auto x = golden_tensor<T>(g, "mse." + t + ".x").requires_grad_();
    auto target = golden_tensor<T>(g, "mse." + t + ".t").requires_grad_();
    auto loss = tg::nn::MSELoss<T>()(x, target);
    loss.backward();
    expect_golden(loss, g, "mse." + t + ".loss", rtol, atol);
    expect_golden(x.grad(), g, "mse." + t + ".gx", rtol, atol);
    expect_golden(target.grad(), g, "mse." + t + ".gt", rtol, atol);
  }
}

}  // namespace

TEST_CASE("golden: BCELoss (with the -100 log clamp) and MSELoss, float") { check_losses<float>(); }
TEST_CASE("golden: BCELoss (with the -100 log clamp) and MSELoss, double") { check_losses<double>(); }

// ---- golden: Sequential initialisation ----------------------------------------------------

TEST_CASE("golden: Sequential of temporaries draws PyTorch's weights in argument order") {
  const Golden& g = golden_file("nn_sequential.txt");
  tg::manual_seed(42);
  auto X = tg::randn({100, 10});
  expect_golden(X, g, "demo42.X", 1e-6, 1e-6);
  tg::nn::Sequential model(tg::nn::Linear(10, 20), tg::nn::BatchNorm1d(20), tg::nn::ReLU(), tg::nn::Dropout(0.2),
                           tg::nn::Linear(20, 1), tg::nn::Sigmoid());
  for (const auto& p : model.named_parameters()) expect_golden(p.second, g, "demo42." + p.first, 0, 0);

  // nested: the inner Sequential's Linear draws between the outer two
  tg::manual_seed(3);
  using S = tg::nn::Sequential<float>;
  S nested(tg::nn::Linear(4, 8), S(tg::nn::BatchNorm1d(8), tg::nn::ReLU(), tg::nn::Linear(8, 8)), tg::nn::Linear(8, 2));
  const auto named = nested.named_parameters();
  CHECK(keys(named) == std::vector<std::string>{"0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.2.weight",
                                                "1.2.bias", "2.weight", "2.bias"});
  for (const auto& p : named) expect_golden(p.second, g, "nested3." + p.first, 0, 0);
  // what PyTorch draws next comes after all of them
  expect_golden(tg::rand({3}), g, "nested3.next_rand", 0, 0);

  // modules made one by one as named variables draw in statement order and stay shared
  tg::manual_seed(42);
  tg::randn({100, 10});
  tg::nn::Linear first(10, 20);
  tg::nn::Linear second(20, 1);
  tg::nn::Sequential held(first, tg::nn::BatchNorm1d(20), tg::nn::ReLU(), tg::nn::Dropout(0.2), second,
                          tg::nn::Sigmoid());
  CHECK(held.parameters()[0].impl() == first.weight.impl());
  for (const auto& p : held.named_parameters()) expect_golden(p.second, g, "demo42." + p.first, 0, 0);
}

// ---- golden: a whole training run ---------------------------------------------------------

TEST_CASE("golden: a 40-epoch training run follows PyTorch epoch by epoch") {
  const Golden& g = golden_file("nn_training.txt");
  tg::manual_seed(7);
  auto X = tg::randn({64, 6});  // X: (64, 6)
  expect_golden(X, g, "train7.X", 1e-6, 1e-6);
  auto y = (X.narrow(1, 0, 1) * X.narrow(1, 1, 1) > 0);  // y: (64, 1)
  expect_golden(y, g, "train7.y", 0, 0);

  tg::nn::Sequential model(tg::nn::Linear(6, 16), tg::nn::BatchNorm1d(16), tg::nn::ReLU(), tg::nn::Dropout(0.3),
                           tg::nn::Linear(16, 8), tg::nn::ReLU(), tg::nn::Linear(8, 1), tg::nn::Sigmoid());
  for (const auto& p : model.named_parameters()) expect_golden(p.second, g, "train7.init." + p.first, 0, 0);

  tg::optim::Adam optimizer(model.parameters(), tg::optim::AdamOptions(0.02).betas({0.85, 0.995}).weight_decay(1e-3));
  const GoldenTensor& losses = golden_entry(g, "train7.loss");
  REQUIRE(losses.values.size() == 40);
  model.train();
  std::vector<float> seen;
  for (int epoch = 0; epoch < 40; ++epoch) {
    auto p = model(X);
    auto loss = -tg::mean(y * tg::log(p + 1e-8) + (1 - y) * tg::log(1 - p + 1e-8));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    INFO("epoch " << epoch << ": tapegrad " << loss.item() << ", PyTorch " << losses.values[epoch]);
    CHECK(std::abs(loss.item() - losses.values[epoch]) <= 2e-4);
    seen.push_back(loss.item());
  }
  expect_golden(tg::tensor<float>(seen, {40}), g, "train7.loss", 0, 2e-4);
  // The end state. "0.bias" feeds BatchNorm, which subtracts it again: its gradient is zero up
  // to rounding, and Adam turns that rounding noise into steps, on both sides; it and what it
  // reaches (running_mean, eval outputs) can only agree loosely.
  for (const auto& p : model.named_parameters()) {
    expect_golden(p.second, g, "train7.final." + p.first, 0, p.first == "0.bias" ? 1e-3 : 1e-5);
  }
  for (const auto& b : model.named_buffers()) expect_golden(b.second, g, "train7.final." + b.first, 0, 1e-4);
  model.eval();
  expect_golden(model(X.narrow(0, 0, 8)), g, "train7.eval_pred", 0, 1e-4);
}
