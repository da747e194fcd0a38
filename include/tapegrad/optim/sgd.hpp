#pragma once
// SGD, number for number with torch.optim.SGD (single-tensor path): L2 weight_decay added to
// the gradient, momentum with dampening (the buffer starts as a copy of the first gradient),
// Nesterov, maximize.
#include <cmath>

#include "../ops/kernels.hpp"
#include "optimizer.hpp"

namespace tapegrad::optim {

struct SGDOptions {
  explicit SGDOptions(double lr) : lr_(lr) {}
  SGDOptions& lr(double v) { lr_ = v; return *this; }
  SGDOptions& momentum(double v) { momentum_ = v; return *this; }
  SGDOptions& dampening(double v) { dampening_ = v; return *this; }
  SGDOptions& weight_decay(double v) { weight_decay_ = v; return *this; }
  SGDOptions& nesterov(bool v) { nesterov_ = v; return *this; }
  SGDOptions& maximize(bool v) { maximize_ = v; return *this; }
  double lr() const { return lr_; }
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }
  bool maximize() const { return maximize_; }

 private:
  double lr_;
  double momentum_ = 0;
  double dampening_ = 0;
  double weight_decay_ = 0;
  bool nesterov_ = false;
  bool maximize_ = false;
};

template <class T = float>
class SGD : public Optimizer<T> {
 public:
  SGD(std::vector<Tensor<T>> params, double lr) : SGD(std::move(params), SGDOptions(lr)) {}
  TAPEGRAD_COLD SGD(std::vector<Tensor<T>> params, const SGDOptions& options)
      : Optimizer<T>(std::move(params), "SGD"), options_(options), momentum_buffer_(this->params_.size()) {
    validate(options);
  }

  const SGDOptions& options() const { return options_; }
  double lr() const override { return options_.lr(); }
  void set_lr(double v) override {
    detail::check(v >= 0, "SGD: invalid learning rate: ", v);
    options_.lr(v);
  }

  const char* name() const override { return "SGD"; }

  // torch's layout: "<i>.momentum_buffer" for each parameter whose buffer exists (torch keeps
  // None for the others, which a tensor file cannot hold).
  TAPEGRAD_COLD typename Optimizer<T>::State state_dict() const override {
    typename Optimizer<T>::State out;
    for (size_t i = 0; i < momentum_buffer_.size(); ++i) {
      if (momentum_buffer_[i].defined()) {
        out.tensors.push_back({std::to_string(i) + ".momentum_buffer", momentum_buffer_[i].clone()});
      }
    }
    out.options = {{"lr", options_.lr()},
                   {"momentum", options_.momentum()},
                   {"dampening", options_.dampening()},
                   {"weight_decay", options_.weight_decay()},
                   {"nesterov", options_.nesterov() ? 1.0 : 0.0, true},
                   {"maximize", options_.maximize() ? 1.0 : 0.0, true}};
    return out;
  }

  TAPEGRAD_COLD void load_state_dict(const typename Optimizer<T>::State& state) override {
    SGDOptions options = options_;
    this->require_options("SGD", state, {"lr", "momentum", "dampening", "weight_decay", "nesterov"});
    for (const auto& o : state.options) {
      detail::check(std::isfinite(o.value), "SGD: load_state_dict: option \"", o.name, "\" = ", o.value,
                    " is not finite");
      if (o.name == "lr" && !o.boolean) {
        options.lr(o.value);
      } else if (o.name == "momentum" && !o.boolean) {
        options.momentum(o.value);
      } else if (o.name == "dampening" && !o.boolean) {
        options.dampening(o.value);
      } else if (o.name == "weight_decay" && !o.boolean) {
        options.weight_decay(o.value);
      } else if (o.name == "nesterov" && o.boolean) {
        options.nesterov(o.value != 0);
      } else if (o.name == "maximize" && o.boolean) {
        options.maximize(o.value != 0);
      } else if (o.name == "differentiable" && o.boolean) {
        detail::check(o.value == 0, "SGD: load_state_dict: option \"", o.name, "\" = true is not supported");
      } else if (o.name == "foreach" && o.boolean) {
        // the multi-tensor form gives the same numbers
      } else {
        detail::fail("SGD: load_state_dict: unknown option \"", o.name, "\"");
      }
    }
    validate(options);

    BufferList next(this->params_.size());
    for (const auto& [key, value] : state.tensors) {
      const size_t index = this->parse_state_key("SGD", key, {"momentum_buffer"}).first;
      detail::check(!next[index].defined(), "SGD: load_state_dict: the key \"", key, "\" is given twice");
      next[index] = this->state_tensor("SGD", key, value, index);
    }
    options_ = options;
    momentum_buffer_.swap(next);
  }

  void step() override {
    update([this](size_t i) { return this->params_[i].grad(); });
  }

  // One update with the gradients given explicitly (undefined ones skip their parameter).
  void step(const std::vector<Tensor<T>>& grads) {
    detail::check(grads.size() == this->params_.size(), "SGD: step got ", grads.size(), " gradients for ",
                  this->params_.size(), " parameters");
    update([&grads](size_t i) { return grads[i]; });
  }

 private:
  TAPEGRAD_COLD static void validate(const SGDOptions& options) {
    detail::check(options.lr() >= 0, "SGD: invalid learning rate: ", options.lr());
    detail::check(options.momentum() >= 0, "SGD: invalid momentum value: ", options.momentum());
    detail::check(options.weight_decay() >= 0, "SGD: invalid weight_decay value: ", options.weight_decay());
    detail::check(!options.nesterov() || (options.momentum() > 0 && options.dampening() == 0),
                  "SGD: Nesterov momentum requires a momentum and zero dampening (momentum ", options.momentum(),
                  ", dampening ", options.dampening(), ")");
  }

  struct BufferList : std::vector<Tensor<T>> {
    using std::vector<Tensor<T>>::vector;
    TAPEGRAD_COLD ~BufferList() {}
  };

  // Checks every gradient first, so a failed step changes nothing, then updates.
  template <class GradOf>
  void update(GradOf grad_of) {
    const auto& params = this->params_;
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor<T> grad = grad_of(i);
      if (!grad.defined()) continue;
      detail::check(grad.sizes() == params[i].sizes(), "SGD: gradient ", i, " has shape ", grad.sizes(),
                    " but parameter ", i, " has shape ", params[i].sizes());
      if (momentum_buffer_[i].defined() && momentum_buffer_[i].sizes() != params[i].sizes()) {
        detail::fail("SGD: parameter ", i, " changed shape from ", momentum_buffer_[i].sizes(), " to ",
                     params[i].sizes(), " between steps");
      }
    }
    const bool use_momentum = options_.momentum() != 0;
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor<T> grad = grad_of(i);
      if (!grad.defined()) continue;
      bool first = false;
      if (use_momentum && !momentum_buffer_[i].defined()) {
        momentum_buffer_[i] = empty_like(params[i]);
        first = true;
      }
      T* p = params[i].data();
      T* buf = use_momentum ? momentum_buffer_[i].data() : nullptr;
      const T* g = grad.data();
      detail::parallel_elementwise(params[i].numel(), [&](int64_t begin, int64_t end) {
        sgd_update(p + begin, g + begin, buf ? buf + begin : nullptr, first, end - begin);
      });
    }
  }

  // One parameter's update, each line one of torch's ops (add with alpha is a fused multiply-add
  // in PyTorch's CPU kernels, so it is one here).
  TAPEGRAD_NOINLINE void sgd_update(T* p, const T* grad, T* buf, bool first, int64_t n) const {
    const T wd = static_cast<T>(options_.weight_decay()), momentum = static_cast<T>(options_.momentum());
    const T one_minus_dampening = static_cast<T>(1 - options_.dampening()), neg_lr = static_cast<T>(-options_.lr());
    const bool nesterov = options_.nesterov(), maximize = options_.maximize(), decay = options_.weight_decay() != 0;
    for (int64_t j = 0; j < n; ++j) {  // p, grad, buf: (numel)
      T d_p = maximize ? -grad[j] : grad[j];
      if (decay) d_p = detail::fused_add(d_p, wd, p[j]);  // d_p.add(param, alpha=weight_decay)
      if (buf) {
        if (first) {
          buf[j] = d_p;  // torch.clone(d_p)
        } else {
          buf[j] = detail::fused_add(buf[j] * momentum, one_minus_dampening, d_p);  // buf.mul_(m).add_(d_p, alpha=1-d)
        }
        d_p = nesterov ? detail::fused_add(d_p, momentum, buf[j]) : buf[j];  // d_p.add(buf, alpha=momentum)
      }
      p[j] = detail::fused_add(p[j], neg_lr, d_p);  // param.add_(d_p, alpha=-lr)
    }
  }

  SGDOptions options_;
  BufferList momentum_buffer_;
};

}  // namespace tapegrad::optim
