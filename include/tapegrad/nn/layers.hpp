#pragma once
// The layers: Linear, BatchNorm1d, BatchNorm2d, Dropout, Flatten, and the activations ReLU, Sigmoid, Tanh, Softmax, each
// with PyTorch's parameters, initialisation and semantics.
#include <cmath>

#include "../core/generator.hpp"
#include "module.hpp"

namespace tapegrad::nn {

// y = x W^T + b; weight [out, in] and bias [out] drawn from U(-1/sqrt(in), 1/sqrt(in)),
// weight first, as torch.nn.Linear's default initialisation does.
template <class T = float>
class Linear : public Module<T> {
 public:
  TAPEGRAD_COLD Linear(int64_t in_features, int64_t out_features, bool bias = true)
      : in_features(in_features), out_features(out_features) {
    detail::check(in_features >= 0 && out_features >= 0, "Linear: in_features and out_features must be >= 0, got ",
                  in_features, " and ", out_features);
    weight = this->register_parameter("weight", empty<T>({out_features, in_features}));
    if (bias) this->bias = this->register_parameter("bias", empty<T>({out_features}));
    this->initialize();
  }

  TAPEGRAD_COLD void reset_parameters() override {
    // The weight bound as kaiming_uniform_(a=sqrt(5)) rounds it, sqrt(3) * gain / sqrt(fan_in):
    // 1/sqrt(in) up to an ulp or two, which double weights would show in their last bits.
    const double fan_in = static_cast<double>(in_features), a = std::sqrt(5.0);
    const double gain = std::sqrt(2.0 / (1 + a * a));
    const double weight_bound = in_features > 0 ? std::sqrt(3.0) * (gain / std::sqrt(fan_in)) : 0.0;
    const double bias_bound = in_features > 0 ? 1 / std::sqrt(fan_in) : 0.0;
    weight.uniform_(-weight_bound, weight_bound);
    if (bias.defined()) bias.uniform_(-bias_bound, bias_bound);
  }

  TAPEGRAD_COLD ~Linear() override {}
  Linear(const Linear&) = default;
  Linear(Linear&&) noexcept = default;
  Linear& operator=(const Linear&) = default;
  Linear& operator=(Linear&&) noexcept = default;

  Tensor<T> forward(const Tensor<T>& x) override { return functional::linear(x, weight, bias); }

  int64_t in_features, out_features;
  Tensor<T> weight, bias;
};

// Batch normalisation per channel of (N, C, *) with learnable weight (1) and bias (0), and
// running statistics used in eval mode: what BatchNorm1d and BatchNorm2d share, each adding
// its check of the input's rank.
template <class T>
class BatchNormBase : public Module<T> {
 public:
  TAPEGRAD_COLD BatchNormBase(const char* name, int64_t num_features, double eps, double momentum)
      : num_features(num_features), eps(eps), momentum(momentum) {
    detail::check(num_features > 0, name, ": num_features must be positive, got ", num_features);
    weight = this->register_parameter("weight", ones<T>({num_features}));
    bias = this->register_parameter("bias", zeros<T>({num_features}));
    running_mean = this->register_buffer("running_mean", zeros<T>({num_features}));
    running_var = this->register_buffer("running_var", ones<T>({num_features}));
    num_batches_tracked = this->register_buffer("num_batches_tracked", zeros<T>({}), /*integral=*/true);
  }

  TAPEGRAD_COLD ~BatchNormBase() override {}
  BatchNormBase(const BatchNormBase&) = default;
  BatchNormBase(BatchNormBase&&) noexcept = default;
  BatchNormBase& operator=(const BatchNormBase&) = default;
  BatchNormBase& operator=(BatchNormBase&&) noexcept = default;

  Tensor<T> forward(const Tensor<T>& x) override {
    functional::BatchNormOptions opt;
    opt.training = this->is_training();
    opt.eps = eps;
    opt.momentum = momentum;
    Tensor<T> y = functional::batch_norm(x, running_mean, running_var, weight, bias, opt);
    if (opt.training) num_batches_tracked.data()[0] += 1;  // after the checks: a failed call changes nothing
    return y;
  }

  int64_t num_features;
  double eps, momentum;
  Tensor<T> weight, bias, running_mean, running_var, num_batches_tracked;
};

// Batch normalisation over (N, C) or (N, C, L).
template <class T = float>
class BatchNorm1d : public BatchNormBase<T> {
 public:
  TAPEGRAD_COLD explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1)
      : BatchNormBase<T>("BatchNorm1d", num_features, eps, momentum) {}

  Tensor<T> forward(const Tensor<T>& x) override {
    const Dims& sx = x.checked("batch_norm").sizes;
    detail::check(sx.size() == 2 || sx.size() == 3, "batch_norm: expected 2D or 3D input (N, C) or (N, C, L), got shape ", sx);
    return BatchNormBase<T>::forward(x);
  }
};

// Batch normalisation over (N, C, H, W), per channel over N, H and W.
template <class T = float>
class BatchNorm2d : public BatchNormBase<T> {
 public:
  TAPEGRAD_COLD explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1)
      : BatchNormBase<T>("BatchNorm2d", num_features, eps, momentum) {}

  Tensor<T> forward(const Tensor<T>& x) override {
    const Dims& sx = x.checked("BatchNorm2d").sizes;
    detail::check(sx.size() == 4, "BatchNorm2d: expected 4D input (got ", static_cast<int64_t>(sx.size()), "D input of shape ", sx, ")");
    return BatchNormBase<T>::forward(x);
  }
};

// The seed's name for BatchNorm1d. A subclass rather than an alias so that BatchNorm(20)
// deduces its T in C++17 (alias templates only deduce from C++20 on); it adds nothing.
template <class T = float>
class BatchNorm : public BatchNorm1d<T> {
 public:
  using BatchNorm1d<T>::BatchNorm1d;
};

template <class T = float>
class Dropout : public Module<T> {
 public:
  explicit Dropout(double p = 0.5) : p(p) {
    detail::check(p >= 0 && p <= 1, "Dropout: probability has to be between 0 and 1, but got ", p);
  }
  Tensor<T> forward(const Tensor<T>& x) override { return functional::dropout(x, p, this->is_training()); }
  double p;
};

template <class T = float>
class ReLU : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return relu(x); }
};

template <class T = float>
class Sigmoid : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return sigmoid(x); }
};

template <class T = float>
class Tanh : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return tanh(x); }
};

template <class T = float>
class Softmax : public Module<T> {
 public:
  explicit Softmax(int64_t dim = -1) : dim(dim) {}
  Tensor<T> forward(const Tensor<T>& x) override { return softmax(x, dim); }
  int64_t dim;
};

// Merges dims start_dim..end_dim: by default each example of a batch into one row.
template <class T = float>
class Flatten : public Module<T> {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor<T> forward(const Tensor<T>& x) override { return flatten(x, start_dim, end_dim); }
  int64_t start_dim, end_dim;
};

// Deduction guides so that Linear(10, 20) is Linear<float> and so on.
Linear(int64_t, int64_t)->Linear<float>;
Linear(int64_t, int64_t, bool)->Linear<float>;
BatchNorm1d(int64_t)->BatchNorm1d<float>;
BatchNorm1d(int64_t, double)->BatchNorm1d<float>;
BatchNorm1d(int64_t, double, double)->BatchNorm1d<float>;
BatchNorm2d(int64_t)->BatchNorm2d<float>;
BatchNorm2d(int64_t, double)->BatchNorm2d<float>;
BatchNorm2d(int64_t, double, double)->BatchNorm2d<float>;
BatchNorm(int64_t)->BatchNorm<float>;
BatchNorm(int64_t, double)->BatchNorm<float>;
BatchNorm(int64_t, double, double)->BatchNorm<float>;
Dropout()->Dropout<float>;
Dropout(double)->Dropout<float>;
ReLU()->ReLU<float>;
Sigmoid()->Sigmoid<float>;
Tanh()->Tanh<float>;
Softmax()->Softmax<float>;
Softmax(int64_t)->Softmax<float>;
Flatten()->Flatten<float>;
Flatten(int64_t)->Flatten<float>;
Flatten(int64_t, int64_t)->Flatten<float>;

}  // namespace tapegrad::nn
