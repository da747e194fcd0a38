#pragma once
// Learning-rate schedules, number for number with torch.optim.lr_scheduler (PyTorch 1.13):
// StepLR and CosineAnnealingLR in their recursive (chainable) get_lr() forms. Each step()
// advances last_epoch and sets the optimizer's lr; the constructor takes step 0, as torch's.
#include <cmath>
#include <cstdint>
#include <vector>

#include "optimizer.hpp"

namespace tapegrad::optim {

// What the schedules share: the optimizer, the lr it had at the start (torch's base_lrs, its
// "initial_lr"), last_epoch and the last lr set.
template <class T = float>
class LRScheduler {
 public:
  TAPEGRAD_COLD virtual ~LRScheduler() {}

  // The next epoch's lr, set on the optimizer (which refuses a negative one: then nothing changes).
  void step() {
    optimizer_.set_lr(get_lr(last_epoch_ + 1));
    last_epoch_ += 1;
    last_lr_ = optimizer_.lr();
  }

  // One value per param group (tapegrad's optimizers have one), as torch's list.
  std::vector<double> get_last_lr() const { return {last_lr_}; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

 protected:
  explicit LRScheduler(Optimizer<T>& optimizer) : optimizer_(optimizer), base_lrs_{optimizer.lr()} {}

  // The lr for `epoch`, from the optimizer's current one (the recursive form).
  virtual double get_lr(int64_t epoch) const = 0;
  double current_lr() const { return optimizer_.lr(); }

  Optimizer<T>& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  double last_lr_ = 0;
};

// lr *= gamma every step_size epochs.
template <class T = float>
class StepLR : public LRScheduler<T> {
 public:
  TAPEGRAD_COLD StepLR(Optimizer<T>& optimizer, int64_t step_size, double gamma = 0.1)
      : LRScheduler<T>(checked(optimizer, step_size)), step_size_(step_size), gamma_(gamma) {
    this->step();
  }

  int64_t step_size() const { return step_size_; }
  double gamma() const { return gamma_; }

 protected:
  double get_lr(int64_t epoch) const override {
    const double lr = this->current_lr();
    if (epoch == 0 || epoch % step_size_ != 0) return lr;
    return lr * gamma_;
  }

 private:
  static Optimizer<T>& checked(Optimizer<T>& optimizer, int64_t step_size) {
    detail::check(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
    return optimizer;
  }

  int64_t step_size_;
  double gamma_;
};

// lr follows half a cosine from the base lr down to eta_min over T_max epochs, then back up,
// each step computed from the previous lr as torch's get_lr() does (not the closed form).
template <class T = float>
class CosineAnnealingLR : public LRScheduler<T> {
 public:
  TAPEGRAD_COLD CosineAnnealingLR(Optimizer<T>& optimizer, int64_t T_max, double eta_min = 0)
      : LRScheduler<T>(checked(optimizer, T_max)), T_max_(T_max), eta_min_(eta_min) {
    this->step();
  }

  int64_t T_max() const { return T_max_; }
  double eta_min() const { return eta_min_; }

 protected:
  double get_lr(int64_t epoch) const override {
    const double pi = 3.141592653589793;  // math.pi
    const double lr = this->current_lr(), base_lr = this->base_lrs_[0];
    if (epoch == 0) return lr;
    // Python's %, never negative: (last_epoch - 1 - T_max) % (2 T_max) == 0 at the restarts
    const int64_t period = 2 * T_max_;
    const int64_t phase = ((epoch - 1 - T_max_) % period + period) % period;
    if (phase == 0) return lr + (base_lr - eta_min_) * (1 - std::cos(pi / static_cast<double>(T_max_))) / 2;
    const double e = static_cast<double>(epoch), t = static_cast<double>(T_max_);
    const double ratio = (1 + std::cos(pi * e / t)) / (1 + std::cos(pi * (e - 1) / t));
    return product(ratio, lr - eta_min_) + eta_min_;
  }

 private:
  // Python's a * b, rounded before the addition that follows: out of line, so a build with
  // fp-contract and the fma instruction cannot fuse the two (which moves the lr by an ulp).
  TAPEGRAD_NOINLINE static double product(double a, double b) { return a * b; }

  static Optimizer<T>& checked(Optimizer<T>& optimizer, int64_t T_max) {
    detail::check(T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", T_max);
    return optimizer;
  }

  int64_t T_max_;
  double eta_min_;
};

}  // namespace tapegrad::optim
