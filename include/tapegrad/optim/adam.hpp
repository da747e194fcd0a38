#pragma once
// Adam, number for number with torch.optim.Adam (single-tensor path): coupled L2
// weight_decay, bias corrections, eps added after the second-moment correction, amsgrad.
// AdamW (adamw.hpp) is the same update with decoupled weight decay.
#include <cmath>
#include <tuple>

#include "../ops/kernels.hpp"
#include "optimizer.hpp"

namespace tapegrad::optim {

namespace impl {
// Adam's and AdamW's options: the same fields and chained setters (returning the derived
// type, so AdamWOptions(lr).betas(...) stays an AdamWOptions); only the defaults differ.
template <class Derived>
struct AdamOptionsBase {
  explicit AdamOptionsBase(double lr, double weight_decay) : lr_(lr), weight_decay_(weight_decay) {}
  Derived& lr(double v) { lr_ = v; return self(); }
  Derived& betas(std::tuple<double, double> v) { betas_ = v; return self(); }
  Derived& eps(double v) { eps_ = v; return self(); }
  Derived& weight_decay(double v) { weight_decay_ = v; return self(); }
  Derived& amsgrad(bool v) { amsgrad_ = v; return self(); }
  double lr() const { return lr_; }
  std::tuple<double, double> betas() const { return betas_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  bool amsgrad() const { return amsgrad_; }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  double lr_;
  std::tuple<double, double> betas_{0.9, 0.999};
  double eps_ = 1e-8;
  double weight_decay_;
  bool amsgrad_ = false;
};
}  // namespace impl

struct AdamOptions : impl::AdamOptionsBase<AdamOptions> {
  explicit AdamOptions(double lr = 1e-3) : AdamOptionsBase(lr, 0) {}
};

namespace impl {

// The update, state and checkpoints of Adam and AdamW: `decoupled` weight decay is AdamW's
// p *= 1 - lr * weight_decay before the step, else it is Adam's L2 term added to the gradient.
template <class T, class Options, bool decoupled>
class AdamFamily : public Optimizer<T> {
 public:
  const Options& options() const { return options_; }
  double lr() const override { return options_.lr(); }
  void set_lr(double v) override {
    tapegrad::detail::check(v >= 0, cls_, ": invalid learning rate: ", v);
    options_.lr(v);
  }

  const char* name() const override { return cls_; }

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
    using tapegrad::detail::check;
    // The options first, into a copy checked as the constructor checks them.
    Options options = options_;
    double b1 = std::get<0>(options.betas()), b2 = std::get<1>(options.betas());
    this->require_options(cls_, state, {"lr", "betas.0", "betas.1", "eps", "weight_decay", "amsgrad"});
    for (const auto& o : state.options) {
      check(std::isfinite(o.value), cls_, ": load_state_dict: option \"", o.name, "\" = ", o.value, " is not finite");
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
        check(o.value == 0, cls_, ": load_state_dict: option \"", o.name, "\" = true is not supported");
      } else if (o.name == "foreach" && o.boolean) {
        // the multi-tensor form gives the same numbers
      } else {
        tapegrad::detail::fail(cls_, ": load_state_dict: unknown option \"", o.name, "\"");
      }
    }
    options.betas({b1, b2});
    validate(cls_, options);

    // Then the per-parameter state, into a new list swapped in at the end.
    StateList next(this->params_.size());
    std::vector<uint8_t> seen(this->params_.size() * 4, 0);
    for (const auto& [key, value] : state.tensors) {
      const auto [index, which] = this->parse_state_key(cls_, key, {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"});
      check(!seen[index * 4 + which], cls_, ": load_state_dict: the key \"", key, "\" is given twice");
      check(value.defined(), cls_, ": load_state_dict: \"", key, "\" is an undefined tensor");
      seen[index * 4 + which] = 1;
      State& s = next[index];
      if (which == 0) {
        check(value.numel() == 1, cls_, ": load_state_dict: \"", key, "\" has shape ", value.sizes(), ", not one value");
        const double step = static_cast<double>(value.data()[0]);
        check(step >= 0 && step == std::floor(step) && step < 9.007199254740992e15, cls_, ": load_state_dict: \"", key,
              "\" = ", step, " is not a step count");
        s.step = static_cast<int64_t>(step);
        continue;
      }
      Tensor<T>& slot = which == 1 ? s.exp_avg : which == 2 ? s.exp_avg_sq : s.max_exp_avg_sq;
      slot = this->state_tensor(cls_, key, value, index);
    }
    for (size_t i = 0; i < next.size(); ++i) {
      const uint8_t* has = &seen[i * 4];
      const bool any = has[0] || has[1] || has[2] || has[3];
      const bool needed = has[0] && has[1] && has[2] && (has[3] || !options.amsgrad());
      check(!any || needed, cls_, ": load_state_dict: the state of parameter ", i,
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
    tapegrad::detail::check(grads.size() == this->params_.size(), cls_, ": step got ", grads.size(),
                            " gradients for ", this->params_.size(), " parameters");
    update([&grads](size_t i) { return grads[i]; });
  }

 protected:
  TAPEGRAD_COLD AdamFamily(std::vector<Tensor<T>> params, const Options& options, const char* cls)
      : Optimizer<T>(std::move(params), cls), cls_(cls), options_(options), state_(this->params_.size()) {
    validate(cls, options);
  }

 private:
  TAPEGRAD_COLD static void validate(const char* cls, const Options& options) {
    using tapegrad::detail::check;
    const auto [b1, b2] = options.betas();
    check(options.lr() >= 0, cls, ": invalid learning rate: ", options.lr());
    check(options.eps() >= 0, cls, ": invalid epsilon value: ", options.eps());
    check(b1 >= 0 && b1 < 1, cls, ": invalid beta parameter at index 0: ", b1);
    check(b2 >= 0 && b2 < 1, cls, ": invalid beta parameter at index 1: ", b2);
    check(options.weight_decay() >= 0, cls, ": invalid weight_decay value: ", options.weight_decay());
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
      tapegrad::detail::check(grad.sizes() == params[i].sizes(), cls_, ": gradient ", i, " has shape ", grad.sizes(),
                              " but parameter ", i, " has shape ", params[i].sizes());
      if (state_[i].exp_avg.defined() && state_[i].exp_avg.sizes() != params[i].sizes()) {
        tapegrad::detail::fail(cls_, ": parameter ", i, " changed shape from ", state_[i].exp_avg.sizes(), " to ",
                               params[i].sizes(), " between steps");
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
      if (decoupled && options_.weight_decay() != 0) {  // AdamW: param.mul_(1 - lr * weight_decay)
        const T shrink = static_cast<T>(1 - options_.lr() * options_.weight_decay());
        T* p = params[i].data();
        tapegrad::detail::map_values(p, p, params[i].numel(), [shrink](T v) { return v * shrink; });
      }
      const double bias_correction1 = 1 - std::pow(beta1, s.step);
      const double bias_correction2 = 1 - std::pow(beta2, s.step);
      const T step_size = static_cast<T>(options_.lr() / bias_correction1);
      const T bc2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
      const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
      const T one_minus_b1 = static_cast<T>(1 - beta1), one_minus_b2 = static_cast<T>(1 - beta2);
      const T wd = decoupled ? T(0) : static_cast<T>(options_.weight_decay()), eps = static_cast<T>(options_.eps());
      T *p = params[i].data(), *m = s.exp_avg.data(), *v = s.exp_avg_sq.data();
      T* vmax = amsgrad ? s.max_exp_avg_sq.data() : nullptr;
      const T* g = grad.data();
      // Chunks of whole packets: each element's update is the same instructions on any thread.
      tapegrad::detail::parallel_elementwise(params[i].numel(), [&](int64_t begin, int64_t end) {
        adam_update(p + begin, g + begin, m + begin, v + begin, vmax ? vmax + begin : nullptr, end - begin, b1, b2,
                    one_minus_b1, one_minus_b2, wd, step_size, bc2_sqrt, eps);
      });
    }
  }

  // One parameter's update; each statement is one of PyTorch's in-place ops, element by element,
  // in packets where the instruction set has them (the square root correctly rounded).
  TAPEGRAD_NOINLINE static void adam_update(T* p, const T* g_raw, T* m, T* v, T* vmax, int64_t n, T b1, T b2, T c1, T c2,
                                            T wd, T step_size, T bc2_sqrt, T eps) {
    int64_t j = 0;
#if TAPEGRAD_X86_PACKETS
    using namespace Eigen::internal;
    using P = tapegrad::detail::Packet<T>;
    constexpr int64_t ps = tapegrad::detail::kPacketSize<T>;
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
      pj = padd(pj, pmul(STEP, pdiv(mj, padd(pdiv(tapegrad::detail::exact_psqrt(denom_sq), BC2), EPS))));
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

  const char* cls_;
  Options options_;
  StateList state_;
};

}  // namespace impl

template <class T = float>
class Adam : public impl::AdamFamily<T, AdamOptions, false> {
 public:
  Adam(std::vector<Tensor<T>> params, double lr = 1e-3) : Adam(std::move(params), AdamOptions(lr)) {}
  Adam(std::vector<Tensor<T>> params, const AdamOptions& options)
      : impl::AdamFamily<T, AdamOptions, false>(std::move(params), options, "Adam") {}
};

}  // namespace tapegrad::optim
