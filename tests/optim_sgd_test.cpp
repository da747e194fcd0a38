// optim::SGD against torch.optim.SGD step by step (plain, momentum, dampening, Nesterov, weight
// decay, maximize; tests/golden/optim.txt from tools/gen_optim_golden.py), the schedules
// StepLR and CosineAnnealingLR against torch.optim.lr_scheduler, option checks.
#include <string>

#include "support/optim_problem.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;
using tg::optim::SGDOptions;

namespace {

// The configurations of gen_optim_golden.py's sgd.<cfg>.
SGDOptions sgd_options(const std::string& cfg) {
  if (cfg == "plain") return SGDOptions(0.1);
  if (cfg == "momentum") return SGDOptions(0.05).momentum(0.9);
  if (cfg == "dampening") return SGDOptions(0.05).momentum(0.9).dampening(0.3);
  if (cfg == "nesterov") return SGDOptions(0.05).momentum(0.9).nesterov(true);
  if (cfg == "decay") return SGDOptions(0.1).momentum(0.5).weight_decay(0.05);
  if (cfg == "maximize") return SGDOptions(0.1).momentum(0.9).weight_decay(0.01).maximize(true);
  FAIL("no configuration " << cfg);
  return SGDOptions(0);
}

const char* const kConfigs[] = {"plain", "momentum", "dampening", "nesterov", "decay", "maximize"};

// Double: PyTorch's add(alpha) is a fused multiply-add, which tapegrad's double path uses only
// where the build has the fma instruction: a few ulps over 20 steps. Float: the same rounding
// as PyTorch's (the fused multiply-add through double), so the same bits.
template <class T>
constexpr double kRtol = std::is_same_v<T, float> ? 0 : 1e-13;

template <class T>
void check_config(const std::string& cfg) {
  INFO("sgd." << cfg << "." << dtype_tag<T>());
  Bowl<T> pb;
  tg::optim::SGD<T> opt(pb.params(), sgd_options(cfg));
  check_bowl_trajectory("sgd." + cfg, opt, pb, kRtol<T>, 0, cfg == "maximize");
}

}  // namespace

TEST_CASE("SGDOptions: PyTorch's defaults and chained setters") {
  const SGDOptions defaults(0.5);
  CHECK(defaults.lr() == 0.5);
  CHECK(defaults.momentum() == 0);
  CHECK(defaults.dampening() == 0);
  CHECK(defaults.weight_decay() == 0);
  CHECK(!defaults.nesterov());
  CHECK(!defaults.maximize());
  const auto o = SGDOptions(0.1).momentum(0.9).dampening(0.2).weight_decay(1e-4).nesterov(true).maximize(true);
  CHECK(o.momentum() == 0.9);
  CHECK(o.dampening() == 0.2);
  CHECK(o.weight_decay() == 1e-4);
  CHECK(o.nesterov());
  CHECK(o.maximize());
  tg::optim::SGD<double> opt({tg::zeros<double>({2})}, 0.25);
  CHECK(opt.lr() == 0.25);
  opt.set_lr(0.125);
  CHECK(opt.lr() == 0.125);
  CHECK(opt.options().lr() == 0.125);
  tg::optim::Optimizer<double>& base = opt;  // the scheduler's view
  base.set_lr(0.5);
  CHECK(base.lr() == 0.5);
  CHECK(std::string(base.name()) == "SGD");
}

TEST_CASE("golden: SGD trajectories, double") {
  for (const char* cfg : kConfigs) check_config<double>(cfg);
}

TEST_CASE("golden: SGD trajectories, float, bit for bit") {
  for (const char* cfg : kConfigs) check_config<float>(cfg);
}

TEST_CASE("SGD: the momentum buffer starts as a copy of the first gradient") {
  Bowl<double> pb;
  tg::optim::SGD<double> opt(pb.params(), SGDOptions(0.1).momentum(0.9).dampening(0.5));
  CHECK(opt.state_dict().tensors.empty());
  const auto g = pb.grads();
  opt.step(g);
  const auto state = opt.state_dict();
  REQUIRE(state.tensors.size() == 2);
  CHECK(state.tensors[0].first == "0.momentum_buffer");
  CHECK(state.tensors[1].first == "1.momentum_buffer");
  // not dampened: torch.clone(d_p)
  CHECK(state.tensors[0].second.to_vector() == g[0].to_vector());
  CHECK(state.tensors[1].second.to_vector() == g[1].to_vector());
  // without momentum there is no buffer
  Bowl<double> plain;
  tg::optim::SGD<double> no_momentum(plain.params(), 0.1);
  no_momentum.step(plain.grads());
  CHECK(no_momentum.state_dict().tensors.empty());
}

TEST_CASE("SGD: step(grads) is step() with the gradients given explicitly, missing gradients skip") {
  Bowl<double> by_grad, by_list;
  tg::optim::SGD<double> a(by_grad.params(), sgd_options("nesterov"));
  tg::optim::SGD<double> b(by_list.params(), sgd_options("nesterov"));
  for (int k = 0; k < 5; ++k) {
    by_grad.set_grads();
    a.step();
    b.step(by_list.grads());
    CHECK(by_grad.W.to_vector() == by_list.W.to_vector());
    CHECK(by_grad.b.to_vector() == by_list.b.to_vector());
  }
  // only W has a gradient: b keeps its values
  const auto b_before = by_grad.b.to_vector(), W_before = by_grad.W.to_vector();
  a.zero_grad();
  by_grad.W.set_grad(by_grad.grads()[0]);
  a.step();
  CHECK(by_grad.b.to_vector() == b_before);
  CHECK(by_grad.W.to_vector() != W_before);
}

TEST_CASE("SGD: invalid options throw with exact messages, and a bad step changes nothing") {
  std::vector<tg::Tensor<double>> params{tg::zeros<double>({3}).requires_grad_()};
  using tg::optim::SGD;
  CHECK_THROWS_WITH(SGD<double>(params, -0.1), "SGD: invalid learning rate: -0.1");
  CHECK_THROWS_WITH(SGD<double>(params, SGDOptions(0.1).momentum(-0.5)), "SGD: invalid momentum value: -0.5");
  CHECK_THROWS_WITH(SGD<double>(params, SGDOptions(0.1).weight_decay(-1e-3)), "SGD: invalid weight_decay value: -0.001");
  CHECK_THROWS_WITH(SGD<double>(params, SGDOptions(0.1).nesterov(true)),
                    "SGD: Nesterov momentum requires a momentum and zero dampening (momentum 0, dampening 0)");
  CHECK_THROWS_WITH(SGD<double>(params, SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)),
                    "SGD: Nesterov momentum requires a momentum and zero dampening (momentum 0.9, dampening 0.1)");
  CHECK_THROWS_WITH(SGD<double>({params[0], tg::Tensor<double>()}, 0.1), "SGD: parameter 1 is an undefined tensor");
  CHECK_NOTHROW(SGD<double>(params, SGDOptions(0).momentum(0.9).nesterov(true)));
  CHECK_NOTHROW(SGD<double>(params, SGDOptions(0.1).dampening(-2)));  // torch does not check dampening

  Bowl<double> pb;
  SGD<double> opt(pb.params(), sgd_options("momentum"));
  opt.step(pb.grads());
  const auto W_before = pb.W.to_vector(), b_before = pb.b.to_vector();
  const auto state_before = opt.state_dict().tensors[0].second.to_vector();
  CHECK_THROWS_WITH(opt.set_lr(-1), "SGD: invalid learning rate: -1");
  CHECK(opt.lr() == 0.05);
  CHECK_THROWS_WITH(opt.step({tg::ones<double>({4, 5}), tg::ones<double>({4})}),
                    "SGD: gradient 1 has shape [4] but parameter 1 has shape [3]");
  CHECK_THROWS_WITH(opt.step({tg::ones<double>({4, 5})}), "SGD: step got 1 gradients for 2 parameters");
  CHECK(pb.W.to_vector() == W_before);
  CHECK(pb.b.to_vector() == b_before);
  CHECK(opt.state_dict().tensors[0].second.to_vector() == state_before);
  // the next good step is PyTorch's second
  opt.step(pb.grads());
  expect_golden(pb.W, optim_golden(), "sgd.momentum.f64.W.2", 1e-13, 0);
}

TEST_CASE("golden: SGD with Nesterov momentum under StepLR(5, 0.5)") {
  Bowl<double> pd;
  tg::optim::SGD<double> opt_d(pd.params(), SGDOptions(0.1).momentum(0.9).nesterov(true));
  tg::optim::StepLR scheduler_d(opt_d, 5, 0.5);  // deduces StepLR<double>
  CHECK(scheduler_d.last_epoch() == 0);
  CHECK(scheduler_d.get_last_lr() == std::vector<double>{0.1});
  check_bowl_trajectory<double>("sgd.steplr", opt_d, pd, 1e-13, 0, false, &scheduler_d);

  Bowl<float> pf;
  tg::optim::SGD<float> opt_f(pf.params(), SGDOptions(0.1).momentum(0.9).nesterov(true));
  tg::optim::StepLR<float> scheduler_f(opt_f, 5, 0.5);
  check_bowl_trajectory<float>("sgd.steplr", opt_f, pf, 0, 0, false, &scheduler_f);
}

TEST_CASE("golden: learning rates of StepLR and CosineAnnealingLR over 3 T_max steps, to 1e-12") {
  auto check_sequence = [](const std::string& name, tg::optim::LRScheduler<double>& scheduler,
                           tg::optim::Optimizer<double>& opt) {
    INFO(name);
    const GoldenTensor& expected = golden_entry(optim_golden(), name + ".lr");
    double max_abs = 0;
    for (size_t k = 0; k < expected.values.size(); ++k) {
      scheduler.step();
      max_abs = std::max(max_abs, std::abs(opt.lr() - expected.values[k]));
      CHECK(scheduler.last_epoch() == static_cast<int64_t>(k) + 1);
    }
    if (std::getenv("TAPEGRAD_REPORT_ERRORS")) std::cout << "error " << name << ": max abs " << max_abs << "\n";
    CHECK(max_abs <= 1e-12);
  };
  for (int T_max : {1, 2, 3, 7, 10}) {
    for (int i = 0; i < 2; ++i) {
      tg::optim::SGD<double> opt({tg::zeros<double>({1})}, 0.1);
      tg::optim::CosineAnnealingLR<double> scheduler(opt, T_max, i == 0 ? 0.0 : 1e-3);
      CHECK(scheduler.T_max() == T_max);
      check_sequence("sched.cos" + std::to_string(T_max) + "_" + std::to_string(i), scheduler, opt);
    }
  }
  tg::optim::SGD<double> opt3({tg::zeros<double>({1})}, 0.1);
  tg::optim::StepLR<double> step3(opt3, 3, 0.3);
  check_sequence("sched.step3_g03", step3, opt3);
  tg::optim::SGD<double> opt1({tg::zeros<double>({1})}, 0.1);
  tg::optim::StepLR<double> step1(opt1, 1, 0.5);
  check_sequence("sched.step1_g05", step1, opt1);
}

TEST_CASE("schedules: the lr set by hand between steps is the one the recursive forms continue from") {
  // StepLR multiplies whatever lr the optimizer has, as torch's chainable form does
  tg::optim::SGD<double> opt({tg::zeros<double>({1})}, 1.0);
  tg::optim::StepLR<double> scheduler(opt, 2, 0.5);
  scheduler.step();
  CHECK(opt.lr() == 1.0);
  opt.set_lr(4.0);
  scheduler.step();
  CHECK(opt.lr() == 2.0);
  CHECK(scheduler.base_lrs() == std::vector<double>{1.0});
}

TEST_CASE("schedules: invalid arguments throw with exact messages and leave the optimizer alone") {
  tg::optim::SGD<double> opt({tg::zeros<double>({1})}, 0.1);
  CHECK_THROWS_WITH(tg::optim::StepLR<double>(opt, 0), "StepLR: step_size must be positive, got 0");
  CHECK_THROWS_WITH(tg::optim::StepLR<double>(opt, -3, 0.5), "StepLR: step_size must be positive, got -3");
  CHECK_THROWS_WITH(tg::optim::CosineAnnealingLR<double>(opt, 0), "CosineAnnealingLR: T_max must be positive, got 0");
  CHECK_THROWS_WITH(tg::optim::CosineAnnealingLR<double>(opt, -1, 0.01),
                    "CosineAnnealingLR: T_max must be positive, got -1");
  CHECK(opt.lr() == 0.1);
  // a schedule that would set a negative lr: the optimizer refuses, nothing moves
  tg::optim::CosineAnnealingLR<double> down(opt, 2, -1.0);
  CHECK_THROWS_WITH(down.step(), Catch::Matchers::StartsWith("SGD: invalid learning rate: -"));
  CHECK(opt.lr() == 0.1);
  CHECK(down.last_epoch() == 0);
  CHECK(down.get_last_lr() == std::vector<double>{0.1});
}

TEST_CASE("the contract's spellings compile and run on a float model (docs/API.md)") {
  namespace optim = tg::optim;
  namespace nn = tg::nn;
  tg::manual_seed(0);
  nn::Linear model(3, 2);
  nn::init::kaiming_uniform_(model.weight, std::sqrt(5.0), "fan_in", "leaky_relu");
  nn::init::xavier_uniform_(model.weight, 1.0);
  nn::init::xavier_normal_(model.weight);
  nn::init::kaiming_normal_(model.weight);
  nn::init::uniform_(model.bias, -0.1, 0.1);
  nn::init::normal_(model.bias, 0, 1);
  nn::init::zeros_(model.bias);
  nn::init::ones_(model.bias);
  CHECK(nn::init::calculate_gain("leaky_relu", 0.2) > 1);
  optim::SGD sgd(model.parameters(), optim::SGDOptions(0.1).momentum(0.9).dampening(0).nesterov(true).weight_decay(1e-4));
  optim::AdamW adamw(model.parameters(), optim::AdamWOptions(1e-3).betas({0.9, 0.999}).eps(1e-8).weight_decay(1e-2));
  optim::StepLR step_lr(sgd, 10);
  optim::CosineAnnealingLR cosine(adamw, 5);
  const auto x = tg::randn({4, 3});
  for (int k = 0; k < 3; ++k) {
    sgd.zero_grad();
    tg::sum(tg::tanh(model(x))).backward();
    const double total = nn::utils::clip_grad_norm_(model.parameters(), 1.0);
    CHECK(total > 0);
    sgd.step();
    adamw.step();
    step_lr.step();
    cosine.step();
  }
  CHECK(sgd.lr() == 0.1);
  CHECK(std::abs(adamw.lr() - 1e-3 * (1 + std::cos(3.141592653589793 * 3 / 5)) / 2) < 1e-15);
  optim::Optimizer<float>& base = adamw;
  base.set_lr(0.25);
  CHECK(cosine.get_last_lr()[0] != 0.25);  // the schedule's record, until its next step
}
