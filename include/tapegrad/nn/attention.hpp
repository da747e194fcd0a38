#pragma once
// nn::MultiheadAttention with PyTorch's parameters, names, initialisation and semantics, so
// weights saved from PyTorch load and give PyTorch's outputs.
#include <utility>

#include "../core/generator.hpp"
#include "functional_attention.hpp"
#include "init.hpp"
#include "layers.hpp"

namespace tapegrad::nn {

// Attention with num_heads heads of embed_dim / num_heads each over (L, N, E) inputs ((N, L, E)
// with batch_first, (L, E) unbatched): in_proj_weight [3E, E] and in_proj_bias [3E] project
// query, key and value (in that order of rows), out_proj (a Linear) the joined heads.
// Initialisation as torch.nn.MultiheadAttention: out_proj draws as a Linear, then
// in_proj_weight is xavier_uniform_, and both biases are zero.
template <class T = float>
class MultiheadAttention : public Module<T> {
 public:
  TAPEGRAD_COLD MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0, bool bias = true,
                                   bool batch_first = false)
      : embed_dim(embed_dim), num_heads(num_heads), head_dim(num_heads > 0 ? embed_dim / num_heads : 0),
        dropout(dropout), batch_first(batch_first) {
    detail::check(embed_dim > 0 && num_heads > 0, "MultiheadAttention: embed_dim and num_heads must be positive, got ",
                  embed_dim, " and ", num_heads);
    detail::check(embed_dim % num_heads == 0, "MultiheadAttention: embed_dim ", embed_dim,
                  " must be divisible by num_heads ", num_heads);
    detail::check(dropout >= 0 && dropout <= 1, "MultiheadAttention: dropout probability has to be between 0 and 1, but got ",
                  dropout);
    Generator& gen = default_generator();
    std::lock_guard lock(gen.mutex());  // out_proj's draws and in_proj's are one stretch
    typename Module<T>::InitDraws draws{gen.snapshot(), 0};
    in_proj_weight = this->register_parameter("in_proj_weight", empty<T>({3 * embed_dim, embed_dim}));
    if (bias) in_proj_bias = this->register_parameter("in_proj_bias", empty<T>({3 * embed_dim}));
    out_proj = this->register_module("out_proj", Linear<T>(embed_dim, embed_dim, bias));
    reset_in_proj();
    draws.end = gen.offset();
    this->set_init_draws(std::move(draws));
  }

  TAPEGRAD_COLD void reset_parameters() override {
    out_proj->reset_parameters();
    reset_in_proj();
  }

  TAPEGRAD_COLD ~MultiheadAttention() override {}
  MultiheadAttention(const MultiheadAttention&) = default;
  MultiheadAttention(MultiheadAttention&&) noexcept = default;
  MultiheadAttention& operator=(const MultiheadAttention&) = default;
  MultiheadAttention& operator=(MultiheadAttention&&) noexcept = default;

  // {output, attention weights}: see functional::multi_head_attention_forward for the shapes
  // and masks (0/1 masks: 1 = masked out; others are added to the scores).
  std::pair<Tensor<T>, Tensor<T>> forward(const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value,
                                          const Tensor<T>& key_padding_mask = Tensor<T>(), bool need_weights = true,
                                          const Tensor<T>& attn_mask = Tensor<T>(), bool average_attn_weights = true) {
    const functional::MultiheadAttentionParameters<T> p{embed_dim,      num_heads,    dropout,          batch_first,
                                                        this->is_training(), in_proj_weight, in_proj_bias,
                                                        out_proj->weight, out_proj->bias};
    return functional::multi_head_attention_forward(query, key, value, p, key_padding_mask, need_weights, attn_mask,
                                                    average_attn_weights);
  }
  using Module<T>::operator();
  std::pair<Tensor<T>, Tensor<T>> operator()(const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value,
                                             const Tensor<T>& key_padding_mask = Tensor<T>(), bool need_weights = true,
                                             const Tensor<T>& attn_mask = Tensor<T>(), bool average_attn_weights = true) {
    return forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights);
  }
  // Self-attention's output, so the module also works where one input gives one output (a Sequential).
  Tensor<T> forward(const Tensor<T>& x) override { return forward(x, x, x, Tensor<T>(), false).first; }

  int64_t embed_dim, num_heads, head_dim;
  double dropout;
  bool batch_first;
  Tensor<T> in_proj_weight, in_proj_bias;
  std::shared_ptr<Linear<T>> out_proj;

 private:
  TAPEGRAD_COLD void reset_in_proj() {
    init::xavier_uniform_(in_proj_weight);
    if (in_proj_bias.defined()) {
      in_proj_bias.zero_();
      out_proj->bias.zero_();
    }
  }
};

MultiheadAttention(int64_t, int64_t)->MultiheadAttention<float>;
MultiheadAttention(int64_t, int64_t, double)->MultiheadAttention<float>;
MultiheadAttention(int64_t, int64_t, double, bool)->MultiheadAttention<float>;
MultiheadAttention(int64_t, int64_t, double, bool, bool)->MultiheadAttention<float>;

}  // namespace tapegrad::nn
