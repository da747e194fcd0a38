#pragma once
// 2-d pooling layers and their functional forms: max_pool2d, avg_pool2d, adaptive_avg_pool2d
// on (N, C, H, W) or (C, H, W), with torch.nn.functional's arguments, defaults and checks; the
// computation is ops/pooling.hpp's.
#include <initializer_list>
#include <optional>

#include "../core/expanding_array.hpp"
#include "../ops/pooling.hpp"
#include "../ops/reduction.hpp"
#include "../ops/shape_ops.hpp"
#include "module.hpp"

namespace tapegrad {

// An ExpandingArray<D> or nothing: a pooling stride, which `{}` (Python's None) leaves to
// default to the kernel size.
template <std::size_t D>
class OptionalExpandingArray {
 public:
  OptionalExpandingArray() = default;
  OptionalExpandingArray(int64_t value) : value_(ExpandingArray<D>(value)) {}                      // NOLINT
  OptionalExpandingArray(std::initializer_list<int64_t> list) : value_(ExpandingArray<D>(list)) {}  // NOLINT
  OptionalExpandingArray(const ExpandingArray<D>& value) : value_(value) {}                        // NOLINT
  bool has_value() const { return value_.has_value(); }
  ExpandingArray<D> value_or(const ExpandingArray<D>& fallback) const { return value_.value_or(fallback); }

 private:
  std::optional<ExpandingArray<D>> value_;
};

namespace detail {

// The planes and spatial sizes of a pooling input, checked as PyTorch checks them: rank 3 or 4,
// channel and spatial sizes non-zero (a batch may be empty).
inline Pool2dGeometry pool2d_input(const Dims& sx, const char* op) {
  check(sx.size() == 3 || sx.size() == 4, op, ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape ", sx);
  const int r = static_cast<int>(sx.size());
  check(sx[r - 1] > 0 && sx[r - 2] > 0 && sx[r - 3] > 0, op,
        ": expected an input with non-zero channel, height and width (the batch may be empty), got shape ", sx);
  Pool2dGeometry geo;
  geo.planes = r == 4 ? sx[0] * sx[1] : sx[0];
  geo.H = sx[r - 2];
  geo.W = sx[r - 1];
  geo.in_shape = sx;
  return geo;
}

// Checks kernel, stride, padding and dilation (PyTorch's pool2d_shape_check) and fills in the
// output size; the message names the op, the input shape and every setting.
inline void pool2d_windows(Pool2dGeometry& geo, const char* op, const ExpandingArray<2>& kernel, const ExpandingArray<2>& stride,
                           const ExpandingArray<2>& padding, const ExpandingArray<2>& dilation, bool ceil_mode) {
  check(kernel[0] > 0 && kernel[1] > 0, op, ": kernel size should be greater than zero, but got kernel ", kernel.str());
  check(stride[0] > 0 && stride[1] > 0, op, ": stride should be greater than zero, but got stride ", stride.str());
  check(dilation[0] > 0 && dilation[1] > 0, op, ": dilation should be greater than zero, but got dilation ", dilation.str());
  check(padding[0] >= 0 && padding[1] >= 0, op, ": padding should be non-negative, but got padding ", padding.str());
  check(padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2, op,
        ": pad should be at most half of kernel size, but got padding ", padding.str(), " for kernel ", kernel.str());
  // PyTorch takes ints; below 2^31 the output-size arithmetic cannot overflow an int64
  const int64_t limit = (int64_t(1) << 31) - 1;
  for (const ExpandingArray<2>* a : {&kernel, &stride, &padding, &dilation}) {
    check((*a)[0] <= limit && (*a)[1] <= limit, op, ": kernel ", kernel.str(), ", stride ", stride.str(), ", padding ",
          padding.str(), " and dilation ", dilation.str(), " must each be below 2^31");
  }
  geo.kh = kernel[0], geo.kw = kernel[1], geo.sh = stride[0], geo.sw = stride[1];
  geo.ph = padding[0], geo.pw = padding[1], geo.dh = dilation[0], geo.dw = dilation[1];
  geo.OH = pooling_output_size(geo.H, geo.kh, geo.ph, geo.sh, geo.dh, ceil_mode);
  geo.OW = pooling_output_size(geo.W, geo.kw, geo.pw, geo.sw, geo.dw, ceil_mode);
  const ExpandingArray<2> out({geo.OH, geo.OW});
  check(geo.OH >= 1 && geo.OW >= 1, op, ": input of shape ", geo.in_shape, " is too small for kernel ", kernel.str(), " (stride ",
        stride.str(), ", padding ", padding.str(), ", dilation ", dilation.str(), "): output size ", out.str());
  geo.out_shape = geo.in_shape;
  const int r = static_cast<int>(geo.out_shape.size());
  geo.out_shape[r - 2] = geo.OH;
  geo.out_shape[r - 1] = geo.OW;
}

}  // namespace detail

namespace nn::functional {

// The max of each (dilated) window, padding as -inf; NaN propagates; stride defaults to the kernel.
template <class T>
Tensor<T> max_pool2d(const Tensor<T>& x, ExpandingArray<2> kernel_size, OptionalExpandingArray<2> stride = {},
                     ExpandingArray<2> padding = 0, ExpandingArray<2> dilation = 1, bool ceil_mode = false) {
  detail::Pool2dGeometry geo = detail::pool2d_input(x.checked("max_pool2d").sizes, "max_pool2d");
  detail::pool2d_windows(geo, "max_pool2d", kernel_size, stride.value_or(kernel_size), padding, dilation, ceil_mode);
  return detail::max_pool2d(x, geo);
}

// The mean of each window: divided by the window's size counting padding (count_include_pad),
// or only the input's values, or by divisor_override.
template <class T>
Tensor<T> avg_pool2d(const Tensor<T>& x, ExpandingArray<2> kernel_size, OptionalExpandingArray<2> stride = {},
                     ExpandingArray<2> padding = 0, bool ceil_mode = false, bool count_include_pad = true,
                     std::optional<int64_t> divisor_override = std::nullopt) {
  detail::AvgPool2dSpec spec;
  spec.geo = detail::pool2d_input(x.checked("avg_pool2d").sizes, "avg_pool2d");
  if (divisor_override) {
    detail::check(*divisor_override != 0, "avg_pool2d: divisor_override must be non-zero, but got 0");
    spec.divisor_override = *divisor_override;
  }
  detail::pool2d_windows(spec.geo, "avg_pool2d", kernel_size, stride.value_or(kernel_size), padding, 1, ceil_mode);
  spec.count_include_pad = count_include_pad;
  return detail::avg_pool2d(x, spec);
}

// The mean over output_size windows that cover the input: window i spans
// [floor(i * H / out), ceil((i + 1) * H / out)).
template <class T>
Tensor<T> adaptive_avg_pool2d(const Tensor<T>& x, ExpandingArray<2> output_size) {
  detail::AvgPool2dSpec spec;
  spec.geo = detail::pool2d_input(x.checked("adaptive_avg_pool2d").sizes, "adaptive_avg_pool2d");
  const int64_t limit = (int64_t(1) << 31) - 1;  // PyTorch's ints; (i + 1) * H cannot overflow
  detail::check(output_size[0] >= 0 && output_size[1] >= 0 && output_size[0] <= limit && output_size[1] <= limit,
                "adaptive_avg_pool2d: output_size must be non-negative and below 2^31, but got ", output_size.str(),
                " for input of shape ", spec.geo.in_shape);
  if (output_size[0] == 1 && output_size[1] == 1) {  // as PyTorch: the mean over H and W (its sum order too)
    Dims flat = spec.geo.in_shape, out = spec.geo.in_shape;
    const int r = static_cast<int>(flat.size());
    flat[r - 2] = spec.geo.H * spec.geo.W;
    flat.erase(r - 1);
    out[r - 2] = out[r - 1] = 1;
    return reshape(mean(reshape(x, flat.to_shape()), -1, true), out.to_shape());
  }
  spec.adaptive = true;
  spec.geo.OH = output_size[0];
  spec.geo.OW = output_size[1];
  spec.geo.out_shape = spec.geo.in_shape;
  const int r = static_cast<int>(spec.geo.out_shape.size());
  spec.geo.out_shape[r - 2] = spec.geo.OH;
  spec.geo.out_shape[r - 1] = spec.geo.OW;
  return detail::avg_pool2d(x, spec);
}

}  // namespace nn::functional

namespace nn {

template <class T = float>
class MaxPool2d : public Module<T> {
 public:
  explicit MaxPool2d(ExpandingArray<2> kernel_size, OptionalExpandingArray<2> stride = {}, ExpandingArray<2> padding = 0,
                     ExpandingArray<2> dilation = 1, bool ceil_mode = false)
      : kernel_size(kernel_size), stride(stride.value_or(kernel_size)), padding(padding), dilation(dilation), ceil_mode(ceil_mode) {}
  // MaxPool2d({3, 2}): without it the braces could also build a MaxPool2d(3, 2) to copy from
  explicit MaxPool2d(std::initializer_list<int64_t> kernel_size) : MaxPool2d(ExpandingArray<2>(kernel_size)) {}
  Tensor<T> forward(const Tensor<T>& x) override {
    return functional::max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode);
  }
  ExpandingArray<2> kernel_size, stride, padding, dilation;
  bool ceil_mode;
};

template <class T = float>
class AvgPool2d : public Module<T> {
 public:
  explicit AvgPool2d(ExpandingArray<2> kernel_size, OptionalExpandingArray<2> stride = {}, ExpandingArray<2> padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true, std::optional<int64_t> divisor_override = std::nullopt)
      : kernel_size(kernel_size),
        stride(stride.value_or(kernel_size)),
        padding(padding),
        ceil_mode(ceil_mode),
        count_include_pad(count_include_pad),
        divisor_override(divisor_override) {}
  explicit AvgPool2d(std::initializer_list<int64_t> kernel_size) : AvgPool2d(ExpandingArray<2>(kernel_size)) {}
  Tensor<T> forward(const Tensor<T>& x) override {
    return functional::avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
  }
  ExpandingArray<2> kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
  std::optional<int64_t> divisor_override;
};

template <class T = float>
class AdaptiveAvgPool2d : public Module<T> {
 public:
  explicit AdaptiveAvgPool2d(ExpandingArray<2> output_size) : output_size(output_size) {}
  Tensor<T> forward(const Tensor<T>& x) override { return functional::adaptive_avg_pool2d(x, output_size); }
  ExpandingArray<2> output_size;
};

// Deduction guides: MaxPool2d(2), MaxPool2d({3, 2}) and the rest are the float layers.
MaxPool2d(ExpandingArray<2>)->MaxPool2d<float>;
MaxPool2d(ExpandingArray<2>, OptionalExpandingArray<2>)->MaxPool2d<float>;
MaxPool2d(ExpandingArray<2>, OptionalExpandingArray<2>, ExpandingArray<2>)->MaxPool2d<float>;
MaxPool2d(ExpandingArray<2>, OptionalExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>)->MaxPool2d<float>;
MaxPool2d(ExpandingArray<2>, OptionalExpandingArray<2>, ExpandingArray<2>, ExpandingArray<2>, bool)->MaxPool2d<float>;
AvgPool2d(ExpandingArray<2>)->AvgPool2d<float>;
AvgPool2d(ExpandingArray<2>, OptionalExpandingArray<2>)->AvgPool2d<float>;
AvgPool2d(ExpandingArray<2>, OptionalExpandingArray<2>, ExpandingArray<2>)->AvgPool2d<float>;
AvgPool2d(ExpandingArray<2>, OptionalExpandingArray<2>, ExpandingArray<2>, bool)->AvgPool2d<float>;
AvgPool2d(ExpandingArray<2>, OptionalExpandingArray<2>, ExpandingArray<2>, bool, bool)->AvgPool2d<float>;
AvgPool2d(ExpandingArray<2>, OptionalExpandingArray<2>, ExpandingArray<2>, bool, bool, std::optional<int64_t>)->AvgPool2d<float>;
AdaptiveAvgPool2d(ExpandingArray<2>)->AdaptiveAvgPool2d<float>;

}  // namespace nn
}  // namespace tapegrad
