#pragma once
// Activation layers and their functional forms: leaky_relu, gelu, silu, and the modules
// LeakyReLU, GELU, SiLU, LogSoftmax, with torch.nn's defaults; the computation is
// ops/activation.hpp's (ReLU, Sigmoid, Tanh and Softmax are in nn/layers.hpp).
#include <string>

#include "../ops/activation.hpp"
#include "../ops/softmax.hpp"
#include "module.hpp"

namespace tapegrad::nn::functional {

// x > 0 ? x : x * negative_slope
template <class T>
Tensor<T> leaky_relu(const Tensor<T>& x, double negative_slope = 0.01) {
  x.checked("leaky_relu");
  return detail::leaky_relu(x, negative_slope);
}

// approximate "none": x/2 (1 + erf(x / sqrt 2)); "tanh": x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
template <class T>
Tensor<T> gelu(const Tensor<T>& x, const std::string& approximate = "none") {
  x.checked("gelu");
  detail::check(approximate == "none" || approximate == "tanh",
                "gelu: approximate argument must be either none or tanh, but got \"", approximate, "\"");
  return detail::gelu(x, approximate == "tanh");
}

// x * sigmoid(x)
template <class T>
Tensor<T> silu(const Tensor<T>& x) {
  x.checked("silu");
  return detail::silu(x);
}

}  // namespace tapegrad::nn::functional

namespace tapegrad::nn {

template <class T = float>
class LeakyReLU : public Module<T> {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor<T> forward(const Tensor<T>& x) override { return functional::leaky_relu(x, negative_slope); }
  double negative_slope;
};

template <class T = float>
class GELU : public Module<T> {
 public:
  // checked here as well, so a bad string fails when the layer is built
  explicit GELU(std::string approximate = "none") : approximate(std::move(approximate)) {
    detail::check(this->approximate == "none" || this->approximate == "tanh",
                  "GELU: approximate argument must be either none or tanh, but got \"", this->approximate, "\"");
  }
  Tensor<T> forward(const Tensor<T>& x) override { return functional::gelu(x, approximate); }
  std::string approximate;
};

template <class T = float>
class SiLU : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return functional::silu(x); }
};

template <class T = float>
class LogSoftmax : public Module<T> {
 public:
  explicit LogSoftmax(int64_t dim = -1) : dim(dim) {}
  Tensor<T> forward(const Tensor<T>& x) override { return log_softmax(x, dim); }
  int64_t dim;
};

// Deduction guides: LeakyReLU(), GELU("tanh") and the rest are the float layers.
LeakyReLU()->LeakyReLU<float>;
LeakyReLU(double)->LeakyReLU<float>;
GELU()->GELU<float>;
GELU(std::string)->GELU<float>;
GELU(const char*)->GELU<float>;
SiLU()->SiLU<float>;
LogSoftmax()->LogSoftmax<float>;
LogSoftmax(int64_t)->LogSoftmax<float>;

}  // namespace tapegrad::nn
