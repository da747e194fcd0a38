// docs/API.md, written out: every call of the contract for the core, nn and optim, spelled as a
// user spells it. If this file stops compiling, the contract is broken.
#include <tapegrad/tapegrad.hpp>

#include "support/catch.hpp"

namespace tg = tapegrad;

TEST_CASE("docs/API.md: Tensor") {
  tg::Tensor<> undefined;
  CHECK_FALSE(undefined.defined());
  tg::Shape shape = {2, 3};
  auto x = tg::randn(shape);
  CHECK(x.shape() == shape);
  CHECK(x.dim() == 2);
  CHECK(x.numel() == 6);
  CHECK(x.size(-1) == 3);
  float* p = x.data();
  CHECK(p != nullptr);
  CHECK(x.to_vector().size() == 6);
  CHECK(tg::ones({1}).item() == 1.0f);
  auto w = tg::randn({3, 2}).requires_grad_();
  CHECK(w.requires_grad());
  auto y = x.matmul(w);
  CHECK(y.sum().requires_grad());
  y.sum().backward();
  CHECK(w.grad().defined());
  y.backward(tg::ones_like(y));
  CHECK(y.detach().requires_grad() == false);
  CHECK(x.sum(1).shape() == tg::Shape{2});
  CHECK(x.sum(-1, true).shape() == tg::Shape{2, 1});
  CHECK(x.mean().dim() == 0);
  CHECK(x.mean(0).shape() == tg::Shape{3});
  CHECK(x.var(1, true, false).shape() == tg::Shape{2});
  CHECK(x.max().dim() == 0);
  CHECK(x.max(1, true).shape() == tg::Shape{2, 1});
  CHECK(x.reshape({3, 2}).shape() == tg::Shape{3, 2});
  CHECK(x.unsqueeze(0).shape() == tg::Shape{1, 2, 3});
  CHECK(x.unsqueeze(0).squeeze(0).shape() == shape);
  CHECK(x.t().shape() == tg::Shape{3, 2});
  CHECK(x.transpose(0, 1).shape() == tg::Shape{3, 2});
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> m = x.matrix();
  CHECK(m.rows() == 2);
  x.uniform_(-1, 1).normal_(0, 1).bernoulli_(0.5);
}

TEST_CASE("docs/API.md: free functions") {
  tg::manual_seed(42);
  auto a = tg::zeros<double>({2, 2});
  auto b = tg::ones({2, 2});
  auto c = tg::empty({2});
  auto d = tg::full({2}, 3.0f);
  auto e = tg::randn<double>({4});
  auto f = tg::rand<float>({4});
  auto g = tg::tensor<float>({1, 2, 3, 4}, {2, 2});
  Eigen::MatrixXd em = Eigen::MatrixXd::Identity(2, 2);
  auto h = tg::from_eigen(em);
  auto s = g + b - g * b / b;
  s = -s;
  s = 1 + s + 1e-8 - 2 * s / 3 + s * 2.5;
  s = 1 / s;
  auto cmp = (g > b) + (g < b) + (g >= 1) + (2 <= g) + (g == b) + (g != 1.0);
  auto u = tg::exp(g) + tg::log(g) + tg::sqrt(g) + tg::abs(g) + tg::pow(g, 2) + tg::tanh(g) + tg::sigmoid(g) + tg::relu(g);
  auto sm = tg::softmax(g, 1) + tg::log_softmax(g, -1);
  auto mm = tg::matmul(g, b) + tg::matmul(tg::ones({3, 2, 2}), g).sum(0);
  auto r = tg::sum(g) + tg::mean(g) + tg::sum(g, 0, true).sum() + tg::mean(g, 1).sum();
  {
    tg::NoGradGuard no_grad;
    CHECK_FALSE((g * tg::ones({2, 2}).requires_grad_()).requires_grad());
  }
  CHECK(a.numel() + c.numel() + d.numel() + e.numel() + f.numel() + h.numel() + s.numel() + cmp.numel() + u.numel() +
            sm.numel() + mm.numel() + r.numel() ==
        4 + 2 + 2 + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 1);
}

TEST_CASE("docs/API.md: nn and optim, the demo as a user writes it") {
  tg::manual_seed(42);
  auto X = tg::randn({100, 10});
  auto y = (X.sum(1) > 0).unsqueeze(1);
  tg::nn::Sequential model(tg::nn::Linear(10, 20), tg::nn::BatchNorm1d(20), tg::nn::ReLU(),
                           tg::nn::Dropout(0.2), tg::nn::Linear(20, 1), tg::nn::Sigmoid());
  tg::optim::Adam optimizer(model.parameters(), 0.01);
  model.train();
  float first = 0, last = 0;
  for (int epoch = 0; epoch < 50; ++epoch) {
    auto p = model(X);
    auto loss = -tg::mean(y * tg::log(p + 1e-8) + (1 - y) * tg::log(1 - p + 1e-8));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    (epoch == 0 ? first : last) = loss.item();
  }
  CHECK(last < first / 5);

  tg::nn::Linear lin(10, 20, false);
  CHECK(lin.weight.shape() == tg::Shape{20, 10});
  CHECK_FALSE(lin.bias.defined());
  tg::nn::BatchNorm bn(4, 1e-5, 0.1);
  CHECK(bn.running_mean.numel() == 4);
  CHECK(bn.running_var.numel() == 4);
  tg::nn::Softmax softmax(-1);
  tg::nn::Sequential more;
  more.push_back(tg::nn::Linear(4, 4));
  more.push_back(softmax);
  CHECK(more.named_parameters().front().first == "0.weight");
  CHECK(model.named_buffers().size() == 3);
  CHECK(model.buffers().size() == 3);
  model.eval();
  CHECK_FALSE(model.is_training());
  model.zero_grad();
  tg::optim::Adam custom(model.parameters(), tg::optim::AdamOptions(0.01).betas({0.9, 0.99}).eps(1e-6).weight_decay(1e-4).amsgrad(true));
  std::vector<tg::Tensor<float>> grads;
  for (const auto& p : model.parameters()) grads.push_back(tg::zeros_like(p));
  custom.step(grads);
  custom.zero_grad();
}

TEST_CASE("docs/API.md: errors") {
  try {
    tg::matmul(tg::ones({100, 10}), tg::ones({20, 1}));
    FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "matmul: shapes [100, 10] and [20, 1] cannot be multiplied (10 != 20)");
  }
}

TEST_CASE("docs/API.md: higher-order gradients and hooks") {
  auto x = tg::tensor<double>({0.3, -1.2}, {2}).requires_grad_();
  auto y = (tg::tanh(x) * x).sum();
  auto dx = tg::autograd::grad({y}, {x}, {}, true, true)[0];   // differentiable
  auto ddx = tg::autograd::grad({dx.sum()}, {x})[0];            // second derivative
  // d/dx (x tanh x) = tanh x + x (1 - tanh^2 x); d2 = 2 (1 - tanh^2 x)(1 - x tanh x)
  for (int i = 0; i < 2; ++i) {
    const double v = x.data()[i], t = std::tanh(v);
    CHECK(std::abs(dx.data()[i] - (t + v * (1 - t * t))) < 1e-14);
    CHECK(std::abs(ddx.data()[i] - 2 * (1 - t * t) * (1 - v * t)) < 1e-14);
  }
  auto all = tg::autograd::grad(std::vector<tg::Tensor<double>>{y}, std::vector<tg::Tensor<double>>{x},
                                std::vector<tg::Tensor<double>>{}, std::nullopt, false, false);
  CHECK(all.size() == 1);
  auto z = (x * x).sum();
  z.backward({}, std::nullopt, false);
  z.backward(tg::scalar_tensor(1.0), true, true);
  const uint64_t handle = x.register_hook([](const tg::Tensor<double>& g) { return g * 2; });
  CHECK(x.remove_hook(handle));
  x.register_post_accumulate_grad_hook([](const tg::Tensor<double>& leaf) { CHECK(leaf.grad().defined()); });
  x.set_grad(tg::Tensor<double>());
  (x * 3).sum().backward();
  auto f = [](const tg::Tensor<double>& t) { return (t * t).sum(); };
  namespace fn = tg::autograd::functional;
  CHECK(fn::jacobian([](const tg::Tensor<double>& t) { return t * 2; }, x).shape() == tg::Shape{2, 2});
  CHECK(fn::hessian(f, x).shape() == tg::Shape{2, 2});
  CHECK(fn::vjp(f, x, tg::scalar_tensor(1.0)).second.shape() == tg::Shape{2});
  CHECK(fn::hvp(f, x, tg::ones<double>({2})).second.to_vector() == std::vector<double>{2, 2});
  CHECK(tg::testing::gradgradcheck([](const std::vector<tg::Tensor<double>>& in) { return tg::tanh(in[0]); }, {x}).ok);
}

#if __has_include(<nlohmann/json.hpp>)
TEST_CASE("docs/API.md: persistence") {
  tg::manual_seed(1);
  tg::nn::Sequential model(tg::nn::Linear(3, 4), tg::nn::BatchNorm1d(4), tg::nn::ReLU(), tg::nn::Linear(4, 1));
  auto sd = model.state_dict();
  CHECK(sd[0].first == "0.weight");
  CHECK(sd[6].first == "1.num_batches_tracked");
  model.load_state_dict(sd);
  model.load_state_dict(sd, true);
  const std::string path = "api_contract_test.model.safetensors";
  tg::save(model, path);
  tg::load(model, path);
  tg::optim::Adam optimizer(model.parameters(), 0.01);
  tg::save(optimizer, path);
  tg::load(optimizer, path);
  std::vector<std::pair<std::string, tg::Tensor<double>>> named = {{"a", tg::ones<double>({2})}};
  tg::save_tensors(named, path);
  CHECK(tg::load_tensors<double>(path)[0].first == "a");
  tg::Generator gen(5);
  gen.manual_seed(6);
  std::vector<uint8_t> bytes = gen.get_state();
  CHECK(bytes.size() == 5056);
  gen.set_state(bytes);
  CHECK(tg::default_generator().get_state().size() == 5056);
  std::remove(path.c_str());
}
#endif

TEST_CASE("docs/API.md: data") {
  auto x = tg::randn({10, 3});
  auto y = tg::randn({10, 1});
  tg::data::TensorDataset dataset(x, y);
  CHECK(dataset.size() == 10);
  auto example = dataset.get(2);
  CHECK(example.x.shape() == tg::Shape{3});
  tg::data::DataLoader loader(dataset, 4, true, false);
  int64_t rows = 0;
  for (auto [bx, by] : loader) rows += bx.size(0) + 0 * by.size(0);
  CHECK(rows == 10);
  tg::Generator g(0);
  tg::data::DataLoader seeded(dataset, 4, true, true, g);
  int batches = 0;
  for (const auto& batch : seeded) batches += batch.x.size(0) == 4;
  CHECK(batches == 2);
}

TEST_CASE("docs/API.md: more layers, losses, optimizers") {
  namespace F = tg::nn::functional;
  tg::manual_seed(0);
  auto x = tg::randn({2, 3, 8, 8});
  tg::nn::Conv2d conv(3, 4, 3, 1, 1, 1, 1, true);
  tg::nn::Conv2d conv_options(tg::nn::Conv2dOptions(3, 4, {3, 2}).stride(2).padding({1, 0}).dilation(1).groups(1).bias(false));
  CHECK(conv.weight.shape() == tg::Shape{4, 3, 3, 3});
  CHECK(conv.bias.shape() == tg::Shape{4});
  CHECK(conv(x).shape() == tg::Shape{2, 4, 8, 8});
  CHECK(conv_options(x).dim() == 4);
  CHECK(F::conv2d(x, conv.weight, conv.bias).shape() == tg::Shape{2, 4, 6, 6});
  tg::nn::MaxPool2d square_pool(2);
  tg::nn::MaxPool2d pool({3, 2});
  tg::nn::MaxPool2d pool_all(2, 2, 0, 1, false);
  tg::nn::AvgPool2d avg(2, 2, 0, false, true);
  tg::nn::AdaptiveAvgPool2d adaptive(1);
  CHECK(square_pool(x).shape() == tg::Shape{2, 3, 4, 4});
  CHECK(pool(x).shape() == tg::Shape{2, 3, 2, 4});
  CHECK(pool_all(x).shape() == avg(x).shape());
  CHECK(adaptive(x).shape() == tg::Shape{2, 3, 1, 1});
  CHECK(F::max_pool2d(x, 2).shape() == F::avg_pool2d(x, 2).shape());
  CHECK(F::adaptive_avg_pool2d(x, {2, 2}).shape() == tg::Shape{2, 3, 2, 2});
  tg::nn::BatchNorm2d bn(3, 1e-5, 0.1);
  CHECK(bn(x).shape() == x.shape());
  tg::nn::Flatten flatten(1, -1);
  CHECK(flatten(x).shape() == tg::Shape{2, 192});
  tg::nn::Sequential activations(tg::nn::LeakyReLU(0.01), tg::nn::Tanh(), tg::nn::GELU("tanh"), tg::nn::GELU(), tg::nn::SiLU(),
                                 tg::nn::LogSoftmax(-1));
  CHECK(activations(x).shape() == x.shape());

  auto logits = tg::randn({4, 5}).requires_grad_();
  auto classes = tg::tensor<float>({0, 4, 2, 1}, {4});
  auto probabilities = tg::softmax(tg::randn({4, 5}), 1);
  tg::nn::CrossEntropyLoss cross_entropy(tg::nn::CrossEntropyLossOptions().ignore_index(1).label_smoothing(0.1).reduction("sum"));
  tg::nn::CrossEntropyLoss weighted(tg::nn::CrossEntropyLossOptions().weight(tg::ones({5})));
  CHECK(cross_entropy(logits, classes).dim() == 0);
  CHECK(tg::nn::CrossEntropyLoss()(logits, probabilities).dim() == 0);
  CHECK(weighted(logits, classes).dim() == 0);
  CHECK(tg::nn::NLLLoss()(tg::log_softmax(logits, 1), classes).dim() == 0);
  CHECK(F::cross_entropy(logits, classes).dim() == 0);
  CHECK(F::nll_loss(tg::log_softmax(logits, 1), classes).dim() == 0);
  auto p = tg::sigmoid(tg::randn({4, 5}));
  auto t = tg::rand({4, 5});
  CHECK(tg::nn::MSELoss()(p, t).dim() == 0);
  CHECK(tg::nn::L1Loss()(p, t).dim() == 0);
  CHECK(tg::nn::BCELoss()(p, t).dim() == 0);
  CHECK(tg::nn::BCEWithLogitsLoss(tg::nn::BCEWithLogitsLossOptions().pos_weight(tg::ones({5})))(logits, t).dim() == 0);
  CHECK(F::binary_cross_entropy_with_logits(logits, t).dim() == 0);
  CHECK(tg::nn::MSELoss(tg::nn::MSELossOptions().reduction("none"))(p, t).shape() == p.shape());

  auto params = conv.parameters();
  tg::optim::SGD sgd(params, tg::optim::SGDOptions(0.1).momentum(0.9).dampening(0).nesterov(true).weight_decay(1e-4));
  tg::optim::AdamW adamw(params, tg::optim::AdamWOptions(1e-3).betas({0.9, 0.999}).eps(1e-8).weight_decay(1e-2));
  tg::optim::StepLR step_lr(sgd, 2, 0.1);
  tg::optim::CosineAnnealingLR cosine(adamw, 10, 0);
  conv(x).sum().backward();
  sgd.step();
  step_lr.step();
  step_lr.step();
  CHECK(sgd.lr() == Approx(0.01));
  adamw.step();
  cosine.step();
  CHECK(adamw.lr() < 1e-3);
  sgd.set_lr(0.5);
  CHECK(sgd.lr() == 0.5);
  const double norm = tg::nn::utils::clip_grad_norm_(params, 1.0);
  CHECK(norm > 0);

  auto w = tg::empty({4, 3, 3, 3});
  tg::nn::init::uniform_(w, 0, 1);
  tg::nn::init::normal_(w, 0, 1);
  tg::nn::init::zeros_(w);
  tg::nn::init::ones_(w);
  tg::nn::init::xavier_uniform_(w, 1);
  tg::nn::init::xavier_normal_(w);
  tg::nn::init::kaiming_uniform_(w, 0, "fan_in", "leaky_relu");
  tg::nn::init::kaiming_normal_(w);
  CHECK(w.shape() == tg::Shape{4, 3, 3, 3});
}
