// The tensor vocabulary's reductions and sampling: min, argmax, argmin, std, logsumexp and topk
// gradchecked and gradgradchecked in double and against PyTorch in float and double (ties, NaN,
// zero std, infinite rows), randint, multinomial and randperm<T> draw for draw as torch 1.13
// after manual_seed (tools/gen_vocab_reductions_golden.py writes
// tests/golden/vocab_reductions.txt), the methods, and the error messages.
#include <limits>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;
using Td = tg::Tensor<double>;
using Inputs = std::vector<Td>;

namespace {

constexpr int64_t kAll = 99;  // the golden files' dim for a reduction over all elements

// The names "<prefix><i>.<tag>." of a golden file's cases of one kind, e.g. "topk.3.f32.".
std::vector<std::string> cases_of(const Golden& g, const std::string& prefix, const std::string& tag) {
  std::vector<std::string> out;
  const std::string suffix = "." + tag + ".params";
  for (const auto& entry : g) {
    const std::string& n = entry.first;
    if (n.rfind(prefix, 0) == 0 && n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(n.substr(0, n.size() - std::string("params").size()));
    }
  }
  REQUIRE(!out.empty());
  return out;
}

std::vector<double> params_of(const Golden& g, const std::string& p) { return golden_entry(g, p + "params").values; }

}  // namespace

// ---- gradcheck and gradgradcheck ---------------------------------------------------------------

TEST_CASE("gradcheck: min, std, logsumexp and topk's values, over dims and all elements") {
  SEED(1401);
  const Td x = leaf_randn({3, 4}), x3 = leaf_randn({2, 3, 4});
  using F = std::function<Td(const Inputs&)>;
  const std::vector<std::pair<const char*, F>> cases = {
      {"min()", [](const Inputs& in) { return (in[0] * in[0]).min() * in[0].sum(); }},
      {"min(1)", [](const Inputs& in) { return tg::min(in[0], 1).pow(2); }},
      {"min(0, keepdim)", [](const Inputs& in) { return in[0].min(0, true).tanh() * in[0]; }},
      {"min(-1) 3-d", [](const Inputs& in) { return tg::min(in[0].pow(3), -1); }},
      {"std()", [](const Inputs& in) { return in[0].std(); }},
      {"std(1)", [](const Inputs& in) { return tg::std(in[0], 1); }},
      {"std(0, biased, keepdim)", [](const Inputs& in) { return in[0].std(0, false, true) * in[0]; }},
      {"std(1) 3-d", [](const Inputs& in) { return tg::std(in[0].tanh(), 1, true, false); }},
      {"logsumexp(1)", [](const Inputs& in) { return tg::logsumexp(in[0], 1); }},
      {"logsumexp(0, keepdim)", [](const Inputs& in) { return in[0].logsumexp(0, true) * in[0]; }},
      {"logsumexp(-1) 3-d", [](const Inputs& in) { return tg::logsumexp(in[0] * 3, -1).pow(2); }},
      {"topk(2)", [](const Inputs& in) { return tg::topk(in[0], 2).first.pow(2); }},
      {"topk(2, 0, smallest)", [](const Inputs& in) { return in[0].topk(2, 0, false).first.tanh(); }},
      {"topk(3, -1, unsorted)", [](const Inputs& in) { return tg::topk(in[0], 3, -1, true, false).first * in[0].sum(); }},
  };
  for (const auto& [name, f] : cases) {
    INFO(name);
    require_gradcheck(f, {x});
    require_gradcheck(f, {x3});
  }
}

TEST_CASE("min(): the gradient is shared evenly among ties, min(dim) gives it to the first") {
  auto x = leaf({3, 1, 1, 1, 3, 1}, {2, 3});
  x.min().backward(tg::scalar_tensor(2.0));
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0.5, 0.5, 0.5, 0, 0.5});
  auto y = leaf({3, 1, 1, 1, 3, 1}, {2, 3});
  y.min(1).backward(tg::tensor<double>({1, 2}, {2}));
  CHECK(y.grad().to_vector() == std::vector<double>{0, 1, 0, 2, 0, 0});
  // second order: min(x)^2's second derivative is 2 at the picked element
  auto z = leaf({4, -1, 2}, {3});
  auto dz = tg::autograd::grad({tg::min(z, 0).pow(2)}, {z}, {}, true, true)[0];
  CHECK(dz.to_vector() == std::vector<double>{0, -2, 0});
  CHECK(tg::autograd::grad({dz.sum()}, {z})[0].to_vector() == std::vector<double>{0, 2, 0});
}

TEST_CASE("std: zero gradient where the std is 0, to any order, NaN for one element as torch") {
  auto x = leaf({1, 1, 1, 1, 2, 4}, {2, 3});
  auto s = tg::std(x, 1);
  CHECK(s.to_vector()[0] == 0);
  auto gx = tg::autograd::grad({s.sum()}, {x}, {}, true, true)[0];
  const auto g = gx.to_vector();
  CHECK(g[0] == 0);
  CHECK(g[1] == 0);
  CHECK(g[2] == 0);
  CHECK(g[5] > 0);
  const auto gg = tg::autograd::grad({gx.pow(2).sum()}, {x})[0].to_vector();
  for (int i = 0; i < 3; ++i) CHECK(gg[static_cast<size_t>(i)] == 0);  // no NaN from 0/0
  auto one = leaf({3}, {1});
  auto s1 = one.std(0);
  CHECK(std::isnan(s1.item()));
  s1.backward();
  CHECK(std::isnan(one.grad().item()));
  auto biased = leaf({3}, {1});
  biased.std(0, false).backward();
  CHECK(biased.grad().item() == 0);
}

TEST_CASE("topk's values differentiate twice: the scatter's backward gathers") {
  auto x = leaf({0.5, 3, -1, 2}, {4});
  auto [values, indices] = x.topk(2);
  CHECK(values.to_vector() == std::vector<double>{3, 2});
  CHECK(indices.to_vector() == std::vector<double>{1, 3});
  CHECK_FALSE(indices.requires_grad());
  auto gx = tg::autograd::grad({values.pow(3).sum()}, {x}, {}, true, true)[0];
  CHECK(gx.to_vector() == std::vector<double>{0, 27, 0, 12});
  CHECK(tg::autograd::grad({gx.sum()}, {x})[0].to_vector() == std::vector<double>{0, 18, 0, 12});
}

// ---- against PyTorch ---------------------------------------------------------------------------

TEMPLATE_TEST_CASE("min, argmax, argmin, std and logsumexp match PyTorch (ties, NaN, zero std, infinite rows)", "",
                   float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_reductions.txt");
  for (const std::string op : {"min", "argmax", "argmin", "std", "logsumexp"}) {
    for (const std::string& p : cases_of(g, "reduce." + op + ".", dtype_tag<T>())) {
      INFO(p);
      const auto params = params_of(g, p);
      const auto dim = static_cast<int64_t>(params[0]);
      const bool keepdim = params[1] != 0, unbiased = params[2] != 0, all = dim == kAll;
      const bool differentiable = op == "min" || op == "std" || op == "logsumexp";
      auto x = golden_tensor<T>(g, p + "x").requires_grad_(differentiable);
      tg::Tensor<T> out;
      if (op == "min") out = all ? x.min() : tg::min(x, dim, keepdim);
      if (op == "argmax") out = all ? tg::argmax(x) : x.argmax(dim, keepdim);
      if (op == "argmin") out = all ? x.argmin() : tg::argmin(x, dim, keepdim);
      if (op == "std") out = all ? tg::std(x) : x.std(dim, unbiased, keepdim);
      if (op == "logsumexp") out = tg::logsumexp(x, dim, keepdim);
      const bool exact = op == "min" || op == "argmax" || op == "argmin";
      expect_golden(out, g, p + "out", exact ? 0 : rtol_of<T>(), exact ? 0 : atol_of<T>());
      if (!differentiable) {
        CHECK_FALSE(out.requires_grad());
        continue;
      }
      out.backward(golden_tensor<T>(g, p + "gout"));
      expect_golden(x.grad(), g, p + "grad", rtol_of<T>(), atol_of<T>());
    }
  }
}

TEMPLATE_TEST_CASE("topk matches PyTorch: values, indices in torch's order of ties, the gradient", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_reductions.txt");
  for (const std::string& p : cases_of(g, "topk.", dtype_tag<T>())) {
    INFO(p);
    const auto params = params_of(g, p);
    auto x = golden_tensor<T>(g, p + "x").requires_grad_();
    const auto [values, indices] = tg::topk(x, static_cast<int64_t>(params[0]), static_cast<int64_t>(params[1]),
                                            params[2] != 0, params[3] != 0);
    expect_golden(values, g, p + "values", 0, 0);
    expect_golden(indices, g, p + "indices", 0, 0);
    values.backward(golden_tensor<T>(g, p + "gout"));
    expect_golden(x.grad(), g, p + "grad", 0, 0);
  }
}

TEMPLATE_TEST_CASE("randint, multinomial and randperm<T> draw as torch 1.13 after manual_seed", "", float, double) {
  using T = TestType;
  const Golden& g = golden_file("vocab_reductions.txt");
  const std::string tag = dtype_tag<T>();
  for (const std::string& p : cases_of(g, "randint.", tag)) {
    INFO(p);
    const auto params = params_of(g, p);
    tg::manual_seed(static_cast<uint64_t>(params[0]));
    const auto out = tg::randint<T>(static_cast<int64_t>(params[1]), static_cast<int64_t>(params[2]),
                                    golden_entry(g, p + "out").shape);
    expect_golden(out, g, p + "out", 0, 0);
    expect_golden(tg::rand<T>({3}), g, p + "next", 0, 0);  // as many words taken as torch takes
  }
  for (const std::string& p : cases_of(g, "multinomial.", tag)) {
    INFO(p);
    const auto params = params_of(g, p);
    const auto probs = golden_tensor<T>(g, p + "probs");
    tg::manual_seed(static_cast<uint64_t>(params[0]));
    const auto out = tg::multinomial(probs, static_cast<int64_t>(params[1]), params[2] != 0);
    expect_golden(out, g, p + "out", 0, 0);
    expect_golden(tg::rand<T>({3}), g, p + "next", 0, 0);
    tg::manual_seed(static_cast<uint64_t>(params[0]));
    expect_golden(probs.multinomial(static_cast<int64_t>(params[1]), params[2] != 0), g, p + "out", 0, 0);
  }
  for (const std::string& p : cases_of(g, "randperm.", tag)) {
    INFO(p);
    const auto params = params_of(g, p);
    tg::manual_seed(static_cast<uint64_t>(params[0]));
    const auto out = tg::randperm<T>(static_cast<int64_t>(params[1]));
    static_assert(std::is_same_v<std::decay_t<decltype(out)>, tg::Tensor<T>>);
    expect_golden(out, g, p + "out", 0, 0);
    expect_golden(tg::rand<T>({3}), g, p + "next", 0, 0);
    tg::manual_seed(static_cast<uint64_t>(params[0]));  // the same permutation as the vector form
    const auto v = tg::randperm(static_cast<int64_t>(params[1]));
    CHECK(std::vector<double>(v.begin(), v.end()) == std::vector<double>(out.data(), out.data() + out.numel()));
  }
}

TEST_CASE("sampling takes an explicit generator, and randint(high, shape) draws from 0") {
  tg::Generator gen(7);
  tg::manual_seed(7);
  CHECK(tg::randint<double>(0, 100, {5}, gen).to_vector() == tg::randint<double>(100, {5}).to_vector());
  const auto probs = tg::tensor<double>({0.2, 0.3, 0.5}, {3});
  CHECK(tg::multinomial(probs, 2, false, gen).to_vector() == tg::multinomial(probs, 2).to_vector());
  CHECK(tg::randperm<float>(6, gen).to_vector() == tg::randperm<float>(6).to_vector());
  CHECK(gen.offset() == tg::default_generator().offset());
  const auto r = tg::randint<float>(-3, 3, {2, 50});
  CHECK(r.shape() == tg::Shape{2, 50});
  for (float v : r.to_vector()) CHECK((v >= -3 && v < 3 && v == std::floor(v)));
}

TEST_CASE("argmax and argmin: first of ties, NaN wins, 0-d tensors, results without gradient") {
  auto x = leaf({1, 5, 5, 0, 0, 2}, {2, 3});
  CHECK(x.argmax(1).to_vector() == std::vector<double>{1, 2});
  CHECK(x.argmin(1, true).shape() == tg::Shape{2, 1});
  CHECK(x.argmin(1, true).to_vector() == std::vector<double>{0, 0});
  CHECK(x.argmax().item() == 1);
  CHECK(x.argmin().item() == 3);
  CHECK(x.argmax().dim() == 0);
  CHECK_FALSE(x.argmax().requires_grad());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(tg::tensor<double>({1, nan, 3, nan}, {4}).argmin().item() == 1);
  CHECK(tg::scalar_tensor(4.0).argmax(0).item() == 0);
  CHECK(tg::scalar_tensor(4.0).min(0).item() == 4);
  const auto [v, i] = tg::scalar_tensor(4.0).topk(1);
  CHECK((v.dim() == 0 && v.item() == 4 && i.item() == 0));
  CHECK(tg::logsumexp(tg::zeros<double>({2, 0}), 1).to_vector() ==
        std::vector<double>(2, -std::numeric_limits<double>::infinity()));
}

// ---- errors ------------------------------------------------------------------------------------

TEST_CASE("the reductions refuse dims out of range, empty reductions and k out of range, changing nothing") {
  auto x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  auto empty = tg::zeros<double>({2, 0}).requires_grad_();
  const Watch watch(x, empty);
  const std::string range = " is out of range for a tensor of shape [2, 3] (expected a dim in [-2, 1])";
  check_refused([&] { return x.min(2); }, "min: dim 2" + range, watch);
  check_refused([&] { return tg::argmax(x, -3); }, "argmax: dim -3" + range, watch);
  check_refused([&] { return x.argmin(2, true); }, "argmin: dim 2" + range, watch);
  check_refused([&] { return x.std(5); }, "std: dim 5" + range, watch);
  check_refused([&] { return tg::logsumexp(x, 2); }, "logsumexp: dim 2" + range, watch);
  check_refused([&] { return x.topk(1, 2); }, "topk: dim 2" + range, watch);
  check_refused([&] { return x.topk(4); }, "topk: k 4 is out of range for dim -1 of size 3 (shape [2, 3], expected k in [0, 3])",
                watch);
  check_refused([&] { return tg::topk(x, -1, 0); },
                "topk: k -1 is out of range for dim 0 of size 2 (shape [2, 3], expected k in [0, 2])", watch);
  check_refused([&] { return empty.min(); },
                "min: cannot reduce an empty tensor of shape [2, 0] (there is no identity); give a dim", watch);
  check_refused([&] { return empty.min(1); }, "min: cannot reduce over dim 1 of size 0 (shape [2, 0])", watch);
  check_refused([&] { return empty.argmax(); },
                "argmax: cannot reduce an empty tensor of shape [2, 0] (there is nothing to pick); give a dim", watch);
  check_refused([&] { return tg::argmin(empty, -1); }, "argmin: cannot reduce over dim -1 of size 0 (shape [2, 0])", watch);
  check_refused([&] { return tg::min(Td()); }, "min: expected a defined tensor, got an undefined one", watch);
  // as torch: an empty dim is fine where there is nothing to pick in it
  CHECK(empty.min(0).shape() == tg::Shape{0});
  CHECK(empty.topk(0).first.shape() == tg::Shape{2, 0});
  CHECK(std::isnan(empty.std().item()));
  // var over an empty dim is NaN too, biased or not (0 / max(0, n - correction)), as torch
  for (bool unbiased : {true, false}) {
    for (double v : tg::var(empty, 1, unbiased).to_vector()) CHECK(std::isnan(v));
    for (double v : tg::std(empty, 1, unbiased).to_vector()) CHECK(std::isnan(v));
  }
}

TEST_CASE("the sampling functions refuse bad arguments before drawing anything") {
  const Watch watch;
  check_refused([] { return tg::randint<float>(5, 5, {2}); }, "randint: expects low < high, but got low=5 >= high=5", watch);
  check_refused([] { return tg::randint<float>(0, (1 << 24) + 2, {2}); },
                "randint: [0, 16777218) is out of bounds [-(2^24), 2^24] for float (its integers are exact only there)",
                watch);
  check_refused([] { return tg::randint<double>(-(int64_t(1) << 53) - 1, 0, {2}); },
                "randint: [-9007199254740993, 0) is out of bounds [-(2^53), 2^53] for double (its integers are exact only there)",
                watch);
  check_refused([] { return tg::randperm<float>((1 << 24) + 2); },
                "randperm: n=16777218 is more than 2^24 + 1, which float cannot count exactly", watch);
  check_refused([] { return tg::randperm<double>(-1); }, "randperm: n must be non-negative, got n=-1", watch);
  const auto p = tg::tensor<double>({0.5, -0.25, 1, 0, 0, 0}, {2, 3});
  const auto p1 = tg::tensor<double>({0.5, 0.5}, {2});
  const double inf = std::numeric_limits<double>::infinity();
  for (bool replacement : {false, true}) {
    INFO("replacement " << replacement);
    check_refused([&] { return tg::multinomial(p, 1, replacement); },
                  "multinomial: probabilities must be finite and non-negative, got -0.25 at category 1 of row 0 (shape [2, 3])",
                  watch);
    check_refused([&] { return tg::multinomial(tg::tensor<double>({1, 2, 0, 0, 0, 0}, {2, 3}), 2, replacement); },
                  "multinomial: the probabilities of row 1 sum to 0 (shape [2, 3])", watch);
    check_refused([&] { return tg::multinomial(tg::tensor<double>({0, 0}, {2}), 1, replacement); },
                  "multinomial: the probabilities sum to 0 (shape [2])", watch);
    check_refused([&] { return tg::tensor<double>({1, inf}, {2}).multinomial(1, replacement); },
                  "multinomial: probabilities must be finite and non-negative, got inf at category 1 (shape [2])", watch);
    check_refused([&] { return tg::multinomial(p1, 0, replacement); }, "multinomial: num_samples must be positive, got 0", watch);
    check_refused([&] { return tg::multinomial(tg::ones<double>({2, 2, 2}), 1, replacement); },
                  "multinomial: probabilities must be 1-d or 2-d, got shape [2, 2, 2]", watch);
  }
  check_refused([&] { return tg::multinomial(p1, 3); },
                "multinomial: cannot draw 3 samples without replacement from 2 categories (shape [2])", watch);
  CHECK(tg::multinomial(p1, 3, true).shape() == tg::Shape{3});
}
