#pragma once
// A character-level GPT in nanoGPT's shape (Karpathy's model.py): token and position
// embeddings, pre-LayerNorm blocks of causal self-attention and a GELU MLP, a final LayerNorm
// and a head that is the token embedding (weight tying) or a Linear of its own. Shared by
// examples/char_gpt.cpp, tests/char_gpt_test.cpp and the benchmark; tools/char_gpt_torch.py
// is the same model in PyTorch, module for module, so both draw the same initial weights.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace examples {

namespace tg = tapegrad;

struct GPTConfig {
  int64_t vocab_size = 72;
  int64_t block_size = 64;  // context length
  int64_t n_layer = 4, n_head = 4, n_embd = 128;
  double dropout = 0.0;
  bool tie_weights = true;  // the head's weight is wte's
};

// Multi-head causal self-attention: one Linear to queries, keys and values, the heads through
// scaled_dot_product_attention (is_causal), one Linear back.
template <class T>
class CausalSelfAttention : public tg::nn::Module<T> {
 public:
  explicit CausalSelfAttention(const GPTConfig& c) : n_head(c.n_head), n_embd(c.n_embd), dropout(c.dropout) {
    c_attn = this->register_module("c_attn", tg::nn::Linear<T>(c.n_embd, 3 * c.n_embd));
    c_proj = this->register_module("c_proj", tg::nn::Linear<T>(c.n_embd, c.n_embd));
  }

  // x (B, L, E) -> (B, L, E)
  tg::Tensor<T> forward(const tg::Tensor<T>& x) override {
    const int64_t B = x.size(0), L = x.size(1), E = n_embd, hd = E / n_head;
    const tg::Tensor<T> qkv = (*c_attn)(x);
    auto heads = [&](int64_t i) { return qkv.narrow(-1, i * E, E).view({B, L, n_head, hd}).transpose(1, 2); };
    const double p = this->is_training() ? dropout : 0.0;
    tg::Tensor<T> y = tg::nn::functional::scaled_dot_product_attention(heads(0), heads(1), heads(2), tg::Tensor<T>(), p, true);
    y = y.transpose(1, 2).reshape({B, L, E});
    return tg::nn::functional::dropout((*c_proj)(y), p, this->is_training());
  }

  int64_t n_head, n_embd;
  double dropout;
  std::shared_ptr<tg::nn::Linear<T>> c_attn, c_proj;
};

template <class T>
class MLP : public tg::nn::Module<T> {
 public:
  explicit MLP(const GPTConfig& c) : dropout(c.dropout) {
    c_fc = this->register_module("c_fc", tg::nn::Linear<T>(c.n_embd, 4 * c.n_embd));
    c_proj = this->register_module("c_proj", tg::nn::Linear<T>(4 * c.n_embd, c.n_embd));
  }
  tg::Tensor<T> forward(const tg::Tensor<T>& x) override {
    return tg::nn::functional::dropout((*c_proj)(tg::nn::functional::gelu((*c_fc)(x))), dropout, this->is_training());
  }
  double dropout;
  std::shared_ptr<tg::nn::Linear<T>> c_fc, c_proj;
};

// x + attn(ln_1(x)), then + mlp(ln_2(x)).
template <class T>
class Block : public tg::nn::Module<T> {
 public:
  explicit Block(const GPTConfig& c) {
    ln_1 = this->register_module("ln_1", tg::nn::LayerNorm<T>(c.n_embd));
    attn = this->register_module("attn", CausalSelfAttention<T>(c));
    ln_2 = this->register_module("ln_2", tg::nn::LayerNorm<T>(c.n_embd));
    mlp = this->register_module("mlp", MLP<T>(c));
  }
  tg::Tensor<T> forward(const tg::Tensor<T>& x) override {
    const tg::Tensor<T> h = x + (*attn)((*ln_1)(x));
    return h + (*mlp)((*ln_2)(h));
  }
  std::shared_ptr<tg::nn::LayerNorm<T>> ln_1, ln_2;
  std::shared_ptr<CausalSelfAttention<T>> attn;
  std::shared_ptr<MLP<T>> mlp;
};

template <class T>
class GPT : public tg::nn::Module<T> {
 public:
  explicit GPT(const GPTConfig& c) : config(c) {
    wte = this->register_module("wte", tg::nn::Embedding<T>(c.vocab_size, c.n_embd));
    wpe = this->register_module("wpe", tg::nn::Embedding<T>(c.block_size, c.n_embd));
    h = this->register_module("h", tg::nn::ModuleList<T>());
    for (int64_t i = 0; i < c.n_layer; ++i) h->push_back(Block<T>(c));
    ln_f = this->register_module("ln_f", tg::nn::LayerNorm<T>(c.n_embd));
    if (!c.tie_weights) lm_head = this->register_module("lm_head", tg::nn::Linear<T>(c.n_embd, c.vocab_size, false));
    // nanoGPT's _init_weights, parameter by parameter in named_parameters() order: N(0, 0.02)
    // for Linear and Embedding weights, N(0, 0.02 / sqrt(2 n_layer)) for the projections back
    // into the residual stream (c_proj), zero biases; LayerNorm keeps its ones and zeros.
    for (auto& [name, p] : this->named_parameters()) {
      const bool layer_norm = name.find("ln_") != std::string::npos;
      if (layer_norm) continue;
      if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
        p.zero_();
      } else {
        const bool residual = name.find("c_proj.weight") != std::string::npos;
        p.normal_(0.0, residual ? 0.02 / std::sqrt(2.0 * c.n_layer) : 0.02);
      }
    }
  }

  // idx (B, L) of token indices -> logits (B, L, vocab_size).
  tg::Tensor<T> forward(const tg::Tensor<T>& idx) override {
    const int64_t L = idx.size(1);
    tg::detail::check(L <= config.block_size, "GPT: a sequence of ", L, " tokens is longer than the block size ",
                      config.block_size);
    tg::Tensor<T> pos = tg::empty<T>({L});  // 0, 1, ..., L - 1
    for (int64_t t = 0; t < L; ++t) pos.data()[t] = static_cast<T>(t);
    tg::Tensor<T> x = tg::nn::functional::dropout((*wte)(idx) + (*wpe)(pos), config.dropout, this->is_training());
    for (size_t i = 0; i < h->size(); ++i) x = (*h)[i](x);
    x = (*ln_f)(x);
    return lm_head ? (*lm_head)(x) : tg::nn::functional::linear(x, wte->weight);
  }

  // The parameters AdamW decays (the 2-D ones: weights of Linear and Embedding) and the others,
  // as nanoGPT's configure_optimizers groups them.
  std::pair<std::vector<tg::Tensor<T>>, std::vector<tg::Tensor<T>>> decay_groups() const {
    std::pair<std::vector<tg::Tensor<T>>, std::vector<tg::Tensor<T>>> groups;
    for (const auto& p : this->parameters()) (p.dim() >= 2 ? groups.first : groups.second).push_back(p);
    return groups;
  }

  GPTConfig config;
  std::shared_ptr<tg::nn::Embedding<T>> wte, wpe;
  std::shared_ptr<tg::nn::ModuleList<T>> h;
  std::shared_ptr<tg::nn::LayerNorm<T>> ln_f;
  std::shared_ptr<tg::nn::Linear<T>> lm_head;
};

// nanoGPT's training recipe: AdamW (betas 0.9, 0.99) decaying only the 2-D parameters (two
// optimizers, as torch's two param groups: each parameter's update is its own), the learning
// rate on a cosine from lr down to lr / 10 over max_iters steps, gradients clipped to norm 1.
template <class T>
struct GPTTraining {
  GPTTraining(GPT<T>& model, double lr, int64_t max_iters, double weight_decay = 0.1)
      : model(model),
        decayed(model.decay_groups().first, tg::optim::AdamWOptions(lr).betas({0.9, 0.99}).weight_decay(weight_decay)),
        not_decayed(model.decay_groups().second, tg::optim::AdamWOptions(lr).betas({0.9, 0.99}).weight_decay(0)),
        decayed_schedule(decayed, max_iters, lr / 10),
        not_decayed_schedule(not_decayed, max_iters, lr / 10),
        parameters(model.parameters()) {}

  // One step on a batch: the loss before it.
  T step(const tg::Tensor<T>& x, const tg::Tensor<T>& y) {
    model.train();
    const tg::Tensor<T> logits = model(x);
    const int64_t V = logits.size(-1);
    const tg::Tensor<T> loss = tg::nn::functional::cross_entropy(logits.view({-1, V}), y.view({-1}));
    model.zero_grad();
    loss.backward();
    tg::nn::utils::clip_grad_norm_(parameters, 1.0);
    decayed.step();
    not_decayed.step();
    decayed_schedule.step();
    not_decayed_schedule.step();
    return loss.item();
  }

  GPT<T>& model;
  tg::optim::AdamW<T> decayed, not_decayed;
  tg::optim::CosineAnnealingLR<T> decayed_schedule, not_decayed_schedule;
  std::vector<tg::Tensor<T>> parameters;
};

// The text as token ids and back: the sorted set of the characters it holds.
struct CharVocab {
  std::string chars;
  explicit CharVocab(const std::string& text) {
    bool seen[256] = {};
    for (unsigned char ch : text) seen[ch] = true;
    for (int ch = 0; ch < 256; ++ch) {
      if (seen[ch]) chars.push_back(static_cast<char>(ch));
    }
  }
  int64_t size() const { return static_cast<int64_t>(chars.size()); }
  std::vector<float> encode(const std::string& text) const {
    int index[256];
    for (size_t i = 0; i < chars.size(); ++i) index[static_cast<unsigned char>(chars[i])] = static_cast<int>(i);
    std::vector<float> ids(text.size());
    for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<float>(index[static_cast<unsigned char>(text[i])]);
    return ids;
  }
};

// A batch as nanoGPT's get_batch draws it: B starts from randint(0, n - L) on the default
// generator, x the L tokens from each, y the L tokens one further.
template <class T>
std::pair<tg::Tensor<T>, tg::Tensor<T>> get_batch(const std::vector<float>& data, int64_t B, int64_t L) {
  const tg::Tensor<T> starts = tg::randint<T>(0, static_cast<int64_t>(data.size()) - L, {B});
  tg::Tensor<T> x = tg::empty<T>({B, L}), y = tg::empty<T>({B, L});
  for (int64_t b = 0; b < B; ++b) {
    const auto s = static_cast<int64_t>(starts.data()[b]);
    for (int64_t t = 0; t < L; ++t) {
      x.data()[b * L + t] = static_cast<T>(data[s + t]);
      y.data()[b * L + t] = static_cast<T>(data[s + t + 1]);
    }
  }
  return {x, y};
}

}  // namespace examples
