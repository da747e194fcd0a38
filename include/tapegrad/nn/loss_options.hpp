#pragma once
// The loss options, libtorch's names and setters: not templates, so a weight is held as a
// LossTensor (a Tensor<float> or a Tensor<double>) and checked against the loss's T when used.
#include <string>
#include <utility>

#include "../core/tensor.hpp"

namespace tapegrad::nn {

// A tensor option of a loss (weight, pos_weight): float or double, whichever was given.
class LossTensor {
 public:
  LossTensor() = default;
  LossTensor(Tensor<float> t) : float_(std::move(t)) {}
  LossTensor(Tensor<double> t) : double_(std::move(t)) {}
  bool defined() const { return float_.defined() || double_.defined(); }
  // The tensor for a loss computing in T (undefined if none was given); refuses the other T.
  template <class T>
  const Tensor<T>& get(const char* op, const char* name) const {
    if constexpr (std::is_same_v<T, float>) {
      detail::check(!double_.defined(), op, ": ", name, " is a double tensor but the input is float");
      return float_;
    } else {
      static_assert(std::is_same_v<T, double>, "losses compute in float or double");
      detail::check(!float_.defined(), op, ": ", name, " is a float tensor but the input is double");
      return double_;
    }
  }

 private:
  Tensor<float> float_;
  Tensor<double> double_;
};

// reduction, shared by every loss's options; Derived's setters return Derived&.
template <class Derived>
struct LossReduction {
  Derived& reduction(std::string r) {
    reduction_ = std::move(r);
    return static_cast<Derived&>(*this);
  }
  const std::string& reduction() const { return reduction_; }

 private:
  std::string reduction_ = "mean";
};

// weight, for the losses that take one.
template <class Derived>
struct LossWeight : LossReduction<Derived> {
  Derived& weight(LossTensor w) {
    weight_ = std::move(w);
    return static_cast<Derived&>(*this);
  }
  const LossTensor& weight() const { return weight_; }

 private:
  LossTensor weight_;
};

struct MSELossOptions : LossReduction<MSELossOptions> {
  MSELossOptions() = default;
  MSELossOptions(std::string r) { reduction(std::move(r)); }
};
struct L1LossOptions : LossReduction<L1LossOptions> {
  L1LossOptions() = default;
  L1LossOptions(std::string r) { reduction(std::move(r)); }
};
struct BCELossOptions : LossWeight<BCELossOptions> {};

struct BCEWithLogitsLossOptions : LossWeight<BCEWithLogitsLossOptions> {
  BCEWithLogitsLossOptions& pos_weight(LossTensor w) {
    pos_weight_ = std::move(w);
    return *this;
  }
  const LossTensor& pos_weight() const { return pos_weight_; }

 private:
  LossTensor pos_weight_;
};

struct NLLLossOptions : LossWeight<NLLLossOptions> {
  NLLLossOptions& ignore_index(int64_t i) {
    ignore_index_ = i;
    return *this;
  }
  int64_t ignore_index() const { return ignore_index_; }

 private:
  int64_t ignore_index_ = -100;
};

struct CrossEntropyLossOptions : LossWeight<CrossEntropyLossOptions> {
  CrossEntropyLossOptions& ignore_index(int64_t i) {
    ignore_index_ = i;
    return *this;
  }
  CrossEntropyLossOptions& label_smoothing(double s) {
    label_smoothing_ = s;
    return *this;
  }
  int64_t ignore_index() const { return ignore_index_; }
  double label_smoothing() const { return label_smoothing_; }

 private:
  int64_t ignore_index_ = -100;
  double label_smoothing_ = 0;
};

namespace functional {
// libtorch's names for the functional forms' options
using MSELossFuncOptions = MSELossOptions;
using L1LossFuncOptions = L1LossOptions;
using BinaryCrossEntropyFuncOptions = BCELossOptions;
using BinaryCrossEntropyWithLogitsFuncOptions = BCEWithLogitsLossOptions;
using NLLLossFuncOptions = NLLLossOptions;
using CrossEntropyFuncOptions = CrossEntropyLossOptions;
}  // namespace functional

}  // namespace tapegrad::nn
