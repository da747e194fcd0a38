#pragma once
// AdamW, number for number with torch.optim.AdamW (single-tensor path): decoupled weight decay
// p *= 1 - lr * weight_decay, then Adam's step without the L2 term (the code is Adam's).
#include "adam.hpp"

namespace tapegrad::optim {

// AdamW's options: Adam's, with torch's default weight_decay 1e-2.
struct AdamWOptions : impl::AdamOptionsBase<AdamWOptions> {
  explicit AdamWOptions(double lr = 1e-3) : AdamOptionsBase(lr, 1e-2) {}
};

template <class T = float>
class AdamW : public impl::AdamFamily<T, AdamWOptions, true> {
 public:
  AdamW(std::vector<Tensor<T>> params, double lr = 1e-3) : AdamW(std::move(params), AdamWOptions(lr)) {}
  AdamW(std::vector<Tensor<T>> params, const AdamWOptions& options)
      : impl::AdamFamily<T, AdamWOptions, true>(std::move(params), options, "AdamW") {}
};

}  // namespace tapegrad::optim
