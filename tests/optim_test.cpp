// optim: Adam against torch.optim.Adam step by step (tests/golden/nn_adam.txt, written by
// tools/gen_nn_golden.py), the explicit step(grads) form, option checks, zero_grad.
#include <string>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

const Golden& adam_golden() { return golden_file("nn_adam.txt"); }

// The shared helpers, on nn_adam.txt.
template <class T>
tg::Tensor<T> golden_tensor(const std::string& name) {
  return tapegrad_test::golden_tensor<T>(adam_golden(), name);
}

template <class T>
void expect_golden(const tg::Tensor<T>& actual, const std::string& name, double rtol, double atol) {
  tapegrad_test::expect_golden(actual, adam_golden(), name, rtol, atol);
}

// The golden problem: loss = sum((x W + b - t)^2), x (5, 3), W (3, 4), b (4), t (5, 4).
template <class T>
struct Problem {
  tg::Tensor<T> x = golden_tensor<T>("adam.x"), t = golden_tensor<T>("adam.t");
  tg::Tensor<T> W = golden_tensor<T>("adam.W0").requires_grad_(), b = golden_tensor<T>("adam.b0").requires_grad_();

  tg::Tensor<T> loss() const { return tg::pow(tg::matmul(x, W) + b - t, 2).sum(); }
  // The gradients written out by hand, as the seed's homework does: dW = 2 x^T r, db = 2 sum_rows(r).
  std::vector<tg::Tensor<T>> manual_grads() const {
    tg::NoGradGuard no_grad;
    auto r = tg::matmul(x, W) + b - t;  // r: (5, 4)
    return {tg::matmul(x.t(), r) * 2, r.sum(0) * 2};
  }
};

tg::optim::AdamOptions custom_options(bool amsgrad) {
  return tg::optim::AdamOptions(0.05).betas({0.8, 0.99}).eps(1e-6).weight_decay(0.1).amsgrad(amsgrad);
}

template <class T>
void check_trajectory(const std::string& cfg, tg::optim::Adam<T>& opt, Problem<T>& pb, double rtol, double atol) {
  const std::string p = "adam." + cfg + "." + dtype_tag<T>();
  for (int k = 1; k <= 20; ++k) {
    INFO("step " << k);
    auto loss = pb.loss();
    opt.zero_grad();
    loss.backward();
    opt.step();
    expect_golden(loss, p + ".loss." + std::to_string(k), rtol, atol);
    expect_golden(pb.W, p + ".W." + std::to_string(k), rtol, atol);
    expect_golden(pb.b, p + ".b." + std::to_string(k), rtol, atol);
  }
}

}  // namespace

TEST_CASE("AdamOptions: PyTorch's defaults and chained setters") {
  tg::optim::AdamOptions defaults;
  CHECK(defaults.lr() == 1e-3);
  CHECK(std::get<0>(defaults.betas()) == 0.9);
  CHECK(std::get<1>(defaults.betas()) == 0.999);
  CHECK(defaults.eps() == 1e-8);
  CHECK(defaults.weight_decay() == 0.0);
  CHECK(!defaults.amsgrad());
  const auto o = custom_options(true);
  CHECK(o.lr() == 0.05);
  CHECK(std::get<0>(o.betas()) == 0.8);
  CHECK(std::get<1>(o.betas()) == 0.99);
  CHECK(o.eps() == 1e-6);
  CHECK(o.weight_decay() == 0.1);
  CHECK(o.amsgrad());
  tg::optim::Adam<double> opt({tg::zeros<double>({2})}, 0.25);
  CHECK(opt.lr() == 0.25);
  CHECK(opt.options().eps() == 1e-8);
  opt.set_lr(0.5);
  CHECK(opt.lr() == 0.5);
}

TEST_CASE("golden: Adam with amsgrad, weight decay, custom betas and eps, double") {
  Problem<double> pb;
  tg::optim::Adam<double> opt({pb.W, pb.b}, custom_options(true));
  check_trajectory("custom", opt, pb, 1e-7, 1e-12);
}

TEST_CASE("golden: Adam with weight decay, custom betas and eps, no amsgrad, double") {
  Problem<double> pb;
  tg::optim::Adam<double> opt({pb.W, pb.b}, custom_options(false));
  check_trajectory("noams", opt, pb, 1e-7, 1e-12);
}

TEST_CASE("golden: Adam with the default options, double") {
  Problem<double> pb;
  tg::optim::Adam<double> opt({pb.W, pb.b});
  check_trajectory("default", opt, pb, 1e-7, 1e-12);
}

TEST_CASE("golden: Adam with amsgrad, weight decay, custom betas and eps, float") {
  Problem<float> pb;
  tg::optim::Adam<float> opt({pb.W, pb.b}, custom_options(true));
  check_trajectory("custom", opt, pb, 1e-5, 1e-6);
}

TEST_CASE("step(grads) is step() with the gradients given explicitly") {
  Problem<double> by_grad, by_list, by_hand;
  tg::optim::Adam<double> opt_grad({by_grad.W, by_grad.b}, custom_options(true));
  tg::optim::Adam<double> opt_list({by_list.W, by_list.b}, custom_options(true));
  tg::optim::Adam<double> opt_hand({by_hand.W, by_hand.b}, custom_options(true));
  for (int k = 1; k <= 20; ++k) {
    INFO("step " << k);
    opt_grad.zero_grad();
    by_grad.loss().backward();
    opt_grad.step();

    // the same gradients, handed over: step(grads) must not look at grad()
    opt_list.zero_grad();
    by_list.loss().backward();
    std::vector<tg::Tensor<double>> grads{by_list.W.grad().clone(), by_list.b.grad().clone()};
    by_list.W.set_grad(tg::full_like(by_list.W.grad(), 1e3));
    by_list.b.set_grad(tg::Tensor<double>());
    opt_list.step(grads);
    CHECK(by_list.W.to_vector() == by_grad.W.to_vector());
    CHECK(by_list.b.to_vector() == by_grad.b.to_vector());

    // gradients computed by hand, without the tape, follow PyTorch's trajectory too
    opt_hand.step(by_hand.manual_grads());
    expect_golden(by_hand.W, "adam.custom.f64.W." + std::to_string(k), 1e-7, 1e-12);
    expect_golden(by_hand.b, "adam.custom.f64.b." + std::to_string(k), 1e-7, 1e-12);
  }
}

TEST_CASE("Adam: invalid options throw with exact messages") {
  std::vector<tg::Tensor<double>> params{tg::zeros<double>({3}).requires_grad_()};
  using tg::optim::AdamOptions;
  CHECK_THROWS_WITH(tg::optim::Adam<double>(params, -1.0), "Adam: invalid learning rate: -1");
  CHECK_THROWS_WITH(tg::optim::Adam<double>(params, AdamOptions(-0.1)), "Adam: invalid learning rate: -0.1");
  CHECK_THROWS_WITH(tg::optim::Adam<double>(params, AdamOptions().betas({1.0, 0.999})),
                    "Adam: invalid beta parameter at index 0: 1");
  CHECK_THROWS_WITH(tg::optim::Adam<double>(params, AdamOptions().betas({-0.1, 0.999})),
                    "Adam: invalid beta parameter at index 0: -0.1");
  CHECK_THROWS_WITH(tg::optim::Adam<double>(params, AdamOptions().betas({0.9, 1.0})),
                    "Adam: invalid beta parameter at index 1: 1");
  CHECK_THROWS_WITH(tg::optim::Adam<double>(params, AdamOptions().betas({0.9, -0.5})),
                    "Adam: invalid beta parameter at index 1: -0.5");
  CHECK_THROWS_WITH(tg::optim::Adam<double>(params, AdamOptions().eps(-1e-8)), "Adam: invalid epsilon value: -1e-08");
  CHECK_THROWS_WITH(tg::optim::Adam<double>(params, AdamOptions().weight_decay(-0.01)),
                    "Adam: invalid weight_decay value: -0.01");
  CHECK_THROWS_AS(tg::optim::Adam<double>(params, AdamOptions(-0.1)), tg::Error);
  CHECK_THROWS_WITH(tg::optim::Adam<double>({params[0], tg::Tensor<double>()}),
                    "Adam: parameter 1 is an undefined tensor");
  // the edges PyTorch accepts
  CHECK_NOTHROW(tg::optim::Adam<double>(params, AdamOptions(0).betas({0.0, 0.0}).eps(0).weight_decay(0)));

  tg::optim::Adam<double> opt(params, 0.01);
  CHECK_THROWS_WITH(opt.set_lr(-0.5), "Adam: invalid learning rate: -0.5");
  CHECK(opt.lr() == 0.01);
}

TEST_CASE("Adam: a bad gradient list throws and changes no parameter") {
  Problem<double> pb;
  tg::optim::Adam<double> opt({pb.W, pb.b}, custom_options(true));
  opt.step(pb.manual_grads());  // some state already
  const auto W_before = pb.W.to_vector(), b_before = pb.b.to_vector();

  // the first gradient is fine, the second has the wrong shape: nothing may move
  CHECK_THROWS_WITH(opt.step({tg::ones<double>({3, 4}), tg::ones<double>({3})}),
                    "Adam: gradient 1 has shape [3] but parameter 1 has shape [4]");
  CHECK_THROWS_WITH(opt.step({tg::ones<double>({4, 3}), tg::ones<double>({4})}),
                    "Adam: gradient 0 has shape [4, 3] but parameter 0 has shape [3, 4]");
  CHECK_THROWS_WITH(opt.step({tg::ones<double>({3, 4})}), "Adam: step got 1 gradients for 2 parameters");
  CHECK(pb.W.to_vector() == W_before);
  CHECK(pb.b.to_vector() == b_before);

  // nor the state: the next good step is the one a clean run makes (PyTorch's second step)
  opt.step(pb.manual_grads());
  expect_golden(pb.W, "adam.custom.f64.W.2", 1e-7, 1e-12);
  expect_golden(pb.b, "adam.custom.f64.b.2", 1e-7, 1e-12);
}

TEST_CASE("Adam: zero_grad forgets the gradients, and parameters without one are skipped") {
  Problem<double> pb;
  tg::optim::Adam<double> opt({pb.W, pb.b}, custom_options(false));
  CHECK(opt.parameters().size() == 2);
  CHECK(opt.parameters()[0].impl() == pb.W.impl());
  pb.loss().backward();
  CHECK(pb.W.grad().defined());
  CHECK(pb.b.grad().defined());
  opt.zero_grad();
  CHECK(!pb.W.grad().defined());
  CHECK(!pb.b.grad().defined());

  const auto W0 = pb.W.to_vector(), b0 = pb.b.to_vector();
  opt.step();  // no gradients at all: nothing moves
  CHECK(pb.W.to_vector() == W0);
  CHECK(pb.b.to_vector() == b0);

  // only b has a gradient: W keeps its values, b takes a first step
  auto grads = pb.manual_grads();
  pb.b.set_grad(grads[1]);
  opt.step();
  CHECK(pb.W.to_vector() == W0);
  CHECK(pb.b.to_vector() != b0);
  // and W's own first step, later, is a first step (its state was never started)
  Problem<double> fresh;
  tg::optim::Adam<double> fresh_opt({fresh.W}, custom_options(false));
  fresh_opt.step({fresh.manual_grads()[0]});
  opt.step({grads[0], tg::Tensor<double>()});
  CHECK(pb.W.to_vector() == fresh.W.to_vector());
}
