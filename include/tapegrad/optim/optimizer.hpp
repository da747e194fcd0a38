#pragma once
// Optimizer<T>: holds the parameters and the learning rate a scheduler changes.
#include <string>
#include <vector>

#include "../core/autograd.hpp"

namespace tapegrad::optim {

template <class T = float>
class Optimizer {
 public:
  TAPEGRAD_COLD virtual ~Optimizer() {}

  // Updates every parameter from its grad(); parameters without a gradient are skipped.
  virtual void step() = 0;

  // Forgets every parameter's gradient (PyTorch's set_to_none).
  void zero_grad() {
    for (Tensor<T>& p : params_) p.set_grad(Tensor<T>());
  }

  const std::vector<Tensor<T>>& parameters() const { return params_; }

 protected:
  Optimizer(std::vector<Tensor<T>> params, const char* name) : params_(std::move(params)) {
    for (size_t i = 0; i < params_.size(); ++i) {
      detail::check(params_[i].defined(), name, ": parameter ", i, " is an undefined tensor");
    }
  }

  std::vector<Tensor<T>> params_;
};

}  // namespace tapegrad::optim
