#pragma once
// 2-d convolution: nn::functional::conv2d, where all of its argument checks live, and the
// nn::Conv2d layer with PyTorch's parameters, initialisation and options (libtorch's
// Conv2dOptions). The computation, forward and backward, is ops/convolution.hpp's.
#include <cmath>
#include <string>
#include <type_traits>

#include "../core/expanding_array.hpp"
#include "../core/generator.hpp"
#include "../ops/convolution.hpp"
#include "module.hpp"

namespace tapegrad::nn {
namespace functional {
namespace detail_conv {

// Refuses sizes below `least` (stride, dilation: 1; padding: 0), naming the op and the values.
inline void check_at_least(const char* op, const char* what, const ExpandingArray<2>& v, int64_t least) {
  if (v[0] < least || v[1] < least) {
    detail::fail(op, ": ", what, least > 0 ? " must be positive, got " : " must be non-negative, got ", v.str());
  }
}

// conv2d with the padding before each spatial dim and `extra` more after it (padding="same").
template <class T>
Tensor<T> checked_conv2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, const ExpandingArray<2>& stride,
                         const ExpandingArray<2>& padding, const ExpandingArray<2>& dilation, int64_t groups,
                         const std::array<int64_t, 2>& extra) {
  const Dims& sx = x.checked("conv2d").sizes;
  const Dims& sw = weight.checked("conv2d").sizes;
  if (bias.defined()) bias.checked("conv2d");
  detail::check(groups > 0, "conv2d: groups must be positive, got ", groups);
  check_at_least("conv2d", "stride", stride, 1);
  check_at_least("conv2d", "dilation", dilation, 1);
  check_at_least("conv2d", "padding", padding, 0);
  detail::check(sx.size() == 3 || sx.size() == 4, "conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape ",
                sx);
  detail::check(sw.size() == 4, "conv2d: weight must be 4-D (out_channels, in_channels / groups, kH, kW), got shape ", sw);
  detail::check(sw[2] > 0 && sw[3] > 0, "conv2d: weight shape ", sw, " has an empty kernel");
  // PyTorch takes ints; below 2^31 the padded-size and output-size arithmetic cannot overflow
  const int64_t limit = (int64_t(1) << 31) - 1;
  for (const ExpandingArray<2>* a : {&stride, &padding, &dilation}) {
    detail::check((*a)[0] <= limit && (*a)[1] <= limit, "conv2d: stride ", stride.str(), ", padding ", padding.str(),
                  " and dilation ", dilation.str(), " must each be below 2^31");
  }
  detail::check(groups <= limit, "conv2d: groups must be below 2^31, got ", groups);
  detail::check(sw[0] >= groups, "conv2d: weight shape ", sw, " has ", sw[0], " output channels, fewer than groups = ", groups);
  detail::check(sw[0] % groups == 0, "conv2d: weight shape ", sw, " has ", sw[0], " output channels, not divisible by groups = ",
                groups);
  const bool batched = sx.size() == 4;
  const int64_t C = sx[batched ? 1 : 0], H = sx[batched ? 2 : 1], W = sx[batched ? 3 : 2];
  detail::check(C == sw[1] * groups, "conv2d: input shape ", sx, " has ", C, " channels but weight shape ", sw,
                " with groups = ", groups, " expects ", sw[1] * groups);
  if (bias.defined()) {
    detail::check(bias.sizes() == Dims{sw[0]}, "conv2d: bias shape ", bias.sizes(), " does not match weight shape ", sw,
                  " (expected [", sw[0], "])");
  }
  const int64_t padded_h = H + 2 * padding[0] + extra[0], padded_w = W + 2 * padding[1] + extra[1];
  const int64_t kernel_h = dilation[0] * (sw[2] - 1) + 1, kernel_w = dilation[1] * (sw[3] - 1) + 1;
  if (padded_h < kernel_h || padded_w < kernel_w) {
    detail::fail("conv2d: input shape ", sx, " padded by ", padding.str(), " is (", padded_h, " x ", padded_w,
                 ") per channel, smaller than the kernel (", kernel_h, " x ", kernel_w, ") of weight shape ", sw,
                 " with dilation ", dilation.str());
  }
  const Tensor<T> x4 = batched ? x : x.unsqueeze(0);
  const Tensor<T> y = detail::conv2d(x4, weight, bias, *stride, *padding, *dilation, groups, extra);
  return batched ? y : y.squeeze(0);
}

}  // namespace detail_conv

// 2-d convolution of x (N, C, H, W), or unbatched (C, H, W), with weight
// (out_channels, C / groups, kH, kW) and bias (out_channels) or undefined: output
// (N, out_channels, Ho, Wo), Ho = (H + 2 padding - dilation (kH - 1) - 1) / stride + 1.
template <class T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                 ExpandingArray<2> stride = 1, ExpandingArray<2> padding = 0, ExpandingArray<2> dilation = 1,
                 int64_t groups = 1) {
  return detail_conv::checked_conv2d(x, weight, bias, stride, padding, dilation, groups, {0, 0});
}

// padding "valid" (none) or "same" (the output the input's size; stride 1 only), as PyTorch:
// an odd total padding puts the extra zero at the end.
template <class T, class S,
          std::enable_if_t<std::is_convertible_v<S, std::string> && !std::is_integral_v<S>, int> = 0>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, ExpandingArray<2> stride,
                 S padding_mode, ExpandingArray<2> dilation = 1, int64_t groups = 1) {
  const std::string mode(padding_mode);
  detail::check(mode == "same" || mode == "valid", "conv2d: padding must be \"same\" or \"valid\", got \"", mode, "\"");
  if (mode == "valid") return conv2d(x, weight, bias, stride, 0, dilation, groups);
  detail::check(stride[0] == 1 && stride[1] == 1, "conv2d: padding=\"same\" is not supported for strided convolutions, got stride ",
                stride.str());
  const Dims& sw = weight.checked("conv2d").sizes;
  detail::check(sw.size() == 4, "conv2d: weight must be 4-D (out_channels, in_channels / groups, kH, kW), got shape ", sw);
  detail_conv::check_at_least("conv2d", "dilation", dilation, 1);
  const int64_t total_h = dilation[0] * (sw[2] - 1), total_w = dilation[1] * (sw[3] - 1);
  return detail_conv::checked_conv2d(x, weight, bias, stride, {total_h / 2, total_w / 2}, dilation, groups,
                                     {total_h % 2, total_w % 2});
}

}  // namespace functional

// libtorch's Conv2dOptions: each option a setter returning the options, and a getter.
struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

#define TAPEGRAD_CONV_OPTION(type, name)            \
  Conv2dOptions& name(const type& v) {              \
    name##_ = v;                                    \
    return *this;                                   \
  }                                                 \
  const type& name() const { return name##_; }
  TAPEGRAD_CONV_OPTION(int64_t, in_channels)
  TAPEGRAD_CONV_OPTION(int64_t, out_channels)
  TAPEGRAD_CONV_OPTION(ExpandingArray<2>, kernel_size)
  TAPEGRAD_CONV_OPTION(ExpandingArray<2>, stride)
  TAPEGRAD_CONV_OPTION(ExpandingArray<2>, padding)
  TAPEGRAD_CONV_OPTION(ExpandingArray<2>, dilation)
  TAPEGRAD_CONV_OPTION(int64_t, groups)
  TAPEGRAD_CONV_OPTION(bool, bias)
#undef TAPEGRAD_CONV_OPTION

 private:
  int64_t in_channels_, out_channels_;
  ExpandingArray<2> kernel_size_, stride_ = 1, padding_ = 0, dilation_ = 1;
  int64_t groups_ = 1;
  bool bias_ = true;
};

// y = conv2d(x, weight, bias); weight [out, in / groups, kH, kW] drawn as kaiming_uniform_(a =
// sqrt(5)), then bias [out] from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in / groups * kH *
// kW, as torch.nn.Conv2d's reset_parameters.
template <class T = float>
class Conv2d : public Module<T> {
 public:
  TAPEGRAD_COLD Conv2d(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size, ExpandingArray<2> stride = 1,
                       ExpandingArray<2> padding = 0, ExpandingArray<2> dilation = 1, int64_t groups = 1, bool bias = true)
      : Conv2d(Conv2dOptions(in_channels, out_channels, kernel_size)
                   .stride(stride)
                   .padding(padding)
                   .dilation(dilation)
                   .groups(groups)
                   .bias(bias)) {}

  TAPEGRAD_COLD explicit Conv2d(const Conv2dOptions& options) : options(options) {
    const int64_t in = options.in_channels(), out = options.out_channels(), groups = options.groups();
    detail::check(groups > 0, "Conv2d: groups must be positive, got ", groups);
    detail::check(in > 0 && out > 0, "Conv2d: in_channels and out_channels must be positive, got ", in, " and ", out);
    detail::check(in % groups == 0, "Conv2d: in_channels ", in, " is not divisible by groups ", groups);
    detail::check(out % groups == 0, "Conv2d: out_channels ", out, " is not divisible by groups ", groups);
    functional::detail_conv::check_at_least("Conv2d", "kernel_size", options.kernel_size(), 1);
    functional::detail_conv::check_at_least("Conv2d", "stride", options.stride(), 1);
    functional::detail_conv::check_at_least("Conv2d", "dilation", options.dilation(), 1);
    functional::detail_conv::check_at_least("Conv2d", "padding", options.padding(), 0);
    const ExpandingArray<2>& k = options.kernel_size();
    weight = this->register_parameter("weight", empty<T>({out, in / groups, k[0], k[1]}));
    if (options.bias()) bias = this->register_parameter("bias", empty<T>({out}));
    this->initialize();
  }

  TAPEGRAD_COLD void reset_parameters() override {
    // kaiming_uniform_(a = sqrt(5))'s bound sqrt(3) * (gain / sqrt(fan_in)), rounded as Linear's
    const ExpandingArray<2>& k = options.kernel_size();
    const double fan_in = static_cast<double>(options.in_channels() / options.groups() * k[0] * k[1]), a = std::sqrt(5.0);
    const double gain = std::sqrt(2.0 / (1 + a * a));
    const double weight_bound = std::sqrt(3.0) * (gain / std::sqrt(fan_in));
    const double bias_bound = 1 / std::sqrt(fan_in);
    weight.uniform_(-weight_bound, weight_bound);
    if (bias.defined()) bias.uniform_(-bias_bound, bias_bound);
  }

  TAPEGRAD_COLD ~Conv2d() override {}
  Conv2d(const Conv2d&) = default;
  Conv2d(Conv2d&&) noexcept = default;
  Conv2d& operator=(const Conv2d&) = default;
  Conv2d& operator=(Conv2d&&) noexcept = default;

  Tensor<T> forward(const Tensor<T>& x) override {
    return functional::conv2d(x, weight, bias, options.stride(), options.padding(), options.dilation(), options.groups());
  }

  Conv2dOptions options;
  Tensor<T> weight, bias;
};

// Deduction guides so that Conv2d(1, 8, 3) is Conv2d<float>.
Conv2d(int64_t, int64_t, ExpandingArray<2>)->Conv2d<float>;
Conv2d(int64_t, int64_t, ExpandingArray<2>, ExpandingArray<2>)->Conv2d<float>;
Conv2d(int64_t, int64_t, ExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>)->Conv2d<float>;
Conv2d(int64_t, int64_t, ExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>)->Conv2d<float>;
Conv2d(int64_t, int64_t, ExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>, int64_t)->Conv2d<float>;
Conv2d(int64_t, int64_t, ExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>, int64_t, bool)
    ->Conv2d<float>;
Conv2d(Conv2dOptions)->Conv2d<float>;

}  // namespace tapegrad::nn
