#pragma once
// Optimizer<T>: holds the parameters and the learning rate a scheduler changes.
#include <cmath>
#include <initializer_list>
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

  // The learning rate of the one param group, what a scheduler reads and sets; set_lr refuses
  // a negative rate as the constructor does (naming the class).
  virtual double lr() const = 0;
  virtual void set_lr(double v) = 0;

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

  // load_state_dict's checks shared by the optimizers. Every name in `required` is among the options.
  TAPEGRAD_COLD static void require_options(const char* cls, const State& state,
                                            std::initializer_list<const char*> required) {
    for (const char* name : required) {
      bool present = false;
      for (const auto& o : state.options) present = present || o.name == name;
      detail::check(present, cls, ": load_state_dict: the option \"", name, "\" is missing");
    }
  }

  // A key "<index>.<field>", the index in plain decimal digits (no sign, space or leading zero)
  // and below the parameter count, the field one of `fields`: returns {index, field's position}.
  TAPEGRAD_COLD std::pair<size_t, int> parse_state_key(const char* cls, const std::string& key,
                                                       std::initializer_list<const char*> fields) const {
    const size_t dot = key.find('.');
    bool well_formed = dot != std::string::npos && dot > 0 && dot <= 9 && (key[0] != '0' || dot == 1);
    size_t index = 0;
    for (size_t c = 0; well_formed && c < dot; ++c) {
      well_formed = key[c] >= '0' && key[c] <= '9';
      index = index * 10 + static_cast<size_t>(key[c] - '0');
    }
    detail::check(well_formed, cls, ": load_state_dict: unexpected key \"", key, "\"");
    detail::check(index < params_.size(), cls, ": load_state_dict: \"", key, "\" is for parameter ", index,
                  " but the optimizer has ", params_.size());
    const std::string field = key.substr(dot + 1);
    int which = 0;
    for (const char* f : fields) {
      if (field == f) return {index, which};
      ++which;
    }
    detail::fail(cls, ": load_state_dict: unexpected key \"", key, "\"");
  }

  // A per-parameter tensor of a checkpoint: defined, of its parameter's shape; a detached copy.
  TAPEGRAD_COLD Tensor<T> state_tensor(const char* cls, const std::string& key, const Tensor<T>& value,
                                       size_t index) const {
    detail::check(value.defined(), cls, ": load_state_dict: \"", key, "\" is an undefined tensor");
    detail::check(value.sizes() == params_[index].sizes(), cls, ": load_state_dict: \"", key, "\" has shape ",
                  value.sizes(), " but parameter ", index, " has shape ", params_[index].sizes());
    return value.detach().clone();
  }

  std::vector<Tensor<T>> params_;
};

}  // namespace tapegrad::optim

namespace tapegrad::detail {

// a + alpha * b rounded once, as PyTorch's CPU add(b, alpha=...) computes it (a fused
// multiply-add): for float through double, where the product is exact (the sum is rounded
// twice, which differs from once only on an exact float half-way point); for double with the
// fma instruction where the build has it, else unfused.
template <class T>
inline T fused_add(T a, T alpha, T b) {
  if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(static_cast<double>(a) + static_cast<double>(alpha) * static_cast<double>(b));
  } else {
#if defined(__FMA__)
    return std::fma(alpha, b, a);
#else
    return a + alpha * b;
#endif
  }
}

}  // namespace tapegrad::detail
