// Tensor vocabulary, indexing and shape: split, chunk, select, index_select, gather, permute,
// expand, contiguous, one_hot, arange, linspace, and cat, stack, narrow, flatten. Gradchecked and
// gradgradchecked in double; against PyTorch 1.13 in float and double
// (tools/gen_vocab_indexing_golden.py writes tests/golden/vocab_indexing.txt): values, the
// inputs' gradients and the backward's own backward (create_graph), arange's and linspace's
// values bit for bit, one_hot; the error messages.
#include <functional>
#include <string>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;
using Inputs = std::vector<Td>;

TEST_CASE("gradcheck: split, chunk, select, index_select, gather, permute, expand") {
  tg::manual_seed(1401);
  Td x = tg::randn<double>({3, 4}).requires_grad_();
  const Td idx = tg::tensor<double>({2, 0, 2}, {3});
  const Td gidx = tg::tensor<double>({3, 3, 0, 1, 1, 1}, {3, 2});
  require_gradcheck([](const Inputs& in) { auto p = in[0].split(3, 1); return p[1].pow(2) * p[0].narrow(1, 0, 1); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].chunk(2, 0)[1].pow(3); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].select(1, -1).pow(2); }, {x});
  require_gradcheck([&](const Inputs& in) { return in[0].index_select(0, idx).pow(2); }, {x});
  require_gradcheck([&](const Inputs& in) { return in[0].gather(1, gidx).pow(2); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].reshape({3, 2, 2}).permute({2, 0, 1}).pow(2); }, {x});
  require_gradcheck([](const Inputs& in) { return in[0].narrow(0, 0, 1).expand({2, -1, 4}).pow(2); }, {x});
}

TEST_CASE("indexing values and accumulated gradients") {
  auto x = tg::arange<double>(12).reshape({3, 4}).requires_grad_();
  auto is = x.index_select(0, tg::tensor<double>({2, 0, 2}, {3}));
  CHECK(is.shape() == tg::Shape{3, 4});
  is.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2});
  CHECK(tg::one_hot(tg::tensor<double>({0, 2}, {2})).to_vector() == std::vector<double>{1, 0, 0, 0, 0, 1});
  CHECK(tg::arange<double>(0, 1, 0.25).to_vector() == std::vector<double>{0, 0.25, 0.5, 0.75});
  CHECK(x.contiguous().data() == x.data());
}

TEST_CASE("indexing refuses bad input") {
  auto x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  const Watch watch(x);
  check_refused([&] { return x.index_select(0, tg::tensor<double>({2}, {1})); },
                "index_select: index 2 is out of range for dim 0 of size 2 (expected 0 <= index < 2)", watch);
  check_refused([&] { return x.split(0, 1); }, "split: split_size must be positive, got 0 (dim 1 of shape [2, 3])", watch);
  check_refused([&] { return x.chunk(0); }, "chunk: chunks must be positive, got 0", watch);
}

// ---- against PyTorch ---------------------------------------------------------------------------

namespace {

template <class T>
using TensorList = std::vector<tg::Tensor<T>>;

template <class T>
tg::Tensor<T> ix(std::vector<T> values, const tg::Shape& shape) {
  return tg::tensor<T>(std::move(values), shape);
}

// Twins of tools/gen_vocab_indexing_golden.py's CASES: the inputs' count, then the call.
template <class T>
struct ShapeCase {
  const char* name;
  int inputs;
  std::function<TensorList<T>(const TensorList<T>&)> fn;
};

template <class T>
std::vector<ShapeCase<T>> shape_cases() {
  using L = TensorList<T>;
  return {
      {"split_size", 1, [](const L& x) { return x[0].split(2, 0); }},
      {"split_size_last_dim", 1, [](const L& x) { return tg::split(x[0], 3, -1); }},
      {"split_list", 1, [](const L& x) { return x[0].split(std::vector<int64_t>{1, 3, 0, 2}, -1); }},
      {"chunk", 1, [](const L& x) { return x[0].chunk(3, 1); }},
      {"chunk_fewer", 1, [](const L& x) { return tg::chunk(x[0], 4, 0); }},
      {"select_neg_dim", 1, [](const L& x) { return L{x[0].select(-2, 1)}; }},
      {"select_neg_index", 1, [](const L& x) { return L{tg::select(x[0], 0, -1)}; }},
      {"index_select_repeats", 1, [](const L& x) { return L{x[0].index_select(0, ix<T>({3, 0, 3, 1, 3}, {5}))}; }},
      {"index_select_dim1", 1, [](const L& x) { return L{tg::index_select(x[0], -2, ix<T>({2, 2, 0}, {3}))}; }},
      {"gather_dim1", 1, [](const L& x) { return L{x[0].gather(1, ix<T>({3, 3, 0, 1, 3, 1, 1, 1, 2, 0}, {2, 5}))}; }},
      {"gather_dim0", 1, [](const L& x) { return L{tg::gather(x[0], 0, ix<T>({2, 0, 2, 2, 1, 0, 0, 2}, {4, 1, 2}))}; }},
      {"permute", 1, [](const L& x) { return L{x[0].permute({2, 0, 1})}; }},
      {"permute_neg", 1, [](const L& x) { return L{tg::permute(x[0], {-1, 0, -2, 1})}; }},
      {"expand", 1, [](const L& x) { return L{x[0].expand({2, -1, 4})}; }},
      {"expand_scalar", 1, [](const L& x) { return L{tg::expand(x[0], {3, 2})}; }},
      {"contiguous", 1, [](const L& x) { return L{x[0].contiguous()}; }},
      {"cat_dim0", 3, [](const L& x) { return L{tg::cat(x, 0)}; }},
      {"cat_neg_dim", 3, [](const L& x) { return L{tg::cat(x, -1)}; }},
      {"stack_dim1", 3, [](const L& x) { return L{tg::stack(x, 1)}; }},
      {"stack_last", 2, [](const L& x) { return L{tg::stack(x, -1)}; }},
      {"narrow", 1, [](const L& x) { return L{x[0].narrow(1, 1, 3)}; }},
      {"narrow_dim0", 1, [](const L& x) { return L{tg::narrow(x[0], -2, 3, 1)}; }},
      {"flatten", 1, [](const L& x) { return L{x[0].flatten(1)}; }},
      {"flatten_range", 1, [](const L& x) { return L{tg::flatten(x[0], 0, -2)}; }},
      {"flatten_scalar", 1, [](const L& x) { return L{x[0].flatten()}; }},
  };
}

// These ops move values (gather and index_select's repeats add them): double to 1e-9 relative,
// float to 1e-6, most of them exact.
template <class T>
double golden_rtol() {
  return std::is_same_v<T, float> ? 1e-6 : 1e-9;
}

}  // namespace

TEMPLATE_TEST_CASE("indexing and shape ops match PyTorch: values, gradients, the backward's backward", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_indexing.txt");
  for (const auto& c : shape_cases<T>()) {
    const std::string p = std::string(c.name) + "." + dtype_tag<T>() + ".";
    INFO(p);
    TensorList<T> xs, vs;
    for (int k = 0; k < c.inputs; ++k) {
      xs.push_back(golden_tensor<T>(g, p + "x" + std::to_string(k)).requires_grad_());
      vs.push_back(golden_tensor<T>(g, p + "v" + std::to_string(k)));
    }
    const TensorList<T> ys = c.fn(xs);
    TensorList<T> gs;
    for (size_t k = 0; k < ys.size(); ++k) {
      expect_golden(ys[k], g, p + "y" + std::to_string(k), 0, 0);
      gs.push_back(golden_tensor<T>(g, p + "g" + std::to_string(k)).requires_grad_());
    }
    CHECK(g.count(p + "y" + std::to_string(ys.size())) == 0);  // as many pieces as PyTorch's
    const TensorList<T> grads = tg::autograd::grad(ys, xs, gs, std::nullopt, true);
    for (int k = 0; k < c.inputs; ++k) expect_golden(grads[k], g, p + "grad" + std::to_string(k), golden_rtol<T>(), 0);
    const TensorList<T> ggs = tg::autograd::grad(grads, gs, vs);
    for (size_t k = 0; k < ys.size(); ++k) expect_golden(ggs[k], g, p + "gg" + std::to_string(k), golden_rtol<T>(), 0);
  }
}

TEMPLATE_TEST_CASE("arange and linspace give PyTorch's values bit for bit, one_hot its rows", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_indexing.txt");
  for (int i = 0; g.count("arange." + std::to_string(i) + "." + dtype_tag<T>() + ".out"); ++i) {
    const std::string p = "arange." + std::to_string(i) + "." + dtype_tag<T>() + ".";
    const auto a = golden_tensor<double>(g, p + "params").to_vector();
    INFO(p << " arange(" << a[0] << ", " << a[1] << ", " << a[2] << ")");
    expect_golden(tg::arange<T>(a[0], a[1], a[2]), g, p + "out", 0, 0);
  }
  for (int i = 0; g.count("linspace." + std::to_string(i) + "." + dtype_tag<T>() + ".out"); ++i) {
    const std::string p = "linspace." + std::to_string(i) + "." + dtype_tag<T>() + ".";
    const auto a = golden_tensor<double>(g, p + "params").to_vector();
    INFO(p << " linspace(" << a[0] << ", " << a[1] << ", " << a[2] << ")");
    expect_golden(tg::linspace<T>(a[0], a[1], static_cast<int64_t>(a[2])), g, p + "out", 0, 0);
  }
  for (int i = 0; g.count("one_hot." + std::to_string(i) + ".out"); ++i) {
    const std::string p = "one_hot." + std::to_string(i) + ".";
    INFO(p);
    const auto classes = static_cast<int64_t>(golden_tensor<double>(g, p + "params").item());
    expect_golden(tg::one_hot(golden_tensor<T>(g, p + "index"), classes), g, p + "out", 0, 0);
  }
}

// ---- the error catalogue -------------------------------------------------------------------------

TEST_CASE("the error catalogue: index values, dims, shapes and ranges refused, naming the op and the sizes") {
  auto x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  auto y = leaf({1, 2, 3, 4, 5, 6}, {3, 2});
  const Watch watch(x, y);
  const auto t = [](std::vector<double> v, const tg::Shape& s) { return tg::tensor<double>(std::move(v), s); };
  const std::vector<std::pair<std::function<Td()>, std::string>> cases = {
      // index values: not an integer, past the end, negative (index tensors do not count from the end)
      {[&] { return x.select(0, 2); }, "select: index 2 is out of range for dim 0 of shape [2, 3] (expected -2 <= index < 2)"},
      {[&] { return x.select(1, -4); }, "select: index -4 is out of range for dim 1 of shape [2, 3] (expected -3 <= index < 3)"},
      {[&] { return x.index_select(0, t({2.5}, {1})); },
       "index_select: index 2.5 at position 0 is not an integer (index tensors hold integer values, here in [0, 2) for dim 0 of size 2)"},
      {[&] { return x.index_select(1, t({0, 3}, {2})); },
       "index_select: index 3 is out of range for dim 1 of size 3 (expected 0 <= index < 3)"},
      {[&] { return x.index_select(-1, t({0, -1}, {2})); },
       "index_select: index -1 is out of range for dim -1 of size 3 (expected 0 <= index < 3)"},
      {[&] { return x.gather(1, t({0, 2.5}, {1, 2})); },
       "gather: index 2.5 at position 1 is not an integer (index tensors hold integer values, here in [0, 3) for dim 1 of size 3)"},
      {[&] { return x.gather(1, t({0, 3}, {1, 2})); }, "gather: index 3 is out of range for dim 1 of size 3 (expected 0 <= index < 3)"},
      {[&] { return x.gather(0, t({-1}, {1, 1})); }, "gather: index -1 is out of range for dim 0 of size 2 (expected 0 <= index < 2)"},
      {[&] { return x.gather(1, t({0}, {1})); }, "gather: index of shape [1] must have as many dims as the input of shape [2, 3]"},
      {[&] { return x.gather(0, t({0, 0, 0, 0}, {1, 4})); },
       "gather: index of shape [1, 4] is larger than the input of shape [2, 3] at dim 1 (4 > 3; only dim 0 may be larger)"},
      {[&] { return tg::one_hot(t({2.5}, {1}), 3); },
       "one_hot: index 2.5 at position 0 is not an integer (index tensors hold integer values, here in [0, 3) for 3 classes)"},
      {[&] { return tg::one_hot(t({1, 3}, {2}), 3); }, "one_hot: index 3 is out of range for 3 classes (expected 0 <= index < 3)"},
      {[&] { return tg::one_hot(t({-1}, {1}), 3); }, "one_hot: index -1 is out of range for 3 classes (expected 0 <= index < 3)"},
      {[&] { return tg::one_hot(t({-1, 0}, {2})); }, "one_hot: index -1 is out of range for 1 class (expected 0 <= index < 1)"},
      // dims and shapes
      {[&] { return x.permute({0, 0}); },
       "permute: dims [0, 0] are not a permutation of the dims of a tensor of shape [2, 3] (dim 0 repeated)"},
      {[&] { return x.permute({1, -2, 0}); },
       "permute: dims [1, -2, 0] do not fit a tensor of shape [2, 3] (expected 2 dims, got 3)"},
      {[&] { return x.permute({0, 2}); }, "permute: dim 2 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])"},
      {[&] { return x.permute({-3, 0}); }, "permute: dim -3 is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])"},
      {[&] { return x.expand({2, 4}); },
       "expand: the size 4 at dim 1 must match the existing size 3 (only size-1 dims expand; target shape [2, 4], tensor shape [2, 3])"},
      {[&] { return x.expand({3}); }, "expand: the target shape [3] has fewer dims than the tensor of shape [2, 3]"},
      {[&] { return x.expand({-1, 2, 3}); }, "expand: size -1 is not allowed in the new leading dim 0 (target shape [-1, 2, 3], tensor shape [2, 3])"},
      {[&] { return tg::cat(std::vector<Td>{}); }, "cat: expected a non-empty list of tensors"},
      {[&] { return tg::cat({x, t({1, 2, 3}, {3})}); },
       "cat: tensors must have the same number of dims, got shapes [2, 3] (tensor 0) and [3] (tensor 1)"},
      {[&] { return tg::cat({x, y}, 0); }, "cat: shapes [2, 3] and [3, 2] (tensor 1) must match except in dim 0 (sizes 3 and 2 at dim 1)"},
      {[&] { return tg::cat({x, x, y}, -1); }, "cat: shapes [2, 3] and [3, 2] (tensor 2) must match except in dim 1 (sizes 2 and 3 at dim 0)"},
      {[&] { return tg::stack({x, y}); }, "stack: expects each tensor to be equal size, but got [2, 3] at entry 0 and [3, 2] at entry 1"},
      {[&] { return tg::stack(std::vector<Td>{}); }, "stack: expected a non-empty list of tensors"},
      {[&] { return x.split(std::vector<int64_t>{1, 1}, 1)[0]; },
       "split: split_sizes [1, 1] must be non-negative and sum to 3, the size of dim 1 of shape [2, 3]"},
      {[&] { return x.split_with_sizes({4, -1}, -1)[0]; },
       "split: split_sizes [4, -1] must be non-negative and sum to 3, the size of dim -1 of shape [2, 3]"},
      {[&] { return tg::zeros<double>({0, 3}).chunk(int64_t(1) << 62)[0]; },
       "chunk: 4611686018427387904 empty pieces of dim 0 of shape [0, 3] do not fit in memory (a dim of size 0 gives `chunks` "
       "pieces, as torch.chunk)"},
      // ranges
      {[] { return tg::arange<double>(0, 1, 0); }, "arange: step must be nonzero"},
      {[] { return tg::arange<double>(0, 1, -1); }, "arange: the range 0 -> 1 is inconsistent with the sign of step -1"},
      {[] { return tg::arange<double>(1, 0, 0.5); }, "arange: the range 1 -> 0 is inconsistent with the sign of step 0.5"},
      {[] { return tg::linspace<double>(0, 1, -1); }, "linspace: number of steps must be non-negative, got -1"},
  };
  for (const auto& [call, message] : cases) {
    INFO(message);
    check_refused(call, message, watch);
  }
}

TEST_CASE("chunk of a size-0 dim gives `chunks` empty pieces, as torch 1.13's") {
  const auto pieces = tg::zeros<double>({3, 0}).chunk(1000, 1);
  REQUIRE(pieces.size() == 1000);
  for (const auto& p : pieces) CHECK(p.shape() == tg::Shape{3, 0});
  CHECK(tg::zeros<double>({2, 3}).chunk(5).size() == 2);  // pieces of one: fewer than asked for
}
