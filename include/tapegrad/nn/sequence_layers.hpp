#pragma once
// The sequence models' layers: Embedding and LayerNorm, with PyTorch's parameters,
// initialisation and semantics.
#include <algorithm>
#include <optional>

#include "../core/generator.hpp"
#include "module.hpp"

namespace tapegrad::nn {

// A table of num_embeddings vectors of embedding_dim values: input an index tensor of any shape
// (*), output (*, embedding_dim). weight [num_embeddings, embedding_dim] drawn from N(0, 1), as
// torch.nn.Embedding's reset_parameters (normal_, torch's stream). With padding_idx (negative
// counts from the end) that row starts at zero and gets no gradient.
template <class T = float>
class Embedding : public Module<T> {
 public:
  TAPEGRAD_COLD Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt)
      : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
    detail::check(num_embeddings >= 0 && embedding_dim >= 0, "Embedding: num_embeddings and embedding_dim must be >= 0, got ",
                  num_embeddings, " and ", embedding_dim);
    if (padding_idx) {
      detail::check(*padding_idx >= -num_embeddings && *padding_idx < num_embeddings, "Embedding: padding_idx ", *padding_idx,
                    " must be within num_embeddings ", num_embeddings);
      this->padding_idx = *padding_idx < 0 ? *padding_idx + num_embeddings : *padding_idx;
    }
    weight = this->register_parameter("weight", empty<T>({num_embeddings, embedding_dim}));
    this->initialize();
  }

  TAPEGRAD_COLD void reset_parameters() override {
    weight.normal_(0, 1);
    if (padding_idx) std::fill_n(weight.data() + *padding_idx * embedding_dim, embedding_dim, T(0));
  }

  TAPEGRAD_COLD ~Embedding() override {}
  Embedding(const Embedding&) = default;
  Embedding(Embedding&&) noexcept = default;
  Embedding& operator=(const Embedding&) = default;
  Embedding& operator=(Embedding&&) noexcept = default;

  Tensor<T> forward(const Tensor<T>& input) override { return functional::embedding(input, weight, padding_idx); }

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  // made non-negative, as PyTorch's
  Tensor<T> weight;
};

// Layer normalisation over the trailing dims normalized_shape (an int for the last dim, or a
// Shape), with learnable weight (ones) and bias (zeros) of that shape when elementwise_affine.
template <class T = float>
class LayerNorm : public Module<T> {
 public:
  TAPEGRAD_COLD explicit LayerNorm(int64_t normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(Shape{normalized_shape}, eps, elementwise_affine) {}
  TAPEGRAD_COLD explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : normalized_shape(std::move(normalized_shape)), eps(eps), elementwise_affine(elementwise_affine) {
    (void)Dims(this->normalized_shape, "LayerNorm");  // refuses a negative size or too many dims
    if (elementwise_affine) {
      weight = this->register_parameter("weight", ones<T>(this->normalized_shape));
      bias = this->register_parameter("bias", zeros<T>(this->normalized_shape));
    }
  }

  TAPEGRAD_COLD ~LayerNorm() override {}
  LayerNorm(const LayerNorm&) = default;
  LayerNorm(LayerNorm&&) noexcept = default;
  LayerNorm& operator=(const LayerNorm&) = default;
  LayerNorm& operator=(LayerNorm&&) noexcept = default;

  Tensor<T> forward(const Tensor<T>& x) override { return functional::layer_norm(x, normalized_shape, weight, bias, eps); }

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor<T> weight, bias;
};

// Deduction guides so that Embedding(10, 4) is Embedding<float> and so on.
Embedding(int64_t, int64_t)->Embedding<float>;
Embedding(int64_t, int64_t, std::optional<int64_t>)->Embedding<float>;
LayerNorm(int64_t)->LayerNorm<float>;
LayerNorm(int64_t, double)->LayerNorm<float>;
LayerNorm(int64_t, double, bool)->LayerNorm<float>;
LayerNorm(Shape)->LayerNorm<float>;
LayerNorm(Shape, double)->LayerNorm<float>;
LayerNorm(Shape, double, bool)->LayerNorm<float>;

}  // namespace tapegrad::nn
