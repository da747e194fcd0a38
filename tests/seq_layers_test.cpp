// The sequence models' layers: embedding and layer_norm gradchecked and gradgradchecked in
// double, Embedding and LayerNorm against PyTorch in float and double
// (tools/gen_seq_layers_golden.py writes tests/golden/seq_layers.txt), Embedding's initial
// weight as torch's stream, their error messages, and ModuleList.
#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace F = tg::nn::functional;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;
using Inputs = std::vector<Td>;

// ---- gradcheck and gradgradcheck ---------------------------------------------------------------

TEST_CASE("gradcheck: embedding with respect to the weight, repeated indices, 1-d and 2-d indices") {
  SEED(1301);
  Td weight = leaf_randn({5, 3});
  const Td idx1 = tg::tensor<double>({4, 0, 4, 2, 4}, {5});
  const Td idx2 = tg::tensor<double>({1, 3, 1, 0, 3, 3}, {2, 3});
  require_gradcheck([&](const Inputs& in) { return F::embedding(idx1, in[0]); }, {weight});
  // a nonlinear function of the rows, so the second derivative is not zero
  require_gradcheck([&](const Inputs& in) { return F::embedding(idx2, in[0]).pow(2); }, {weight});
  require_gradcheck([&](const Inputs& in) { return F::embedding(idx2, in[0].tanh()) * F::embedding(idx1, in[0]).sum(); }, {weight});
  // padding_idx: its row gets no gradient, to any order; a weight whose padding row is masked
  // to zero has the true derivative zero there, so gradcheck holds for the other rows too
  const Td keep3 = tg::tensor<double>({1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1}, {5, 3});
  const Td keep4 = tg::tensor<double>({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, {5, 3});
  require_gradcheck([&](const Inputs& in) { return F::embedding(idx2, in[0] * keep3, 3).pow(2); }, {weight});
  require_gradcheck([&](const Inputs& in) { return F::embedding(idx1, in[0] * keep4, -1).tanh(); }, {weight});
  // a 0-d index gives one row
  require_gradcheck([&](const Inputs& in) { return F::embedding(tg::tensor<double>({2}, {}), in[0]).pow(3); }, {weight});
}

TEST_CASE("embedding: repeated indices add their gradients into one row, the index gets none") {
  auto weight = tg::tensor<double>({1, 2, 3, 4, 5, 6}, {3, 2}).requires_grad_();
  auto idx = tg::tensor<double>({2, 0, 2, 2}, {2, 2}).requires_grad_();
  auto y = F::embedding(idx, weight);
  CHECK(y.shape() == tg::Shape{2, 2, 2});
  CHECK(y.to_vector() == std::vector<double>{5, 6, 1, 2, 5, 6, 5, 6});
  y.backward(tg::ones<double>({2, 2, 2}));
  CHECK(weight.grad().to_vector() == std::vector<double>{1, 1, 0, 0, 3, 3});
  CHECK_FALSE(idx.grad().defined());
}

TEST_CASE("embedding: the padding row gets no gradient, first or second order") {
  auto weight = tg::tensor<double>({1, 2, 3, 4, 5, 6}, {3, 2}).requires_grad_();
  const auto idx = tg::tensor<double>({2, 0, 2, 1}, {4});
  auto y = (F::embedding(idx, weight, 2).pow(2)).sum();
  auto gw = tg::autograd::grad({y}, {weight}, {}, true, true)[0];
  CHECK(gw.to_vector() == std::vector<double>{2, 4, 6, 8, 0, 0});
  auto ggw = tg::autograd::grad({gw.sum()}, {weight})[0];
  CHECK(ggw.to_vector() == std::vector<double>{2, 2, 2, 2, 0, 0});
}

TEST_CASE("embedding: the weight's gradient differentiates again (gather of the gradient rows)") {
  auto weight = tg::tensor<double>({1, 2, 3, 4, 5, 6}, {3, 2}).requires_grad_();
  const auto idx = tg::tensor<double>({2, 0, 2}, {3});
  auto y = (F::embedding(idx, weight).pow(2)).sum();
  auto gw = tg::autograd::grad({y}, {weight}, {}, true, true)[0];  // 2 w_r times the row's count
  CHECK(gw.to_vector() == std::vector<double>{2, 4, 0, 0, 20, 24});
  auto ggw = tg::autograd::grad({gw.sum()}, {weight})[0];
  CHECK(ggw.to_vector() == std::vector<double>{2, 2, 0, 0, 4, 4});
}

TEST_CASE("gradcheck: layer_norm over 1 and 2 trailing dims, with and without weight and bias") {
  SEED(1302);
  Td x = leaf_randn({3, 4}), x3 = leaf_randn({2, 3, 4});
  Td w = leaf_randn({4}), b = leaf_randn({4}), w2 = leaf_randn({3, 4}), b2 = leaf_randn({3, 4});
  require_gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {4}, in[1], in[2]); }, {x, w, b});
  require_gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {4}, in[1], in[2], 1e-3).pow(2); }, {x3, w, b});
  require_gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {3, 4}, in[1], in[2]).tanh(); }, {x3, w2, b2});
  require_gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {3, 4}).pow(3); }, {x3});
  require_gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {4}, in[1]).pow(2); }, {x, w});
  require_gradcheck([](const Inputs& in) { return F::layer_norm(in[0], {4}, Td(), in[1]).pow(2); }, {x, b});
}

// ---- against PyTorch ---------------------------------------------------------------------------

TEMPLATE_TEST_CASE("Embedding's initial weight is torch's after manual_seed", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("seq_layers.txt");
  const std::string tag = dtype_tag<T>();
  tg::manual_seed(5);
  tg::nn::Embedding<T> small(2, 3);  // under 16 values: normal_'s scalar path
  expect_golden(small.weight, g, "emb_init_small." + tag + ".weight", 0, 0);
  tg::manual_seed(5);
  tg::nn::Embedding<T> large(10, 3);  // 16 values or more: its vectorised path
  expect_golden(large.weight, g, "emb_init_large." + tag + ".weight", rtol_of<T>(), 0);
  CHECK(large.weight.requires_grad());
  CHECK(large.named_parameters().size() == 1);
  CHECK(large.named_parameters()[0].first == "weight");
}

TEMPLATE_TEST_CASE("Embedding forward and backward match PyTorch", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("seq_layers.txt");
  for (const std::string name : {"emb_1d", "emb_2d"}) {
    const std::string p = name + "." + dtype_tag<T>() + ".";
    INFO(p);
    const auto weight = golden_tensor<T>(g, p + "weight");
    tg::nn::Embedding<T> emb(weight.size(0), weight.size(1));
    emb.load_state_dict({{"weight", weight}});
    const auto out = emb(golden_tensor<T>(g, p + "index"));
    expect_golden(out, g, p + "out", 0, 0);  // a copy of rows: exact
    out.backward(golden_tensor<T>(g, p + "gout"));
    expect_golden(emb.weight.grad(), g, p + "grad_weight", rtol_of<T>(), atol_of<T>());
  }
}

TEMPLATE_TEST_CASE("Embedding with padding_idx matches PyTorch: the row starts at zero and gets no gradient", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("seq_layers.txt");
  const std::string p = "emb_pad." + dtype_tag<T>() + ".";
  tg::manual_seed(6);
  tg::nn::Embedding<T> emb(6, 3, -2);
  CHECK(emb.padding_idx == 4);
  expect_golden(emb.weight, g, p + "init_weight", rtol_of<T>(), 0);
  const auto out = emb(golden_tensor<T>(g, p + "index"));
  expect_golden(out, g, p + "out", rtol_of<T>(), 0);  // the rows of the initial weight
  out.backward(golden_tensor<T>(g, p + "gout"));
  expect_golden(emb.weight.grad(), g, p + "grad_weight", rtol_of<T>(), atol_of<T>());
}

TEMPLATE_TEST_CASE("LayerNorm forward and backward match PyTorch", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("seq_layers.txt");
  struct Case {
    const char* name;
    tg::Shape normalized;
    double eps;
    bool affine;
  };
  const Case cases[] = {{"ln_1d", {5}, 1e-5, true},
                        {"ln_2d", {3, 4}, 1e-3, true},
                        {"ln_noaffine", {6}, 1e-5, false},
                        {"ln_3d_input_1d", {3}, 0.1, true}};
  for (const Case& c : cases) {
    const std::string p = std::string(c.name) + "." + dtype_tag<T>() + ".";
    INFO(p);
    tg::nn::LayerNorm<T> ln(c.normalized, c.eps, c.affine);
    if (c.affine) {
      CHECK(ln.weight.to_vector() == std::vector<T>(static_cast<size_t>(ln.weight.numel()), T(1)));
      CHECK(ln.bias.to_vector() == std::vector<T>(static_cast<size_t>(ln.bias.numel()), T(0)));
      ln.load_state_dict({{"weight", golden_tensor<T>(g, p + "weight")}, {"bias", golden_tensor<T>(g, p + "bias")}});
    } else {
      CHECK(ln.parameters().empty());
    }
    auto x = golden_tensor<T>(g, p + "x").requires_grad_();
    const auto y = ln(x);
    expect_golden(y, g, p + "y", rtol_of<T>(), atol_of<T>());
    y.backward(golden_tensor<T>(g, p + "gout"));
    expect_golden(x.grad(), g, p + "grad_x", rtol_of<T>(), atol_of<T>());
    if (c.affine) {
      expect_golden(ln.weight.grad(), g, p + "grad_weight", rtol_of<T>(), atol_of<T>());
      expect_golden(ln.bias.grad(), g, p + "grad_bias", rtol_of<T>(), atol_of<T>());
    }
  }
}

TEST_CASE("LayerNorm takes an int or a Shape, Embedding and LayerNorm deduce float") {
  tg::nn::LayerNorm ln(4);
  static_assert(std::is_same_v<decltype(ln), tg::nn::LayerNorm<float>>);
  CHECK(ln.normalized_shape == tg::Shape{4});
  tg::nn::LayerNorm ln2(tg::Shape{2, 3}, 1e-6, false);
  CHECK(ln2.normalized_shape == tg::Shape{2, 3});
  CHECK(ln2.eps == 1e-6);
  CHECK_FALSE(ln2.weight.defined());
  tg::nn::Embedding emb(10, 4);
  static_assert(std::is_same_v<decltype(emb), tg::nn::Embedding<float>>);
  CHECK(emb.weight.shape() == tg::Shape{10, 4});
  CHECK(emb(tg::tensor<float>({1, 2, 3}, {3})).shape() == tg::Shape{3, 4});
}

// ---- errors ------------------------------------------------------------------------------------

TEST_CASE("embedding refuses non-integer, negative and out-of-range indices and a weight that is not 2-D") {
  auto weight = leaf({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {5, 2});
  const Watch watch(weight);
  check_refused([&] { return F::embedding(tg::tensor<double>({1, 7}, {2}), weight); },
                "embedding: index 7 is out of range for 5 embeddings (expected 0 <= index < 5)", watch);
  check_refused([&] { return F::embedding(tg::tensor<double>({-1}, {1}), weight); },
                "embedding: index -1 is out of range for 5 embeddings (expected 0 <= index < 5)", watch);
  check_refused([&] { return F::embedding(tg::tensor<double>({0, 1, 1.5}, {3}), weight); },
                "embedding: index 1.5 at position 2 is not an integer (index tensors hold integer values, here in [0, 5) for 5 embeddings)", watch);
  check_refused([&] { return F::embedding(tg::tensor<double>({0}, {1}), tg::ones<double>({4})); },
                "embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape [4]", watch);
  check_refused([&] { return F::embedding(tg::tensor<double>({0}, {1}), weight, 5); },
                "embedding: padding_idx 5 is out of range for 5 embeddings (expected -5 <= padding_idx < 5)", watch);
  check_refused([&] { return F::embedding(tg::tensor<double>({0}, {1}), weight, -6); },
                "embedding: padding_idx -6 is out of range for 5 embeddings (expected -5 <= padding_idx < 5)", watch);
  CHECK_THROWS_WITH(tg::nn::Embedding<double>(3, 2, 3), "Embedding: padding_idx 3 must be within num_embeddings 3");
  tg::nn::Embedding<double> emb(3, 2);
  check_refused([&] { return emb(tg::tensor<double>({3}, {1})); },
                "embedding: index 3 is out of range for 3 embeddings (expected 0 <= index < 3)", Watch(emb));
  CHECK_THROWS_WITH(tg::nn::Embedding<double>(-1, 2), "Embedding: num_embeddings and embedding_dim must be >= 0, got -1 and 2");
}

TEST_CASE("layer_norm refuses an input, weight or bias that does not fit normalized_shape") {
  auto x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  auto w = leaf({1, 2, 3}, {3});
  const Watch watch(x, w);
  check_refused([&] { return F::layer_norm(x, {4}); },
                "layer_norm: given normalized_shape=[4], expected input with shape [*, 4], but got input of size [2, 3]", watch);
  check_refused([&] { return F::layer_norm(x, {2, 2, 3}); },
                "layer_norm: given normalized_shape=[2, 2, 3], expected input with shape [*, 2, 2, 3], but got input of size [2, 3]",
                watch);
  check_refused([&] { return F::layer_norm(x, {}); },
                "layer_norm: expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, "
                "but got normalized_shape = []",
                watch);
  check_refused([&] { return F::layer_norm(x, {2, 3}, w); },
                "layer_norm: expected weight of shape [2, 3] (normalized_shape), but got weight of shape [3]", watch);
  check_refused([&] { return F::layer_norm(x, {3}, w, tg::zeros<double>({2})); },
                "layer_norm: expected bias of shape [3] (normalized_shape), but got bias of shape [2]", watch);
  tg::nn::LayerNorm<double> ln(4);
  check_refused([&] { return ln(x); },
                "layer_norm: given normalized_shape=[4], expected input with shape [*, 4], but got input of size [2, 3]", Watch(ln));
}

// ---- ModuleList ------------------------------------------------------------------------------

TEST_CASE("ModuleList: children \"0\", \"1\", ..., indexing, PyTorch's state_dict keys, a round trip") {
  tg::manual_seed(3);
  tg::nn::ModuleList<double> list;
  CHECK(list.size() == 0);
  list.push_back(tg::nn::Embedding<double>(5, 4));
  list.push_back(tg::nn::LayerNorm<double>(4));
  auto shared = std::make_shared<tg::nn::Linear<double>>(4, 2);
  list.push_back(shared);
  REQUIRE(list.size() == 3);
  std::vector<std::string> keys;
  for (const auto& [key, value] : list.state_dict()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"0.weight", "1.weight", "1.bias", "2.weight", "2.bias"});
  CHECK(list.parameters().size() == 5);

  // operator[] is the module itself: run the list as a model
  const auto x = list[0](tg::tensor<double>({0, 4, 4}, {3}));
  const auto y = list[2](list[1](x));
  CHECK(y.shape() == tg::Shape{3, 2});
  CHECK(&list[2] == shared.get());
  CHECK(list.ptr(2).get() == shared.get());
  CHECK(list[2].named_parameters()[0].second.data() == shared->weight.data());
  list.eval();
  CHECK_FALSE(list[1].is_training());

  // a state dict round trip into a second list of the same layers
  tg::manual_seed(4);
  tg::nn::ModuleList<double> other;
  other.push_back(tg::nn::Embedding<double>(5, 4));
  other.push_back(tg::nn::LayerNorm<double>(4));
  other.push_back(tg::nn::Linear<double>(4, 2));
  CHECK(other.state_dict()[0].second.to_vector() != list.state_dict()[0].second.to_vector());
  other.load_state_dict(list.state_dict());
  const auto sd = list.state_dict(), sd2 = other.state_dict();
  for (size_t i = 0; i < sd.size(); ++i) {
    INFO(sd[i].first);
    CHECK(sd2[i].first == sd[i].first);
    CHECK(sd2[i].second.to_vector() == sd[i].second.to_vector());
    CHECK(sd2[i].second.data() != sd[i].second.data());
  }
  CHECK(other[2](other[1](other[0](tg::tensor<double>({0, 4, 4}, {3})))).to_vector() == y.to_vector());

  CHECK_THROWS_WITH(list[3], "ModuleList: index 3 is out of range for a list of 3 modules");
  CHECK_THROWS_WITH(list(x), "ModuleList: has no forward; call its modules (list[i](x))");
}

TEST_CASE("ModuleList from modules: PyTorch's draw order, as Sequential's, the type deduced") {
  tg::manual_seed(11);
  tg::nn::Linear<double> a(4, 3), b(3, 2);  // constructed in order: PyTorch's draws
  tg::manual_seed(11);
  tg::nn::ModuleList list(tg::nn::Linear<double>(4, 3), tg::nn::Linear<double>(3, 2));
  static_assert(std::is_same_v<decltype(list), tg::nn::ModuleList<double>>);
  REQUIRE(list.size() == 2);
  CHECK_FALSE(list.is_empty());
  const auto sd = list.state_dict();
  REQUIRE(sd.size() == 4);
  CHECK(sd[0].first == "0.weight");
  CHECK(sd[0].second.to_vector() == a.weight.to_vector());
  CHECK(sd[1].second.to_vector() == a.bias.to_vector());
  CHECK(sd[2].first == "1.weight");
  CHECK(sd[2].second.to_vector() == b.weight.to_vector());
  CHECK(sd[3].second.to_vector() == b.bias.to_vector());

  // initialize() draws them again, in order, from the generator's state
  tg::manual_seed(11);
  list.initialize();
  CHECK(list.state_dict()[0].second.to_vector() == a.weight.to_vector());
  CHECK(list.state_dict()[3].second.to_vector() == b.bias.to_vector());
  // a list inside a Sequential of temporaries is replayed with the rest
  tg::manual_seed(11);
  tg::nn::Sequential<double> seq(tg::nn::ModuleList<double>(tg::nn::Linear<double>(4, 3)), tg::nn::Linear<double>(3, 2));
  CHECK(seq.state_dict()[0].first == "0.0.weight");
  CHECK(seq.state_dict()[0].second.to_vector() == a.weight.to_vector());
  CHECK(seq.state_dict()[3].second.to_vector() == b.bias.to_vector());
}

// A weight tied between two modules (a language model's embedding and head) is one parameter.
TEST_CASE("a tensor registered twice is listed once by parameters(), under its first name, and kept twice by state_dict") {
  struct Tied : tg::nn::Module<double> {
    Tied() {
      embedding = register_module("embedding", tg::nn::Embedding<double>(5, 3));
      head_weight = register_parameter("head_weight", embedding->weight);  // the same tensor
      bias = register_parameter("bias", tg::zeros<double>({5}));
    }
    Td forward(const Td& x) override { return F::linear((*embedding)(x), head_weight, bias); }
    std::shared_ptr<tg::nn::Embedding<double>> embedding;
    Td head_weight, bias;
  };
  tg::manual_seed(1304);
  Tied model;
  const auto named = model.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "head_weight");  // own parameters come before the children's
  CHECK(named[1].first == "bias");
  CHECK(model.parameters().size() == 2);
  CHECK(model.state_dict().size() == 3);
  // one Adam step moves the shared weight once, by its summed gradient
  auto before = model.embedding->weight.clone();
  tg::optim::Adam<double> adam(model.parameters(), 0.1);
  model(tg::tensor<double>({1, 4}, {2})).sum().backward();
  adam.step();
  const Td g = model.head_weight.grad();
  for (int64_t i = 0; i < g.numel(); ++i) {
    if (g.data()[i] == 0) continue;
    INFO("element " << i);  // Adam's first step moves by lr * g / (|g| + eps): lr, once (twice would be 2 lr)
    CHECK(std::abs(std::abs(model.embedding->weight.data()[i] - before.data()[i]) - 0.1) < 1e-6);
  }
}
