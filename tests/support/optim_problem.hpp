#pragma once
// The golden problem of the SGD, AdamW and schedule tests (tests/golden/optim.txt, written by
// tools/gen_optim_golden.py): W (4, 5) and b (3) in a quadratic bowl, gradients
// g = (p - target) * curvature computed by hand as PyTorch computes them, so both sides hand
// the optimizer the same bits, and the parameters compared with PyTorch's after every step.
#include <string>
#include <vector>

#include "helpers.hpp"

namespace tapegrad_test {

inline const Golden& optim_golden() { return golden_file("optim.txt"); }

template <class T>
struct Bowl {
  tg::Tensor<T> W = golden_tensor<T>(optim_golden(), "prob.W0").requires_grad_();
  tg::Tensor<T> b = golden_tensor<T>(optim_golden(), "prob.b0").requires_grad_();
  tg::Tensor<T> tW = golden_tensor<T>(optim_golden(), "prob.tW"), tb = golden_tensor<T>(optim_golden(), "prob.tb");
  tg::Tensor<T> cW = golden_tensor<T>(optim_golden(), "prob.cW"), cb = golden_tensor<T>(optim_golden(), "prob.cb");

  std::vector<tg::Tensor<T>> params() const { return {W, b}; }
  // (p - target) * curvature; (target - p) * curvature for the maximize configurations
  std::vector<tg::Tensor<T>> grads(bool maximize = false) const {
    tg::NoGradGuard no_grad;
    if (maximize) return {(tW - W) * cW, (tb - b) * cb};
    return {(W - tW) * cW, (b - tb) * cb};
  }
  void set_grads(bool maximize = false) {
    const auto g = grads(maximize);
    W.set_grad(g[0]);
    b.set_grad(g[1]);
  }
};

// Runs `steps` optimizer steps (steps first..last) and compares W, b (and, with a scheduler,
// the lr after each scheduler step) with golden "<name>.<tag>.W.<k>".
template <class T, class Opt>
void check_bowl_trajectory(const std::string& name, Opt& opt, Bowl<T>& pb, double rtol, double atol,
                           bool maximize = false, tg::optim::LRScheduler<T>* scheduler = nullptr, int first = 1,
                           int last = 20) {
  const std::string p = name + "." + dtype_tag<T>() + ".";
  for (int k = first; k <= last; ++k) {
    INFO("step " << k);
    pb.set_grads(maximize);
    opt.step();
    expect_golden(pb.W, optim_golden(), p + "W." + std::to_string(k), rtol, atol);
    expect_golden(pb.b, optim_golden(), p + "b." + std::to_string(k), rtol, atol);
    if (scheduler) {
      scheduler->step();
      const double expected = golden_entry(optim_golden(), p + "lr." + std::to_string(k)).values[0];
      CHECK(std::abs(opt.lr() - expected) <= 1e-15 * std::abs(expected));
      CHECK(scheduler->get_last_lr() == std::vector<double>{opt.lr()});
      CHECK(scheduler->last_epoch() == k);
    }
  }
}

}  // namespace tapegrad_test
