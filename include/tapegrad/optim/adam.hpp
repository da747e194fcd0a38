#pragma once
// Adam, number for number with torch.optim.Adam (single-tensor path): coupled L2
// weight_decay, bias corrections, eps added after the second-moment correction, amsgrad.
#include <cmath>
#include <tuple>

#include "../ops/kernels.hpp"
#include "optimizer.hpp"

namespace tapegrad::optim {

struct AdamOptions {
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  AdamOptions& lr(double v) { lr_ = v; return *this; }
  AdamOptions& betas(std::tuple<double, double> v) { betas_ = v; return *this; }
  AdamOptions& eps(double v) { eps_ = v; return *this; }
  AdamOptions& weight_decay(double v) { weight_decay_ = v; return *this; }
  AdamOptions& amsgrad(bool v) { amsgrad_ = v; return *this; }
  double lr() const { return lr_; }
  std::tuple<double, double> betas() const { return betas_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  bool amsgrad() const { return amsgrad_; }

 private:
  double lr_;
  std::tuple<double, double> betas_{0.9, 0.999};
  double eps_ = 1e-8;
  double weight_decay_ = 0;
  bool amsgrad_ = false;
};

template <class T = float>
class Adam : public Optimizer<T> {
 public:
  Adam(std::vector<Tensor<T>> params, double lr = 1e-3) : Adam(std::move(params), AdamOptions(lr)) {}
  TAPEGRAD_COLD Adam(std::vector<Tensor<T>> params, const AdamOptions& options)
      : Optimizer<T>(std::move(params), "Adam"), options_(options), state_(this->params_.size()) {
    validate(options);
  }

  const AdamOptions& options() const { return options_; }
  double lr() const { return options_.lr(); }
  void set_lr(double v) {
    detail::check(v >= 0, "Adam: invalid learning rate: ", v);
    options_.lr(v);
  }

  const char* name() const override { return "Adam"; }

  TAPEGRAD_COLD typename Optimizer<T>::State state_dict() const override {
    typename Optimizer<T>::State out;
    for (size_t i = 0; i < state_.size(); ++i) {
      const State& s = state_[i];
      if (!s.exp_avg.defined()) continue;
      const std::string prefix = std::to_string(i) + ".";
      out.tensors.push_back({prefix + "step", full<T>({}, static_cast<T>(s.step))});
      out.tensors.push_back({prefix + "exp_avg", s.exp_avg.clone()});
      out.tensors.push_back({prefix + "exp_avg_sq", s.exp_avg_sq.clone()});
      if (s.max_exp_avg_sq.defined()) out.tensors.push_back({prefix + "max_exp_avg_sq", s.max_exp_avg_sq.clone()});
    }
    const auto [b1, b2] = options_.betas();
    out.options = {{"lr", options_.lr()},         {"betas.0", b1},
                   {"betas.1", b2},               {"eps", options_.eps()},
                   {"weight_decay", options_.weight_decay()}, {"amsgrad", options_.amsgrad() ? 1.0 : 0.0, true},
                   {"maximize", 0.0, true}};
    return out;
  }

  TAPEGRAD_COLD void load_state_dict(const typename Optimizer<T>::State& state) override {
    // The options first, into a copy checked as the constructor checks them.
    AdamOptions options = options_;
    double b1 = std::get<0>(options.betas()), b2 = std::get<1>(options.betas());
    static const char* const kRequired[] = {"lr", "betas.0", "betas.1", "eps", "weight_decay", "amsgrad"};
    for (const char* required : kRequired) {
      bool present = false;
      for (const auto& o : state.options) present = present || o.name == required;
      detail::check(present, "Adam: load_state_dict: the option \"", required, "\" is missing");
    }
    for (const auto& o : state.options) {
      detail::check(std::isfinite(o.value), "Adam: load_state_dict: option \"", o.name, "\" = ", o.value,
                    " is not finite");
      if (o.name == "lr") {
        options.lr(o.value);
      } else if (o.name == "betas.0") {
        b1 = o.value;
      } else if (o.name == "betas.1") {
        b2 = o.value;
      } else if (o.name == "eps") {
        options.eps(o.value);
      } else if (o.name == "weight_decay") {
        options.weight_decay(o.value);
      } else if (o.name == "amsgrad" && o.boolean) {
        options.amsgrad(o.value != 0);
      } else if ((o.name == "maximize" || o.name == "capturable" || o.name == "differentiable" || o.name == "fused") &&
                 o.boolean) {
        // torch.optim's switches for other code paths; tapegrad has only the default one
        detail::check(o.value == 0, "Adam: load_state_dict: option \"", o.name, "\" = true is not supported");
      } else if (o.name == "foreach" && o.boolean) {
        // the multi-tensor form gives the same numbers
      } else {
        detail::fail("Adam: load_state_dict: unknown option \"", o.name, "\"");
      }
    }
    options.betas({b1, b2});
    validate(options);

    // Then the per-parameter state, into a new list swapped in at the end.
    StateList next(this->params_.size());
    std::vector<uint8_t> seen(this->params_.size() * 4, 0);
    static const char* const kNames[] = {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    for (const auto& [key, value] : state.tensors) {
      // "<index>.<name>", the index in plain decimal digits (no sign, space or leading zero)
      const size_t dot = key.find('.');
      bool well_formed = dot != std::string::npos && dot > 0 && dot <= 9 && (key[0] != '0' || dot == 1);
      size_t index = 0;
      for (size_t c = 0; well_formed && c < dot; ++c) {
        well_formed = key[c] >= '0' && key[c] <= '9';
        index = index * 10 + static_cast<size_t>(key[c] - '0');
      }
      detail::check(well_formed, "Adam: load_state_dict: unexpected key \"", key, "\"");
      detail::check(index < this->params_.size(), "Adam: load_state_dict: \"", key, "\" is for parameter ", index,
                    " but the optimizer has ", this->params_.size());
      const std::string field = key.substr(dot + 1);
      int which = 0;
      while (which < 4 && field != kNames[which]) ++which;
      detail::check(which < 4, "Adam: load_state_dict: unexpected key \"", key, "\"");
      detail::check(!seen[index * 4 + which], "Adam: load_state_dict: the key \"", key, "\" is given twice");
      detail::check(value.defined(), "Adam: load_state_dict: \"", key, "\" is an undefined tensor");
      seen[index * 4 + which] = 1;
      State& s = next[index];
      if (which == 0) {
        detail::check(value.numel() == 1, "Adam: load_state_dict: \"", key, "\" has shape ", value.sizes(),
                      ", not one value");
        const double step = static_cast<double>(value.data()[0]);
        detail::check(step >= 0 && step == std::floor(step) && step < 9.007199254740992e15,
                      "Adam: load_state_dict: \"", key, "\" = ", step, " is not a step count");
        s.step = static_cast<int64_t>(step);
        continue;
      }
      detail::check(value.sizes() == this->params_[index].sizes(), "Adam: load_state_dict: \"", key, "\" has shape ",
                    value.sizes(), " but parameter ", index, " has shape ", this->params_[index].sizes());
      Tensor<T>& slot = which == 1 ? s.exp_avg : which == 2 ? s.exp_avg_sq : s.max_exp_avg_sq;
      slot = value.detach().clone();
    }
    for (size_t i = 0; i < next.size(); ++i) {
      const uint8_t* has = &seen[i * 4];
      const bool any = has[0] || has[1] || has[2] || has[3];
      const bool needed = has[0] && has[1] && has[2] && (has[3] || !options.amsgrad());
      detail::check(!any || needed, "Adam: load_state_dict: the state of parameter ", i,
                    " lacks one of step, exp_avg, exp_avg_sq", options.amsgrad() ? ", max_exp_avg_sq (amsgrad)" : "");
    }
    options_ = options;
    state_.swap(next);
  }

  void step() override {
    update([this](size_t i) { return this->params_[i].grad(); });
  }

  // One update with the gradients given explicitly (undefined ones skip their parameter).
  void step(const std::vector<Tensor<T>>& grads) {
    detail::check(grads.size() == this->params_.size(), "Adam: step got ", grads.size(), " gradients for ",
                  this->params_.size(), " parameters");
    update([&grads](size_t i) { return grads[i]; });
  }

 private:
  TAPEGRAD_COLD static void validate(const AdamOptions& options) {
    const auto [b1, b2] = options.betas();
    detail::check(options.lr() >= 0, "Adam: invalid learning rate: ", options.lr());
    detail::check(options.eps() >= 0, "Adam: invalid epsilon value: ", options.eps());
    detail::check(b1 >= 0 && b1 < 1, "Adam: invalid beta parameter at index 0: ", b1);
    detail::check(b2 >= 0 && b2 < 1, "Adam: invalid beta parameter at index 1: ", b2);
    detail::check(options.weight_decay() >= 0, "Adam: invalid weight_decay value: ", options.weight_decay());
  }

  struct State {
    int64_t step = 0;
    Tensor<T> exp_avg, exp_avg_sq, max_exp_avg_sq;
  };
  // The states, destroyed out of line (once, at the end).
  struct StateList : std::vector<State> {
    using std::vector<State>::vector;
    TAPEGRAD_COLD ~StateList() {}
  };

  // Checks every gradient first, so a failed step changes nothing, then updates.
  template <class GradOf>
  void update(GradOf grad_of) {
    const auto& params = this->params_;
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor<T> grad = grad_of(i);
      if (!grad.defined()) continue;
      detail::check(grad.sizes() == params[i].sizes(), "Adam: gradient ", i, " has shape ", grad.sizes(),
                    " but parameter ", i, " has shape ", params[i].sizes());
      if (state_[i].exp_avg.defined() && state_[i].exp_avg.sizes() != params[i].sizes()) {
        detail::fail("Adam: parameter ", i, " changed shape from ", state_[i].exp_avg.sizes(), " to ", params[i].sizes(),
                     " between steps");
      }
    }
    const auto [beta1, beta2] = options_.betas();
    const bool amsgrad = options_.amsgrad();
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor<T> grad = grad_of(i);
      if (!grad.defined()) continue;
      State& s = state_[i];
      if (!s.exp_avg.defined()) {
        s.exp_avg = zeros_like(params[i]);
        s.exp_avg_sq = zeros_like(params[i]);
        if (amsgrad) s.max_exp_avg_sq = zeros_like(params[i]);
      }
      s.step += 1;
      const double bias_correction1 = 1 - std::pow(beta1, s.step);
      const double bias_correction2 = 1 - std::pow(beta2, s.step);
      const T step_size = static_cast<T>(options_.lr() / bias_correction1);
      const T bc2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
      const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
      const T one_minus_b1 = static_cast<T>(1 - beta1), one_minus_b2 = static_cast<T>(1 - beta2);
      const T wd = static_cast<T>(options_.weight_decay()), eps = static_cast<T>(options_.eps());
      adam_update(params[i].data(), grad.data(), s.exp_avg.data(), s.exp_avg_sq.data(),
                  amsgrad ? s.max_exp_avg_sq.data() : nullptr, params[i].numel(), b1, b2, one_minus_b1, one_minus_b2, wd,
                  step_size, bc2_sqrt, eps);
    }
  }

  // One parameter's update; each statement is one of PyTorch's in-place ops, element by element,
  // in packets where the instruction set has them (the square root correctly rounded).
  TAPEGRAD_NOINLINE static void adam_update(T* p, const T* g_raw, T* m, T* v, T* vmax, int64_t n, T b1, T b2, T c1, T c2,
                                            T wd, T step_size, T bc2_sqrt, T eps) {
    int64_t j = 0;
#if TAPEGRAD_X86_PACKETS
    using namespace Eigen::internal;
    using P = detail::Packet<T>;
    constexpr int64_t ps = detail::kPacketSize<T>;
    const P B1 = pset1<P>(b1), B2 = pset1<P>(b2), C1 = pset1<P>(c1), C2 = pset1<P>(c2), WD = pset1<P>(wd);
    const P STEP = pset1<P>(-step_size), BC2 = pset1<P>(bc2_sqrt), EPS = pset1<P>(eps);
    for (; j + ps <= n; j += ps) {
      P g = ploadu<P>(g_raw + j);
      P pj = ploadu<P>(p + j);
      if (wd != T(0)) g = padd(g, pmul(WD, pj));
      const P mj = padd(pmul(ploadu<P>(m + j), B1), pmul(C1, g));
      const P vj = padd(pmul(ploadu<P>(v + j), B2), pmul(pmul(C2, g), g));
      pstoreu(m + j, mj);
      pstoreu(v + j, vj);
      P denom_sq = vj;
      if (vmax) {
        denom_sq = pmax(ploadu<P>(vmax + j), vj);
        pstoreu(vmax + j, denom_sq);
      }
      pj = padd(pj, pmul(STEP, pdiv(mj, padd(pdiv(detail::exact_psqrt(denom_sq), BC2), EPS))));
      pstoreu(p + j, pj);
    }
#endif
    for (; j < n; ++j) {
      const T g = wd != T(0) ? g_raw[j] + wd * p[j] : g_raw[j];  // grad.add(param, alpha=weight_decay)
      m[j] = m[j] * b1 + c1 * g;                                 // exp_avg.mul_(b1).add_(g, alpha=1-b1)
      v[j] = v[j] * b2 + c2 * g * g;                             // exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
      T denom_sq = v[j];
      if (vmax) denom_sq = vmax[j] = vmax[j] < v[j] ? v[j] : vmax[j];  // torch.maximum(max_exp_avg_sq, exp_avg_sq)
      p[j] = p[j] + (-step_size) * (m[j] / (std::sqrt(denom_sq) / bc2_sqrt + eps));  // param.addcdiv_(m, denom, -step_size)
    }
  }

  AdamOptions options_;
  StateList state_;
};

}  // namespace tapegrad::optim
