// Attention: scaled_dot_product_attention and MultiheadAttention gradchecked and
// gradgradchecked in double, against PyTorch in float and double (tools/gen_attention_golden.py
// writes tests/golden/attention.txt: SDPA's outputs and gradients with every mask kind,
// MultiheadAttention's initial weights after manual_seed, its outputs, weights and every
// gradient with PyTorch's parameters loaded, dropout's stream), and their error messages.
#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace F = tg::nn::functional;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;
using Inputs = std::vector<Td>;

namespace {

// The golden tensor `name` if the file has it, else an undefined tensor.
template <class T>
tg::Tensor<T> optional_golden(const Golden& g, const std::string& name) {
  return g.count(name) ? golden_tensor<T>(g, name) : tg::Tensor<T>();
}

// A golden case's parameters "<prefix>param.<key>" as a state dict.
template <class T>
std::vector<std::pair<std::string, tg::Tensor<T>>> golden_state(const Golden& g, const std::string& prefix) {
  std::vector<std::pair<std::string, tg::Tensor<T>>> sd;
  for (const auto& [name, value] : g) {
    if (name.rfind(prefix + "param.", 0) == 0) sd.push_back({name.substr(prefix.size() + 6), to_tensor<T>(value)});
  }
  return sd;
}

}  // namespace

// ---- gradcheck and gradgradcheck ---------------------------------------------------------------

TEST_CASE("gradcheck: scaled_dot_product_attention in q, k, v, with no mask, an additive mask, causal, boolean") {
  tg::manual_seed(1401);
  Td q = leaf_randn({2, 3, 4}), k = leaf_randn({2, 5, 4}), v = leaf_randn({2, 5, 3});
  Td additive = leaf_randn({1, 3, 5});
  const Td allowed = tg::tensor<double>({1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0}, {3, 5});
  require_gradcheck([](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2]); }, {q, k, v});
  require_gradcheck([](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2], in[3]); },
                    {q, k, v, additive});
  require_gradcheck([&](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2], allowed); }, {q, k, v});
  Td qc = leaf_randn({2, 5, 4});
  require_gradcheck([](const Inputs& in) { return F::scaled_dot_product_attention(in[0], in[1], in[2], Td(), 0, true); },
                    {qc, k, v});
}

TEST_CASE("gradcheck: multi_head_attention_forward in the inputs and every parameter") {
  tg::manual_seed(1402);
  const int64_t E = 4, H = 2;
  Td x = leaf_randn({3, 2, E}), kv = leaf_randn({3, 4, E});  // batch first: N = 3, L = 2, S = 4
  Td w_in = leaf_randn({3 * E, E}), b_in = leaf_randn({3 * E}), w_out = leaf_randn({E, E}), b_out = leaf_randn({E});
  auto params = [&](const Inputs& in, bool batch_first) {
    return F::MultiheadAttentionParameters<double>{E, H, 0.0, batch_first, true, in[1], in[2], in[3], in[4]};
  };
  const Td kpm = tg::tensor<double>({0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1}, {3, 4});
  // self-attention (one packed product), outputs and averaged weights both checked
  require_gradcheck([&](const Inputs& in) {
    auto [out, weights] = F::multi_head_attention_forward(in[0], in[0], in[0], params(in, false));
    return out.sum() + (weights * weights).sum();
  }, {x, w_in, b_in, w_out, b_out});
  // cross-attention with a key padding mask, batch first, per-head weights
  require_gradcheck([&](const Inputs& in) {
    auto [out, weights] = F::multi_head_attention_forward(in[0], in[5], in[5], params(in, true), kpm, true, Td(), false);
    return out.sum() + (weights * weights).sum();
  }, {x, w_in, b_in, w_out, b_out, kv});
}

// ---- against PyTorch ---------------------------------------------------------------------------

TEMPLATE_TEST_CASE("scaled_dot_product_attention matches PyTorch, forward and backward", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("attention.txt");
  for (const std::string name : {"sdpa_plain", "sdpa_2d", "sdpa_bool_mask", "sdpa_float_mask", "sdpa_causal",
                                 "sdpa_causal_rect", "sdpa_broadcast"}) {
    const std::string p = name + "." + dtype_tag<T>() + ".";
    INFO(p);
    auto q = golden_tensor<T>(g, p + "q").requires_grad_();
    auto k = golden_tensor<T>(g, p + "k").requires_grad_();
    auto v = golden_tensor<T>(g, p + "v").requires_grad_();
    auto mask = optional_golden<T>(g, p + "mask");
    const bool additive = g.count(p + "grad_mask") > 0;
    if (additive) mask.requires_grad_();
    const bool causal = name.find("causal") != std::string::npos;
    auto out = F::scaled_dot_product_attention(q, k, v, mask, 0, causal);
    expect_golden(out, g, p + "out", rtol_of<T>(), atol_of<T>());
    out.backward(golden_tensor<T>(g, p + "gout"));
    expect_golden(q.grad(), g, p + "grad_q", rtol_of<T>(), atol_of<T>());
    expect_golden(k.grad(), g, p + "grad_k", rtol_of<T>(), atol_of<T>());
    expect_golden(v.grad(), g, p + "grad_v", rtol_of<T>(), atol_of<T>());
    if (additive) expect_golden(mask.grad(), g, p + "grad_mask", rtol_of<T>(), atol_of<T>());
  }
}

TEMPLATE_TEST_CASE("scaled_dot_product_attention's dropout draws PyTorch's stream", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("attention.txt");
  const std::string p = "sdpa_dropout." + dtype_tag<T>() + ".";
  tg::manual_seed(321);
  auto out = F::scaled_dot_product_attention(golden_tensor<T>(g, p + "q"), golden_tensor<T>(g, p + "k"),
                                             golden_tensor<T>(g, p + "v"), tg::Tensor<T>(), 0.4);
  expect_golden(out, g, p + "out", rtol_of<T>(), atol_of<T>());
}

TEMPLATE_TEST_CASE("MultiheadAttention's initial parameters are PyTorch's after manual_seed", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("attention.txt");
  const std::string tag = dtype_tag<T>();
  tg::manual_seed(7);
  tg::nn::MultiheadAttention<T> mha(8, 2);
  const auto named = mha.named_parameters();
  REQUIRE(named.size() == 4);
  const std::vector<std::string> keys{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"};
  for (size_t i = 0; i < keys.size(); ++i) {
    CHECK(named[i].first == keys[i]);
    expect_golden(named[i].second, g, "mha_init." + tag + "." + keys[i], rtol_of<T>(), 0);
  }
  tg::manual_seed(8);
  tg::nn::MultiheadAttention<T> nobias(6, 3, 0.0, false);
  const auto named_nobias = nobias.named_parameters();
  REQUIRE(named_nobias.size() == 2);
  expect_golden(nobias.in_proj_weight, g, "mha_init_nobias." + tag + ".in_proj_weight", rtol_of<T>(), 0);
  expect_golden(nobias.out_proj->weight, g, "mha_init_nobias." + tag + ".out_proj.weight", rtol_of<T>(), 0);
  // initialize() draws them again from where the generator is, as one stretch
  tg::manual_seed(7);
  mha.initialize();
  expect_golden(mha.in_proj_weight, g, "mha_init." + tag + ".in_proj_weight", rtol_of<T>(), 0);
  expect_golden(mha.out_proj->weight, g, "mha_init." + tag + ".out_proj.weight", rtol_of<T>(), 0);
}

TEMPLATE_TEST_CASE("MultiheadAttention with PyTorch's weights gives PyTorch's outputs, weights and gradients", "", float,
                   double) {
  using T = TestType;
  const Golden& g = golden_file("attention.txt");
  struct Case {
    std::string name;
    int64_t E, H;
    bool bias, batch_first, average;
  };
  for (const Case& c : {Case{"mha_self", 8, 2, true, false, true}, Case{"mha_self_bf_causal", 8, 4, true, true, false},
                        Case{"mha_cross_kpm", 6, 3, true, true, false}, Case{"mha_separate_float", 4, 2, false, false, true},
                        Case{"mha_kpm_and_mask", 6, 2, true, false, true}, Case{"mha_unbatched", 4, 1, true, false, true}}) {
    const std::string p = c.name + "." + dtype_tag<T>() + ".";
    INFO(p);
    tg::nn::MultiheadAttention<T> mha(c.E, c.H, 0.0, c.bias, c.batch_first);
    mha.load_state_dict(golden_state<T>(g, p));
    auto query = golden_tensor<T>(g, p + "query").requires_grad_();
    auto key = g.count(p + "key") ? golden_tensor<T>(g, p + "key").requires_grad_() : query;
    auto value = g.count(p + "value") ? golden_tensor<T>(g, p + "value").requires_grad_() : key;
    auto [out, weights] = mha(query, key, value, optional_golden<T>(g, p + "key_padding_mask"), true,
                              optional_golden<T>(g, p + "attn_mask"), c.average);
    expect_golden(out, g, p + "out", rtol_of<T>(), atol_of<T>());
    expect_golden(weights, g, p + "weights", rtol_of<T>(), atol_of<T>());
    ((out * golden_tensor<T>(g, p + "gout")).sum() + (weights * golden_tensor<T>(g, p + "gweights")).sum()).backward();
    // Float gradients are sums over batch, heads and sequence, added in another order than
    // PyTorch's MKL and through other exp and softmax kernels: their rounding errors scale
    // with the summands, so an element that cancels to near 0 is off by float's error of the
    // tensor's largest values. Three times float's forward tolerance relative to each element,
    // plus float's forward tolerance of the tensor's largest (double's stays 1e-12).
    const double rtol = 3 * rtol_of<T>(), atol = 3 * atol_of<T>();
    auto expect_gradient = [&](const tg::Tensor<T>& grad, const std::string& name) {
      const tg::Tensor<T> expected = golden_tensor<T>(g, name);
      double largest = 0;
      for (int64_t i = 0; i < expected.numel(); ++i) largest = std::max(largest, std::abs(double(expected.data()[i])));
      expect_golden(grad, g, name, rtol, std::is_same_v<T, float> ? atol + rtol_of<T>() * largest : atol);
    };
    expect_gradient(query.grad(), p + "grad_query");
    if (g.count(p + "grad_key")) expect_gradient(key.grad(), p + "grad_key");
    if (g.count(p + "grad_value")) expect_gradient(value.grad(), p + "grad_value");
    for (const auto& [name, param] : mha.named_parameters()) expect_gradient(param.grad(), p + "grad." + name);
  }
}

TEMPLATE_TEST_CASE("MultiheadAttention's dropout draws PyTorch's stream in training, none in eval", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("attention.txt");
  const std::string p = "mha_dropout." + dtype_tag<T>() + ".";
  tg::nn::MultiheadAttention<T> mha(4, 2, 0.25);
  mha.load_state_dict(golden_state<T>(g, p));
  const auto x = golden_tensor<T>(g, p + "query");
  tg::manual_seed(451);
  auto [out, weights] = mha(x, x, x);
  expect_golden(out, g, p + "out", rtol_of<T>(), atol_of<T>());
  expect_golden(weights, g, p + "weights", rtol_of<T>(), atol_of<T>());
  // in eval no value is dropped and the generator is not touched
  mha.eval();
  const Watch watch;
  const auto before = watch.state();
  auto [eval_out, eval_weights] = mha(x, x, x);
  CHECK(watch.state() == before);
  CHECK((eval_weights.sum(-1) - 1.0).abs().max().item() < 1e-5);
  // one input: self-attention's output, for a Sequential
  check_close(mha(x), eval_out, 0, 0);
}

// ---- bad input ---------------------------------------------------------------------------------

TEST_CASE("scaled_dot_product_attention refuses mismatched shapes and masks, naming them") {
  auto q = tg::zeros<double>({2, 3, 4}).requires_grad_();
  auto k = tg::zeros<double>({2, 5, 4});
  auto v = tg::zeros<double>({2, 5, 6});
  const Watch watch(q, k, v);
  const std::string op = "scaled_dot_product_attention: ";
  check_refused([&] { return F::scaled_dot_product_attention(q, tg::zeros<double>({2, 5, 3}), v); },
                op + "query shape [2, 3, 4] and key shape [2, 5, 3] must have the same embedding size (last dim)", watch);
  check_refused([&] { return F::scaled_dot_product_attention(q, k, tg::zeros<double>({2, 4, 6})); },
                op + "key shape [2, 5, 4] and value shape [2, 4, 6] must have the same sequence length (dim -2)", watch);
  check_refused([&] { return F::scaled_dot_product_attention(tg::zeros<double>({4}), k, v); },
                op + "query, key and value need at least 2 dims (..., L, E), got shapes [4], [2, 5, 4] and [2, 5, 6]", watch);
  check_refused([&] { return F::scaled_dot_product_attention(q, k, v, tg::ones<double>({3, 4})); },
                op + "attn_mask of shape [3, 4] does not broadcast to the attention scores' shape [2, 3, 5]", watch);
  check_refused([&] { return F::scaled_dot_product_attention(q, k, v, tg::ones<double>({3, 3, 5})); },
                op + "attn_mask of shape [3, 3, 5] does not broadcast to the attention scores' shape [2, 3, 5]", watch);
  check_refused([&] { return F::scaled_dot_product_attention(q, k, v, tg::ones<double>({3, 5}), 0, true); },
                op + "an explicit attn_mask (shape [3, 5]) should not be given with is_causal=true", watch);
  check_refused([&] { return F::scaled_dot_product_attention(q, k, v, tg::Tensor<double>(), 1.5); },
                op + "dropout_p has to be between 0 and 1, but got 1.5", watch);
  check_refused([&] { return F::scaled_dot_product_attention(tg::zeros<double>({3, 3, 4}), k, v); },
                op + "shapes [3] and [2] cannot be broadcast together (3 != 2 at dim -1)", watch);
  // still works
  CHECK(F::scaled_dot_product_attention(q, k, v).sizes() == tg::Dims{2, 3, 6});
}

TEST_CASE("MultiheadAttention refuses bad sizes, inputs and masks, changing nothing") {
  CHECK_THROWS_WITH(tg::nn::MultiheadAttention<double>(6, 4), "MultiheadAttention: embed_dim 6 must be divisible by num_heads 4");
  CHECK_THROWS_WITH(tg::nn::MultiheadAttention<double>(6, 0),
                    "MultiheadAttention: embed_dim and num_heads must be positive, got 6 and 0");
  CHECK_THROWS_WITH(tg::nn::MultiheadAttention<double>(6, 2, -0.1),
                    "MultiheadAttention: dropout probability has to be between 0 and 1, but got -0.1");
  tg::manual_seed(1403);
  tg::nn::MultiheadAttention<double> mha(6, 2);
  auto x = tg::randn<double>({3, 2, 6}).requires_grad_();
  auto kv = tg::randn<double>({4, 2, 6});
  const Watch watch(mha, x, kv);
  const std::string op = "MultiheadAttention: ";
  check_refused([&] { return mha(tg::zeros<double>({3, 2, 5}), kv, kv).first; },
                op + "expected query, key and value of embedding size 6 (the last dim), got shapes [3, 2, 5] and [4, 2, 6]",
                watch);
  check_refused([&] { return mha(tg::zeros<double>({1, 3, 2, 6}), kv, kv).first; },
                op + "query should be unbatched 2-D or batched 3-D, got shape [1, 3, 2, 6]", watch);
  check_refused([&] { return mha(x, tg::zeros<double>({4, 6}), kv).first; },
                op + "for a 3-D query of shape [3, 2, 6], expected key and value of 3 dims, got shapes [4, 6] and [4, 2, 6]",
                watch);
  check_refused([&] { return mha(x, kv, tg::zeros<double>({5, 2, 6})).first; },
                op + "key shape [4, 2, 6] does not match value shape [5, 2, 6]", watch);
  check_refused([&] { return mha(x, tg::zeros<double>({4, 3, 6}), tg::zeros<double>({4, 3, 6})).first; },
                op + "query shape [3, 2, 6] and key shape [4, 3, 6] have different batch sizes", watch);
  check_refused([&] { return mha(x, kv, kv, tg::zeros<double>({2, 3})).first; },
                op + "expected key_padding_mask of shape [2, 4] (batch, source length), got [2, 3]", watch);
  check_refused([&] { return mha(x, kv, kv, tg::Tensor<double>(), true, tg::zeros<double>({4, 3})).first; },
                op + "expected attn_mask of shape [3, 4] or [4, 3, 4] (batch * num_heads, target length, source length), got [4, 3]",
                watch);
  // still works, and its gradient reaches every parameter
  auto [out, weights] = mha(x, kv, kv);
  out.sum().backward();
  for (const auto& [name, param] : mha.named_parameters()) {
    INFO(name);
    CHECK(param.grad().defined());
  }
  CHECK(weights.sizes() == tg::Dims{2, 3, 4});
}

TEST_CASE("causal attention over no keys gives zeros") {
  // is_causal masks inside the softmax (no mask tensor): a softmax over an empty dim of keys
  // gives no weights, and the output is the empty product, zeros, as PyTorch's math path gives
  tg::manual_seed(3);
  const Td q = tg::randn<double>({2, 3, 4}), k = tg::empty<double>({2, 0, 4}), v = tg::empty<double>({2, 0, 5});
  const Td out = tg::nn::functional::scaled_dot_product_attention(q, k, v, Td(), 0.0, true);
  REQUIRE(out.shape() == tg::Shape{2, 3, 5});
  CHECK(out.to_vector() == std::vector<double>(30, 0.0));
}
