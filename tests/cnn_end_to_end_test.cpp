// The network end to end against PyTorch in double (tools/gen_cnn_golden.py): Conv2d -
// BatchNorm2d - ReLU - MaxPool2d - Conv2d (stride 2, groups 2, a 3x2 kernel) - ReLU - Flatten -
// Linear - CrossEntropyLoss (label smoothing, an ignored target), loaded with PyTorch's
// parameters by their state_dict keys: the loss, the input's and every parameter's gradient,
// the running statistics, then SGD with Nesterov momentum under StepLR, step by step.
#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

tg::nn::Sequential<double> golden_network(const Golden& g, const std::string& prefix) {
  tg::nn::Sequential<double> model(tg::nn::Conv2d<double>(3, 4, 3, 1, 1), tg::nn::BatchNorm2d<double>(4), tg::nn::ReLU<double>(),
                                   tg::nn::MaxPool2d<double>(2),
                                   tg::nn::Conv2d<double>(tg::nn::Conv2dOptions(4, 6, {3, 2}).stride(2).padding({1, 0}).groups(2)),
                                   tg::nn::ReLU<double>(), tg::nn::Flatten<double>(), tg::nn::Linear<double>(6 * 2 * 2, 5));
  tg::nn::Module<double>::Named<tg::Tensor<double>> state;
  for (const auto& [key, value] : model.state_dict()) state.emplace_back(key, golden_tensor<double>(g, prefix + key));
  model.load_state_dict(state);
  return model;
}

// Every entry of the model's state dict against the golden's `prefix` + key.
void expect_state(const tg::nn::Sequential<double>& model, const Golden& g, const std::string& prefix, double rtol, double atol) {
  for (const auto& [key, value] : model.state_dict()) expect_golden(value, g, prefix + key, rtol, atol);
}

}  // namespace

TEST_CASE("conv - bn2d - relu - maxpool - conv - flatten - linear - cross-entropy matches PyTorch in double") {
  const Golden& g = golden_file("cnn_end_to_end.txt");
  tg::nn::Sequential<double> model = golden_network(g, "init.");
  auto x = golden_tensor<double>(g, "x").requires_grad_();
  const auto target = golden_tensor<double>(g, "target");
  tg::nn::CrossEntropyLoss<double> loss_fn(tg::nn::CrossEntropyLossOptions().ignore_index(1).label_smoothing(0.1));
  model.train();

  auto loss = loss_fn(model(x), target);
  loss.backward();
  expect_golden(loss, g, "loss", 1e-12, 1e-14);
  expect_golden(x.grad(), g, "grad.x", 1e-9, 1e-12);
  for (const auto& [key, p] : model.named_parameters()) expect_golden(p.grad(), g, "grad." + key, 1e-9, 1e-12);
  expect_state(model, g, "after_forward.", 1e-12, 1e-14);

  tg::optim::SGD<double> optimizer(model.parameters(), tg::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-3));
  tg::optim::StepLR<double> schedule(optimizer, 2, 0.5);
  optimizer.step();
  schedule.step();
  for (int step = 1; step <= 3; ++step) {
    optimizer.zero_grad();
    auto step_loss = loss_fn(model(x.detach()), target);
    step_loss.backward();
    optimizer.step();
    schedule.step();
    expect_golden(step_loss, g, "step" + std::to_string(step) + ".loss", 1e-9, 1e-12);
  }
  expect_state(model, g, "final.", 1e-9, 1e-12);
}
