// Conv2d against PyTorch (tests/golden/conv.txt, written by tools/gen_conv_golden.py): forward,
// grads of input, weight and bias in double and float for every configuration (stride,
// padding, dilation, groups, depthwise, non-square, 1x1, unbatched, no bias, "same"/"valid");
// gradcheck and gradgradcheck in double on each; the module's initialisation after
// manual_seed; gradients computed only where needed.
#include <array>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

const Golden& conv_golden() { return golden_file("conv.txt"); }

// The configurations gen_conv_golden.py writes (its CASES), each read from <case>.params.
const std::vector<std::string> kCases = {
    "basic",       "pad1",           "stride2",          "nonsquare",        "dilation2",     "dilation_mixed",
    "groups2",     "depthwise",      "depthwise_stride", "pointwise",        "pointwise_groups", "pointwise_stride",
    "pointwise_pad", "nobias",       "unbatched",        "unbatched_nobias", "big_padding",   "kernel_is_input",
    "batch_one_channel", "same_even", "same_dilated",    "valid",            "long_filter",   "long_filter_groups",
    "direct_pad1", "direct_stride_h", "direct_dilated", "direct_groups", "direct_same_even", "direct_nonsquare"};

struct Config {
  std::array<int64_t, 2> stride, padding, dilation;
  int64_t groups;
  bool has_bias;
  int mode;  // 0: numbers, 1: "same", 2: "valid"
};

Config config_of(const std::string& name) {
  const std::vector<double>& p = golden_entry(conv_golden(), name + ".params").values;
  REQUIRE(p.size() == 9);
  auto i = [&](size_t k) { return static_cast<int64_t>(p[k]); };
  return {{i(0), i(1)}, {i(2), i(3)}, {i(4), i(5)}, i(6), p[7] != 0, static_cast<int>(p[8])};
}

template <class T>
tg::Tensor<T> run_conv(const Config& c, const tg::Tensor<T>& x, const tg::Tensor<T>& w, const tg::Tensor<T>& b) {
  namespace F = tg::nn::functional;
  if (c.mode == 1) return F::conv2d(x, w, b, c.stride, "same", c.dilation, c.groups);
  if (c.mode == 2) return F::conv2d(x, w, b, c.stride, std::string("valid"), c.dilation, c.groups);
  return F::conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
}

template <class T>
void check_case(const std::string& name, double rtol, double atol) {
  const Golden& g = conv_golden();
  const Config c = config_of(name);
  const std::string p = name + "." + dtype_tag<T>() + ".";
  auto x = golden_tensor<T>(g, p + "x").requires_grad_();
  auto w = golden_tensor<T>(g, p + "w").requires_grad_();
  tg::Tensor<T> b;
  if (c.has_bias) b = golden_tensor<T>(g, p + "b").requires_grad_();
  const auto y = run_conv(c, x, w, b);
  expect_golden(y, g, p + "y", rtol, atol);
  (y * golden_tensor<T>(g, p + "gout")).sum().backward();
  expect_golden(x.grad(), g, p + "gx", rtol, atol);
  expect_golden(w.grad(), g, p + "gw", rtol, atol);
  if (c.has_bias) expect_golden(b.grad(), g, p + "gb", rtol, atol);
}

}  // namespace

TEST_CASE("conv2d matches PyTorch in double: output and the grads of input, weight and bias") {
  for (const std::string& name : kCases) {
    INFO("case " << name);
    check_case<double>(name, 1e-10, 1e-12);
  }
}

TEST_CASE("conv2d matches PyTorch in float") {
  for (const std::string& name : kCases) {
    INFO("case " << name);
    check_case<float>(name, 1e-5, 2e-5);
  }
}

TEST_CASE("every case of the golden file is tested") {
  CHECK(golden_case_names(conv_golden(), ".params", "init.") == std::set<std::string>(kCases.begin(), kCases.end()));
}

TEST_CASE("conv2d gradcheck and gradgradcheck in double, every configuration") {
  const Golden& g = conv_golden();
  for (const std::string& name : kCases) {
    INFO("case " << name);
    const Config c = config_of(name);
    std::vector<tg::Tensor<double>> inputs = {golden_tensor<double>(g, name + ".f64.x").requires_grad_(),
                                              golden_tensor<double>(g, name + ".f64.w").requires_grad_()};
    if (c.has_bias) inputs.push_back(golden_tensor<double>(g, name + ".f64.b").requires_grad_());
    require_gradcheck(
        [&](const std::vector<tg::Tensor<double>>& in) {
          return run_conv(c, in[0], in[1], c.has_bias ? in[2] : tg::Tensor<double>());
        },
        inputs);
  }
}

TEST_CASE("conv2d third order: the double backward differentiates again") {
  // gradgradcheck of the function (x, w) -> d/dx sum(conv(x, w) * v): its gradients are the
  // third derivatives of the convolution's tape.
  auto x = tg::randn<double>({1, 2, 5, 4}).requires_grad_();
  auto w = tg::randn<double>({3, 2, 3, 2}).requires_grad_();
  const auto v = tg::randn<double>({1, 3, 5, 3});
  require_gradcheck(
      [&](const std::vector<tg::Tensor<double>>& in) {
        // gradcheck's finite differences call this without grad mode: the gradient is taken anyway
        tg::AutoGradMode grad_on(true);
        const auto x0 = in[0].requires_grad() ? in[0] : in[0].detach().requires_grad_();
        const auto y = tg::nn::functional::conv2d(x0, in[1], {}, {1, 2}, 1);
        return tg::autograd::grad({(y * y * v).sum()}, {x0}, {}, true, true)[0];
      },
      {x, w});
}

TEST_CASE("conv2d computes only the gradients that are needed") {
  auto x = tg::randn<double>({2, 3, 5, 5});  // data: no gradient
  auto w = tg::randn<double>({4, 3, 3, 3}).requires_grad_();
  auto b = tg::randn<double>({4});
  auto y = tg::nn::functional::conv2d(x, w, b, 1, 1);
  y.sum().backward();
  CHECK(!x.grad().defined());
  CHECK(!b.grad().defined());
  REQUIRE(w.grad().defined());
  CHECK(w.grad().shape() == tg::Shape{4, 3, 3, 3});
  // the same weight gradient as when every input requires grad
  auto x2 = x.detach().requires_grad_();
  auto w2 = w.detach().requires_grad_();
  auto b2 = b.detach().requires_grad_();
  tg::nn::functional::conv2d(x2, w2, b2, 1, 1).sum().backward();
  check_close(w.grad(), w2.grad(), 0, 0);
  // only the input: a frozen layer still backpropagates
  auto x3 = x.detach().requires_grad_();
  tg::nn::functional::conv2d(x3, w.detach(), b, 1, 1).sum().backward();
  check_close(x3.grad(), x2.grad(), 0, 0);
}

TEST_CASE("Conv2d's parameters equal torch.nn.Conv2d's after manual_seed, float and double") {
  const Golden& g = conv_golden();
  const auto names = golden_case_names(g, ".params", "#");  // no name starts with #
  int tested = 0;
  for (const std::string& full : names) {
    if (full.rfind("init.", 0) != 0) continue;
    INFO(full);
    const std::vector<double>& p = golden_entry(g, full + ".params").values;
    auto i = [&](size_t k) { return static_cast<int64_t>(p[k]); };
    const auto options = tg::nn::Conv2dOptions(i(0), i(1), {i(2), i(3)}).stride(i(4)).padding(i(5)).groups(i(6)).bias(p[7] != 0);
    tg::manual_seed(static_cast<uint64_t>(i(8)));
    tg::nn::Conv2d<float> f(options);
    tg::manual_seed(static_cast<uint64_t>(i(8)));
    tg::nn::Conv2d<double> d(options);
    expect_golden(f.weight, g, full + ".f32.weight", 0, 0);
    expect_golden(d.weight, g, full + ".f64.weight", 0, 0);
    CHECK(f.bias.defined() == (p[7] != 0));
    if (p[7] != 0) {
      expect_golden(f.bias, g, full + ".f32.bias", 0, 0);
      expect_golden(d.bias, g, full + ".f64.bias", 0, 0);
    }
    ++tested;
  }
  CHECK(tested == 5);
}

TEST_CASE("Conv2d: constructors, deduction, parameters and forward") {
  tg::nn::Conv2d conv(1, 8, 3);
  static_assert(std::is_same_v<decltype(conv), tg::nn::Conv2d<float>>);
  tg::nn::Conv2d strided(3, 6, {3, 2}, {2, 1}, {1, 0}, 1, 3, false);
  static_assert(std::is_same_v<decltype(strided), tg::nn::Conv2d<float>>);
  tg::nn::Conv2d from_options(tg::nn::Conv2dOptions(3, 6, {3, 2}).stride({2, 1}).padding({1, 0}).groups(3).bias(false));
  static_assert(std::is_same_v<decltype(from_options), tg::nn::Conv2d<float>>);
  CHECK(strided.weight.shape() == tg::Shape{6, 1, 3, 2});
  CHECK(!strided.bias.defined());
  CHECK(from_options.weight.shape() == strided.weight.shape());
  CHECK(from_options.options.stride() == tg::ExpandingArray<2>({2, 1}));
  CHECK(from_options.options.groups() == 3);
  const auto named = conv.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[1].first == "bias");
  CHECK(conv.weight.shape() == tg::Shape{8, 1, 3, 3});
  CHECK(conv(tg::randn({2, 1, 6, 5})).shape() == tg::Shape{2, 8, 4, 3});
  CHECK(conv(tg::randn({1, 6, 5})).shape() == tg::Shape{8, 4, 3});
  CHECK(strided(tg::randn({2, 3, 7, 7})).shape() == tg::Shape{2, 6, 4, 6});
  tg::nn::Conv2d<double> dconv(2, 4, 3, 1, 1);
  auto x = tg::randn<double>({2, 2, 5, 5}).requires_grad_();
  auto y = dconv(x);
  CHECK(y.shape() == tg::Shape{2, 4, 5, 5});
  y.sum().backward();
  CHECK(x.grad().shape() == x.shape());
  CHECK(dconv.weight.grad().shape() == dconv.weight.shape());
  CHECK(dconv.bias.grad().shape() == tg::Shape{4});
}

TEST_CASE("conv2d of an empty batch is an empty output, and its weight gradient zero") {
  auto w = tg::randn<double>({4, 3, 3, 3}).requires_grad_();
  auto b = tg::randn<double>({4}).requires_grad_();
  auto y = tg::nn::functional::conv2d(tg::randn<double>({0, 3, 5, 5}), w, b, 1, 1);
  CHECK(y.shape() == tg::Shape{0, 4, 5, 5});
  y.sum().backward();
  for (double v : w.grad().to_vector()) CHECK(v == 0);
  for (double v : b.grad().to_vector()) CHECK(v == 0);
}
