#pragma once
// Optimizer<T>: holds the parameters and the learning rate a scheduler changes.
#include <string>
#include <utility>
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

  // What a checkpoint holds, as torch.optim's state_dict() has it: per-parameter state under
  // "<parameter index>.<name>" ("0.step", "0.exp_avg"), and the one param group's options
  // ("lr", "eps"; a tuple as "betas.0", "betas.1"; booleans flagged).
  struct Option {
    std::string name;
    double value;
    bool boolean = false;
  };
  struct State {
    std::vector<std::pair<std::string, Tensor<T>>> tensors;
    std::vector<Option> options;
  };
  // torch.optim's class name ("Adam"): a checkpoint of one optimizer does not load into another.
  virtual const char* name() const = 0;
  // A copy of the state, taken now.
  virtual State state_dict() const = 0;
  // Replaces the state and options with `state`'s, all or nothing: an unknown or missing key or
  // option, a shape that is not its parameter's, or an invalid value throws and changes nothing.
  virtual void load_state_dict(const State& state) = 0;

 protected:
  Optimizer(std::vector<Tensor<T>> params, const char* name) : params_(std::move(params)) {
    for (size_t i = 0; i < params_.size(); ++i) {
      detail::check(params_[i].defined(), name, ": parameter ", i, " is an undefined tensor");
    }
  }

  std::vector<Tensor<T>> params_;
};

}  // namespace tapegrad::optim
