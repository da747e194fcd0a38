#pragma once
// Attention: scaled_dot_product_attention (PyTorch 2's functional, computed as PyTorch 1.13's
// MultiheadAttention computes it) and multi_head_attention_forward, the body of
// nn::MultiheadAttention. Both are compositions of recorded ops (bmm, softmax, dropout, linear,
// transpose), so every gradient is differentiable again; their own code is the argument checks
// and the masks.
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "../ops/reduction.hpp"
#include "../ops/softmax.hpp"
#include "functional.hpp"

namespace tapegrad::nn::functional {

namespace detail {
using namespace tapegrad::detail;

// A mask whose every value is 0 or 1 is boolean; any other mask is added to the scores.
template <class T>
bool is_boolean_mask(const Tensor<T>& mask) {
  const T* p = mask.data();
  for (int64_t i = 0, n = mask.numel(); i < n; ++i) {
    if (p[i] != T(0) && p[i] != T(1)) return false;
  }
  return true;
}

// A boolean mask as the additive one it stands for: 0 where attention goes, -inf where it does
// not (`masked_value` is the mask's value that forbids: 0 for SDPA, 1 for MultiheadAttention).
template <class T>
Tensor<T> additive_mask(const Tensor<T>& mask, T masked_value) {
  const T minus_inf = -std::numeric_limits<T>::infinity();
  return map_tensor(mask, [masked_value, minus_inf](T m) { return m == masked_value ? minus_inf : T(0); });
}

// softmax(q k^T / sqrt(E) + mask) v for checked q (..., L, E), k (..., S, E), v (..., S, Ev) and
// an additive mask that broadcasts to (..., L, S) or none, or with `causal` the mask of
// is_causal (query i sees keys j <= i, ones(L, S).tril()) applied inside the softmax; dropout p
// on the weights. Returns the output and the weights (after dropout), in 1.13's order of
// operations: q / sqrt(E) first.
template <class T>
std::pair<Tensor<T>, Tensor<T>> attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                          const Tensor<T>& additive, double dropout_p, bool causal = false) {
  const T scale = static_cast<T>(std::sqrt(static_cast<double>(q.sizes().back())));
  Tensor<T> scores = bmm(q / scale, false, k, true);
  if (additive.defined()) scores = scores + additive;
  Tensor<T> weights = causal ? causal_softmax(scores) : softmax(scores, -1);
  if (dropout_p > 0) weights = dropout(weights, dropout_p, true);
  return {bmm(weights, false, v, false), weights};
}

}  // namespace detail

// Attention of queries q (..., L, E) over keys k (..., S, E) and values v (..., S, Ev): output
// (..., L, Ev) = softmax(q k^T / sqrt(E) + mask) v, batch dims broadcast. attn_mask broadcasts to
// (..., L, S): a mask of only 0/1 values is boolean, 1 where attention is allowed (PyTorch's
// True); any other mask is added to the scores. is_causal masks key j > query i. dropout_p
// zeroes weights with PyTorch's stream (pass 0 in eval, as PyTorch's functional asks). A query
// that may see no key gets NaN, as in PyTorch.
template <class T>
Tensor<T> scaled_dot_product_attention(const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value,
                                       const Tensor<T>& attn_mask = Tensor<T>(), double dropout_p = 0,
                                       bool is_causal = false) {
  const char* op = "scaled_dot_product_attention";
  const Dims& sq = query.checked(op).sizes;
  const Dims& sk = key.checked(op).sizes;
  const Dims& sv = value.checked(op).sizes;
  tapegrad::detail::check(sq.size() >= 2 && sk.size() >= 2 && sv.size() >= 2, op,
                          ": query, key and value need at least 2 dims (..., L, E), got shapes ", sq, ", ", sk, " and ", sv);
  tapegrad::detail::check(sq.back() == sk.back(), op, ": query shape ", sq, " and key shape ", sk,
                          " must have the same embedding size (last dim)");
  tapegrad::detail::check(sk[sk.size() - 2] == sv[sv.size() - 2], op, ": key shape ", sk, " and value shape ", sv,
                          " must have the same sequence length (dim -2)");
  tapegrad::detail::check(dropout_p >= 0 && dropout_p <= 1, op, ": dropout_p has to be between 0 and 1, but got ", dropout_p);
  Dims batch = tapegrad::detail::broadcast_shape(Dims(sq.begin(), sq.end() - 2, op), Dims(sk.begin(), sk.end() - 2, op), op);
  batch = tapegrad::detail::broadcast_shape(batch, Dims(sv.begin(), sv.end() - 2, op), op);
  Dims scores = batch;
  scores.push_back(sq[sq.size() - 2], op);
  scores.push_back(sk[sk.size() - 2], op);
  Tensor<T> additive;
  if (attn_mask.defined()) {
    const Dims& sm = attn_mask.checked(op).sizes;
    tapegrad::detail::check(!is_causal, op, ": an explicit attn_mask (shape ", sm, ") should not be given with is_causal=true");
    const bool fits = sm.size() <= scores.size() &&
                      [&] {
                        for (int i = 1; i <= sm.size(); ++i) {
                          if (sm[sm.size() - i] != 1 && sm[sm.size() - i] != scores[scores.size() - i]) return false;
                        }
                        return true;
                      }();
    tapegrad::detail::check(fits, op, ": attn_mask of shape ", sm, " does not broadcast to the attention scores' shape ", scores);
    additive = detail::is_boolean_mask(attn_mask) ? detail::additive_mask(attn_mask, T(0)) : attn_mask;
  }
  return detail::attention(query, key, value, additive, dropout_p, is_causal).first;
}

// What multi_head_attention_forward needs besides the inputs: MultiheadAttention's settings and
// parameters (in_proj_weight [3E, E], in_proj_bias [3E] or undefined, out_proj's weight and bias).
template <class T>
struct MultiheadAttentionParameters {
  int64_t embed_dim, num_heads;
  double dropout;
  bool batch_first, training;
  Tensor<T> in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias;
};

// torch.nn.functional.multi_head_attention_forward of PyTorch 1.13 (MultiheadAttention's slow
// path, which its fast path equals): query (L, N, E) (or (N, L, E) with batch_first, or (L, E)
// unbatched), key and value (S, N, E); key_padding_mask (N, S) or (S); attn_mask (L, S) or
// (N * num_heads, L, S). A 0/1 mask is boolean, 1 = masked out; any other mask is added to the
// scores. Returns {output, weights}: weights (N, L, S) averaged over heads, (N, num_heads, L, S)
// when not, undefined when need_weights is false.
template <class T>
std::pair<Tensor<T>, Tensor<T>> multi_head_attention_forward(Tensor<T> query, Tensor<T> key, Tensor<T> value,
                                                              const MultiheadAttentionParameters<T>& p,
                                                              Tensor<T> key_padding_mask = Tensor<T>(),
                                                              bool need_weights = true, Tensor<T> attn_mask = Tensor<T>(),
                                                              bool average_attn_weights = true) {
  using tapegrad::detail::check;
  const char* op = "MultiheadAttention";
  const bool self_attention = query.impl() == key.impl() && key.impl() == value.impl();
  const bool kv_same = key.impl() == value.impl();
  const Dims sq = query.checked(op).sizes, sk = key.checked(op).sizes, sv = value.checked(op).sizes;
  check(sq.size() == 2 || sq.size() == 3, op, ": query should be unbatched 2-D or batched 3-D, got shape ", sq);
  check(sk.size() == sq.size() && sv.size() == sq.size(), op, ": for a ", sq.size(), "-D query of shape ", sq,
        ", expected key and value of ", sq.size(), " dims, got shapes ", sk, " and ", sv);
  check(sk == sv, op, ": key shape ", sk, " does not match value shape ", sv);
  check(sq.back() == p.embed_dim && sk.back() == p.embed_dim, op, ": expected query, key and value of embedding size ",
        p.embed_dim, " (the last dim), got shapes ", sq, " and ", sk);
  const bool batched = sq.size() == 3;
  const int b = batched && p.batch_first ? 0 : 1;  // the batch dim of a batched input
  if (batched) {
    check(sq[b] == sk[b], op, ": query shape ", sq, " and key shape ", sk, " have different batch sizes");
  }
  const int64_t E = p.embed_dim, H = p.num_heads, hd = E / H;
  const int64_t N = batched ? sq[b] : 1, L = sq[batched ? 1 - b : 0], S = sk[batched ? 1 - b : 0];
  if (key_padding_mask.defined()) {
    const Dims& sm = key_padding_mask.checked(op).sizes;
    const Dims expected = batched ? Dims{N, S} : Dims{S};
    check(sm == expected, op, ": expected key_padding_mask of shape ", expected, " (batch, source length), got ", sm);
  }
  if (attn_mask.defined()) {
    const Dims& sm = attn_mask.checked(op).sizes;
    check(sm == Dims{L, S} || sm == Dims{N * H, L, S}, op, ": expected attn_mask of shape ", Dims{L, S}, " or ",
          Dims{N * H, L, S}, " (batch * num_heads, target length, source length), got ", sm);
  }

  // (L, N, E) as 1.13 computes: batch_first and unbatched inputs are brought to it first
  auto seq_first = [&](const Tensor<T>& x) { return !batched ? unsqueeze(x, 1) : p.batch_first ? transpose(x, 0, 1) : x; };
  query = seq_first(query);
  key = self_attention ? query : seq_first(key);
  value = kv_same ? key : seq_first(value);

  // in-projection: one product for self-attention, as 1.13's _in_projection_packed
  const Tensor<T>& w = p.in_proj_weight;
  const Tensor<T>& bias = p.in_proj_bias;
  auto rows = [](const Tensor<T>& t, int64_t start, int64_t n) { return t.defined() ? narrow(t, 0, start, n) : t; };
  Tensor<T> q, k, v;
  if (self_attention) {
    Tensor<T> qkv = linear(query, w, bias);
    q = narrow(qkv, -1, 0, E), k = narrow(qkv, -1, E, E), v = narrow(qkv, -1, 2 * E, E);
  } else if (kv_same) {
    q = linear(query, rows(w, 0, E), rows(bias, 0, E));
    Tensor<T> kv = linear(key, rows(w, E, 2 * E), rows(bias, E, 2 * E));
    k = narrow(kv, -1, 0, E), v = narrow(kv, -1, E, E);
  } else {
    q = linear(query, rows(w, 0, E), rows(bias, 0, E));
    k = linear(key, rows(w, E, E), rows(bias, E, E));
    v = linear(value, rows(w, 2 * E, E), rows(bias, 2 * E, E));
  }

  // the masks merged into one additive mask (N * H or 1, L or 1, S)
  Tensor<T> additive;
  if (attn_mask.defined()) {
    if (attn_mask.dim() == 2) attn_mask = unsqueeze(attn_mask, 0);
    additive = detail::is_boolean_mask(attn_mask) ? detail::additive_mask(attn_mask, T(1)) : attn_mask;
  }
  if (key_padding_mask.defined()) {
    // (N, S) repeated per head: (N * H, 1, S)
    Tensor<T> kpm = detail::make_tensor<T>(Dims{N * H, 1, S});
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t h = 0; h < H; ++h) std::copy_n(key_padding_mask.data() + n * S, S, kpm.data() + (n * H + h) * S);
    }
    if (detail::is_boolean_mask(kpm)) kpm = detail::additive_mask(kpm, T(1));
    additive = additive.defined() ? additive + kpm : kpm;
  }

  // heads: (L, N, E) -> (N * H, L, hd)
  auto heads = [&](const Tensor<T>& x, int64_t len) { return transpose(view(x, {len, N * H, hd}), 0, 1); };
  auto [out, weights] = detail::attention(heads(q, L), heads(k, S), heads(v, S), additive,
                                          p.training ? p.dropout : 0.0);
  out = view(transpose(out, 0, 1), {L * N, E});
  out = view(linear(out, p.out_proj_weight, p.out_proj_bias), {L, N, E});
  if (!batched) {
    out = squeeze(out, 1);
  } else if (p.batch_first) {
    out = transpose(out, 0, 1);
  }
  if (!need_weights) return {out, Tensor<T>()};
  weights = view(weights, {N, H, L, S});
  if (average_attn_weights) weights = sum(weights, 1) / static_cast<T>(H);
  if (!batched) weights = squeeze(weights, 0);
  return {out, weights};
}

}  // namespace tapegrad::nn::functional
