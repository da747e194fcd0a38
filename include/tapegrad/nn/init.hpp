#pragma once
// nn::init, as torch.nn.init (PyTorch 1.13): fills in place under no_grad, drawing from the
// default generator in PyTorch's order (Tensor::uniform_ and normal_ are torch's streams), with
// torch's fan computation (fan_in = size(1) * receptive field, fan_out = size(0) * receptive
// field) and gains. Each takes the tensor by handle, as libtorch's, and returns it.
#include <cctype>
#include <cmath>
#include <string>

#include "../core/generator.hpp"

namespace tapegrad::nn::init {

namespace impl {

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// torch's calculate_gain, naming the calling function in its error.
inline double gain_of(const char* op, const std::string& nonlinearity, double param) {
  static const char* const kLinear[] = {"linear",           "conv1d",           "conv2d",          "conv3d",
                                        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid"};
  for (const char* name : kLinear) {
    if (nonlinearity == name) return 1;
  }
  if (nonlinearity == "tanh") return 5.0 / 3;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1 + std::pow(param, 2)));  // negative_slope ** 2
  if (nonlinearity == "selu") return 3.0 / 4;
  detail::fail(op, ": unsupported nonlinearity \"", nonlinearity,
               "\" (linear, conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, sigmoid, "
               "tanh, relu, leaky_relu, selu)");
}

struct Fans {
  double fan_in, fan_out;
};

// _calculate_fan_in_and_fan_out: a weight (out, in, *receptive field).
template <class T>
Fans fans_of(const char* op, const Tensor<T>& t) {
  detail::check(t.dim() >= 2, op, ": fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape ",
                t.sizes());
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive_field *= t.size(d);
  return {static_cast<double>(t.size(1) * receptive_field), static_cast<double>(t.size(0) * receptive_field)};
}

// _calculate_correct_fan: mode "fan_in" or "fan_out", any case.
template <class T>
double fan_of(const char* op, const Tensor<T>& t, const std::string& mode) {
  const std::string m = lower(mode);
  detail::check(m == "fan_in" || m == "fan_out", op, ": mode \"", mode, "\" not supported, please use one of fan_in, fan_out");
  const Fans fans = fans_of(op, t);
  return m == "fan_in" ? fans.fan_in : fans.fan_out;
}

}  // namespace impl

// The recommended gain for a nonlinearity; `param` is leaky_relu's negative slope.
inline double calculate_gain(const std::string& nonlinearity, double param = 0.01) {
  return impl::gain_of("calculate_gain", nonlinearity, param);
}

template <class T>
Tensor<T> uniform_(Tensor<T> t, double a = 0, double b = 1) {
  NoGradGuard no_grad;
  t.uniform_(a, b);
  return t;
}

template <class T>
Tensor<T> normal_(Tensor<T> t, double mean = 0, double stddev = 1) {
  NoGradGuard no_grad;
  t.normal_(mean, stddev);
  return t;
}

template <class T>
Tensor<T> constant_(Tensor<T> t, double value) {
  NoGradGuard no_grad;
  t.fill_(static_cast<T>(value));
  return t;
}

template <class T>
Tensor<T> zeros_(Tensor<T> t) {
  return constant_(t, 0);
}

template <class T>
Tensor<T> ones_(Tensor<T> t) {
  return constant_(t, 1);
}

// U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (computed as torch: sqrt(3) * std).
template <class T>
Tensor<T> xavier_uniform_(Tensor<T> t, double gain = 1) {
  const impl::Fans fans = impl::fans_of("xavier_uniform_", t);
  const double stddev = gain * std::sqrt(2.0 / (fans.fan_in + fans.fan_out));
  const double a = std::sqrt(3.0) * stddev;
  return uniform_(t, -a, a);
}

// N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
template <class T>
Tensor<T> xavier_normal_(Tensor<T> t, double gain = 1) {
  const impl::Fans fans = impl::fans_of("xavier_normal_", t);
  const double stddev = gain * std::sqrt(2.0 / (fans.fan_in + fans.fan_out));
  return normal_(t, 0, stddev);
}

// U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan); a tensor with no elements is left alone
// (torch returns before computing the fan).
template <class T>
Tensor<T> kaiming_uniform_(Tensor<T> t, double a = 0, const std::string& mode = "fan_in",
                            const std::string& nonlinearity = "leaky_relu") {
  if (t.numel() == 0) return t;
  const double fan = impl::fan_of("kaiming_uniform_", t, mode);
  const double gain = impl::gain_of("kaiming_uniform_", nonlinearity, a);
  const double stddev = gain / std::sqrt(fan);
  const double bound = std::sqrt(3.0) * stddev;
  return uniform_(t, -bound, bound);
}

// N(0, std^2), std = gain / sqrt(fan).
template <class T>
Tensor<T> kaiming_normal_(Tensor<T> t, double a = 0, const std::string& mode = "fan_in",
                           const std::string& nonlinearity = "leaky_relu") {
  if (t.numel() == 0) return t;
  const double fan = impl::fan_of("kaiming_normal_", t, mode);
  const double gain = impl::gain_of("kaiming_normal_", nonlinearity, a);
  const double stddev = gain / std::sqrt(fan);
  return normal_(t, 0, stddev);
}

}  // namespace tapegrad::nn::init
