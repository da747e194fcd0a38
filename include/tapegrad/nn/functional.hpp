#pragma once
// nn's functional forms: every argument check of the layers lives here, with messages that
// name the op and the shapes or values (PyTorch's torch.nn.functional semantics); the
// computation, forward and backward, is the op's in ops/ (libtorch's split).
#include <optional>

#include "../ops/dropout.hpp"
#include "../ops/embedding.hpp"
#include "../ops/layer_norm.hpp"
#include "../ops/linalg.hpp"
#include "../ops/normalization.hpp"
#include "functional_loss.hpp"

namespace tapegrad::nn::functional {

// y = x W^T + b for x (*, in), W (out, in), b (out) or undefined.
template <class T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>()) {
  const Dims& sx = x.checked("linear").sizes;
  const Dims& sw = weight.checked("linear").sizes;
  detail::check(sw.size() == 2, "linear: weight must be 2-D (out_features, in_features), got shape ", sw);
  const int64_t in = sw[1], out = sw[0];
  detail::check(!sx.empty() && sx.back() == in, "linear: input shape ", sx, " does not match weight shape ", sw,
                " (expected the last dim to be in_features = ", in, ")");
  if (bias.defined()) {
    detail::check(bias.sizes() == Dims{out}, "linear: bias shape ", bias.sizes(), " does not match weight shape ", sw,
                  " (expected [", out, "])");
  }
  return detail::linear(x, weight, bias);
}

struct BatchNormOptions {
  bool training = true;
  double momentum = 0.1;
  double eps = 1e-5;
};

// Batch normalisation over (N, C, *) inputs, per channel C (ops/normalization.hpp).
// In training the batch statistics normalise and update running_mean / running_var in place;
// in eval the running statistics normalise. An empty batch gives an empty output and leaves
// the running statistics alone, as in PyTorch.
template <class T>
Tensor<T> batch_norm(const Tensor<T>& x, const Tensor<T>& running_mean, const Tensor<T>& running_var,
                     const Tensor<T>& weight, const Tensor<T>& bias, const BatchNormOptions& opt) {
  const Dims& sx = x.checked("batch_norm").sizes;
  detail::check(sx.size() >= 2, "batch_norm: expected an input of at least 2 dims (N, C, *), got shape ", sx);
  const int64_t N = sx[0], C = sx[1];
  int64_t L = 1;  // values per (n, c): the product of the trailing dims
  for (int d = 2; d < sx.size(); ++d) L *= sx[d];
  const Dims channel{C};
  for (const Tensor<T>* t : {&running_mean, &running_var, &weight, &bias}) {
    if (t->defined()) {
      detail::check(t->sizes() == channel, "batch_norm: input shape ", sx, " has ", C,
                    " channels but a parameter or running statistic has shape ", t->sizes());
    }
  }
  detail::check(running_mean.defined() == running_var.defined(),
                "batch_norm: running_mean and running_var must both be given or both be omitted");
  detail::check(opt.training || running_mean.defined(), "batch_norm: running_mean and running_var are needed in eval mode");
  if (opt.training) {
    // PyTorch refuses exactly one value; an empty batch passes and changes no statistic
    detail::check(N * L != 1, "batch_norm: expected more than 1 value per channel when training, got input of shape ", sx);
  }
  return detail::batch_norm(x, running_mean, running_var, weight, bias, opt.training, opt.momentum, opt.eps);
}

// The rows of weight (num_embeddings, embedding_dim) picked by indices (*), an index tensor of
// integers in [0, num_embeddings): (*, embedding_dim). The weight's gradient adds up the rows of
// repeated indices; the indices get none, nor does the row padding_idx (negative counts from
// the end), as PyTorch's.
template <class T>
Tensor<T> embedding(const Tensor<T>& input, const Tensor<T>& weight, std::optional<int64_t> padding_idx = std::nullopt) {
  input.checked("embedding");
  const Dims& sw = weight.checked("embedding").sizes;
  detail::check(sw.size() == 2, "embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape ", sw);
  detail::check(input.dim() < kMaxDims, "embedding: input of shape ", input.sizes(), " has ", input.dim(),
                " dims; the output would have more than ", kMaxDims);
  return detail::embedding(weight, input, detail::embedding_padding_row(padding_idx, sw[0]));
}

// Normalises x over its trailing dims `normalized_shape` (biased variance, eps added), then
// scales by weight and shifts by bias, both of shape normalized_shape or undefined.
template <class T>
Tensor<T> layer_norm(const Tensor<T>& x, const Shape& normalized_shape, const Tensor<T>& weight = Tensor<T>(),
                     const Tensor<T>& bias = Tensor<T>(), double eps = 1e-5) {
  const Dims& sx = x.checked("layer_norm").sizes;
  const Dims norm(normalized_shape, "layer_norm");
  detail::check(!norm.empty(), "layer_norm: expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                "element, but got normalized_shape = ", norm);
  bool fits = sx.size() >= norm.size();
  for (int i = 0; fits && i < norm.size(); ++i) fits = sx[sx.size() - norm.size() + i] == norm[i];
  if (!fits) {
    std::string expected = "[*";
    for (int64_t d : norm) expected += ", " + std::to_string(d);
    detail::fail("layer_norm: given normalized_shape=", norm, ", expected input with shape ", expected, "], but got input of size ", sx);
  }
  for (const auto& [name, t] : {std::pair<const char*, const Tensor<T>*>{"weight", &weight}, {"bias", &bias}}) {
    if (t->defined()) {
      detail::check(t->sizes() == norm, "layer_norm: expected ", name, " of shape ", norm, " (normalized_shape), but got ", name,
                    " of shape ", t->sizes());
    }
  }
  return detail::layer_norm(x, normalized_shape, weight, bias, eps);
}

// Inverted dropout: in training, zeroes each element with probability p (mask drawn by
// bernoulli_(1 - p), PyTorch's stream) and scales the rest by 1 / (1 - p).
template <class T>
Tensor<T> dropout(const Tensor<T>& x, double p = 0.5, bool training = true) {
  x.checked("dropout");
  detail::check(p >= 0 && p <= 1, "dropout: probability has to be between 0 and 1, but got ", p);
  return detail::dropout(x, p, training);
}

}  // namespace tapegrad::nn::functional
