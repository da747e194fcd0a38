// optim::AdamW against torch.optim.AdamW step by step (default options, custom with and
// without amsgrad, and under CosineAnnealingLR; tests/golden/optim.txt from
// tools/gen_optim_golden.py), option checks, and Adam's checks still naming Adam.
#include <string>

#include "support/optim_problem.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;
using tg::optim::AdamWOptions;

namespace {

AdamWOptions adamw_options(const std::string& cfg) {
  if (cfg == "default") return AdamWOptions(0.05);
  const auto custom = AdamWOptions(0.05).betas({0.8, 0.99}).eps(1e-6).weight_decay(0.1);
  if (cfg == "custom") return AdamWOptions(custom).amsgrad(true);
  if (cfg == "noams") return custom;
  FAIL("no configuration " << cfg);
  return AdamWOptions();
}

// Adam's arithmetic (shared with Adam, which keeps its numbers): unfused multiply-adds where
// PyTorch's kernels fuse them, so float agrees to a few ulps (values near 1 within ~1.3e-7)
// and double to ~3e-16.
template <class T>
constexpr double kRtol = std::is_same_v<T, float> ? 2e-6 : 1e-13;
template <class T>
constexpr double kAtol = std::is_same_v<T, float> ? 1e-6 : 1e-14;

template <class T>
void check_config(const std::string& cfg) {
  INFO("adamw." << cfg << "." << dtype_tag<T>());
  Bowl<T> pb;
  tg::optim::AdamW<T> opt(pb.params(), adamw_options(cfg));
  check_bowl_trajectory("adamw." + cfg, opt, pb, kRtol<T>, kAtol<T>);
}

}  // namespace

TEST_CASE("AdamWOptions: PyTorch's defaults (weight_decay 1e-2) and chained setters") {
  const AdamWOptions defaults;
  CHECK(defaults.lr() == 1e-3);
  CHECK(std::get<0>(defaults.betas()) == 0.9);
  CHECK(std::get<1>(defaults.betas()) == 0.999);
  CHECK(defaults.eps() == 1e-8);
  CHECK(defaults.weight_decay() == 1e-2);
  CHECK(!defaults.amsgrad());
  // the setters return AdamWOptions, so a chain is still one
  const AdamWOptions o = AdamWOptions(0.05).betas({0.8, 0.99}).eps(1e-6).weight_decay(0.1).amsgrad(true);
  CHECK(o.lr() == 0.05);
  CHECK(std::get<0>(o.betas()) == 0.8);
  CHECK(o.weight_decay() == 0.1);
  CHECK(o.amsgrad());
  CHECK(tg::optim::AdamOptions().weight_decay() == 0);
  tg::optim::AdamW<double> opt({tg::zeros<double>({2})});
  CHECK(opt.lr() == 1e-3);
  CHECK(opt.options().weight_decay() == 1e-2);
  CHECK(std::string(opt.name()) == "AdamW");
  opt.set_lr(0.5);
  CHECK(opt.lr() == 0.5);
}

TEST_CASE("golden: AdamW trajectories, double") {
  for (const char* cfg : {"default", "custom", "noams"}) check_config<double>(cfg);
}

TEST_CASE("golden: AdamW trajectories, float") {
  for (const char* cfg : {"default", "custom", "noams"}) check_config<float>(cfg);
}

TEST_CASE("golden: AdamW under CosineAnnealingLR(7, 1e-3)") {
  Bowl<double> pd;
  tg::optim::AdamW<double> opt_d(pd.params(), AdamWOptions(0.05));
  tg::optim::CosineAnnealingLR scheduler_d(opt_d, 7, 1e-3);  // deduces CosineAnnealingLR<double>
  check_bowl_trajectory<double>("adamw.cosine", opt_d, pd, kRtol<double>, kAtol<double>, false, &scheduler_d);
  Bowl<float> pf;
  tg::optim::AdamW<float> opt_f(pf.params(), AdamWOptions(0.05));
  tg::optim::CosineAnnealingLR<float> scheduler_f(opt_f, 7, 1e-3);
  check_bowl_trajectory<float>("adamw.cosine", opt_f, pf, kRtol<float>, kAtol<float>, false, &scheduler_f);
}

TEST_CASE("AdamW with weight_decay 0 is Adam with weight_decay 0, to the bit") {
  Bowl<double> a, b;
  tg::optim::AdamW<double> adamw(a.params(), AdamWOptions(0.05).weight_decay(0).amsgrad(true));
  tg::optim::Adam<double> adam(b.params(), tg::optim::AdamOptions(0.05).amsgrad(true));
  for (int k = 0; k < 10; ++k) {
    adamw.step(a.grads());
    adam.step(b.grads());
  }
  CHECK(a.W.to_vector() == b.W.to_vector());
  CHECK(a.b.to_vector() == b.b.to_vector());
}

TEST_CASE("AdamW: invalid options and steps throw with exact messages naming AdamW, changing nothing") {
  std::vector<tg::Tensor<double>> params{tg::zeros<double>({3}).requires_grad_()};
  using tg::optim::AdamW;
  CHECK_THROWS_WITH(AdamW<double>(params, -1.0), "AdamW: invalid learning rate: -1");
  CHECK_THROWS_WITH(AdamW<double>(params, AdamWOptions().betas({1.0, 0.999})),
                    "AdamW: invalid beta parameter at index 0: 1");
  CHECK_THROWS_WITH(AdamW<double>(params, AdamWOptions().betas({0.9, -0.5})),
                    "AdamW: invalid beta parameter at index 1: -0.5");
  CHECK_THROWS_WITH(AdamW<double>(params, AdamWOptions().eps(-1e-8)), "AdamW: invalid epsilon value: -1e-08");
  CHECK_THROWS_WITH(AdamW<double>(params, AdamWOptions().weight_decay(-0.01)),
                    "AdamW: invalid weight_decay value: -0.01");
  CHECK_THROWS_WITH(AdamW<double>({params[0], tg::Tensor<double>()}), "AdamW: parameter 1 is an undefined tensor");

  Bowl<double> pb;
  AdamW<double> opt(pb.params(), adamw_options("custom"));
  opt.step(pb.grads());
  const auto W_before = pb.W.to_vector(), b_before = pb.b.to_vector();
  CHECK_THROWS_WITH(opt.set_lr(-0.5), "AdamW: invalid learning rate: -0.5");
  CHECK(opt.lr() == 0.05);
  CHECK_THROWS_WITH(opt.step({tg::ones<double>({4, 5}), tg::ones<double>({5})}),
                    "AdamW: gradient 1 has shape [5] but parameter 1 has shape [3]");
  CHECK_THROWS_WITH(opt.step({tg::ones<double>({4, 5})}), "AdamW: step got 1 gradients for 2 parameters");
  CHECK(pb.W.to_vector() == W_before);
  CHECK(pb.b.to_vector() == b_before);
  opt.step(pb.grads());  // PyTorch's second step: neither the decay nor the state moved
  expect_golden(pb.W, optim_golden(), "adamw.custom.f64.W.2", 1e-13, 1e-14);
  expect_golden(pb.b, optim_golden(), "adamw.custom.f64.b.2", 1e-13, 1e-14);
}
