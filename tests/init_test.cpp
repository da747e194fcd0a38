// nn::init against torch.nn.init after torch.manual_seed (tests/golden/init.txt, written by
// tools/gen_optim_golden.py): the same draws from the same streams, torch's fans and gains,
// nothing recorded on the tape, and the refusals.
#include <cmath>
#include <string>

#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace init = tapegrad::nn::init;
using namespace tapegrad_test;

namespace {

const Golden& golden() { return golden_file("init.txt"); }

// The draws are PyTorch's bit for bit; the bounds and standard deviations are computed with
// the same double operations, so the values agree to the last bit but for the fused
// multiply-add of torch's vector kernels (a rounding in the last place).
template <class T>
void expect_init(const tg::Tensor<T>& t, const std::string& name) {
  expect_golden(t, golden(), name + "." + dtype_tag<T>(), std::is_same_v<T, float> ? 1e-6 : 1e-14, 0);
}

template <class T, class F>
void check_case(const std::string& name, uint64_t seed, const tg::Shape& shape, F&& fill) {
  INFO(name << "." << dtype_tag<T>());
  auto t = tg::empty<T>(shape);
  tg::manual_seed(seed);
  const tg::Tensor<T> returned = fill(t);
  CHECK(returned.impl() == t.impl());
  expect_init(t, name);
}

template <class T>
void check_all() {
  check_case<T>("uniform_.a", 11, {4, 5}, [](auto& t) { return init::uniform_(t, -2.0, 3.0); });
  check_case<T>("uniform_.d", 12, {3, 17}, [](auto& t) { return init::uniform_(t); });
  check_case<T>("normal_.a", 13, {4, 5}, [](auto& t) { return init::normal_(t, 1.0, 0.5); });
  check_case<T>("normal_.d", 14, {3, 17}, [](auto& t) { return init::normal_(t); });
  check_case<T>("xavier_uniform_.a", 15, {4, 5}, [](auto& t) { return init::xavier_uniform_(t); });
  check_case<T>("xavier_uniform_.conv", 16, {6, 3, 3, 3}, [](auto& t) { return init::xavier_uniform_(t, 2.0); });
  check_case<T>("xavier_normal_.a", 17, {4, 5}, [](auto& t) { return init::xavier_normal_(t); });
  check_case<T>("xavier_normal_.conv", 18, {6, 3, 3, 3}, [](auto& t) { return init::xavier_normal_(t, 0.5); });
  check_case<T>("kaiming_uniform_.a", 19, {4, 5}, [](auto& t) { return init::kaiming_uniform_(t); });
  check_case<T>("kaiming_uniform_.sqrt5", 20, {6, 3, 3, 3},
                [](auto& t) { return init::kaiming_uniform_(t, std::sqrt(5.0)); });
  check_case<T>("kaiming_uniform_.out_relu", 21, {3, 17},
                [](auto& t) { return init::kaiming_uniform_(t, 0, "fan_out", "relu"); });
  check_case<T>("kaiming_normal_.a", 22, {4, 5}, [](auto& t) { return init::kaiming_normal_(t); });
  check_case<T>("kaiming_normal_.conv", 23, {6, 3, 3, 3}, [](auto& t) { return init::kaiming_normal_(t, 0.1); });
  check_case<T>("kaiming_normal_.out_relu", 24, {3, 17},
                [](auto& t) { return init::kaiming_normal_(t, 0, "FAN_OUT", "relu"); });  // mode in any case
  check_case<T>("kaiming_normal_.tanh", 25, {5, 4, 2},
                [](auto& t) { return init::kaiming_normal_(t, 0, "fan_in", "tanh"); });

  // one stream through three calls
  auto a = tg::empty<T>({4, 5}), b = tg::empty<T>({3, 17}), c = tg::empty<T>({6});
  tg::manual_seed(7);
  init::xavier_uniform_(a);
  init::kaiming_normal_(b);
  init::uniform_(c, -1, 1);
  expect_golden(a, golden(), "seq." + dtype_tag<T>() + ".a", std::is_same_v<T, float> ? 1e-6 : 1e-14, 0);
  expect_golden(b, golden(), "seq." + dtype_tag<T>() + ".b", std::is_same_v<T, float> ? 1e-6 : 1e-14, 0);
  expect_golden(c, golden(), "seq." + dtype_tag<T>() + ".c", std::is_same_v<T, float> ? 1e-6 : 1e-14, 0);
}

}  // namespace

TEST_CASE("golden: nn::init after manual_seed, double") { check_all<double>(); }

TEST_CASE("golden: nn::init after manual_seed, float") { check_all<float>(); }

TEST_CASE("calculate_gain: torch's gains") {
  for (const char* name : {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                           "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"}) {
    INFO(name);
    CHECK(init::calculate_gain(name) == golden_entry(golden(), std::string("gain.") + name).values[0]);
  }
  CHECK(init::calculate_gain("leaky_relu", 0.2) == golden_entry(golden(), "gain.leaky_relu_0.2").values[0]);
  CHECK(init::calculate_gain("relu") == std::sqrt(2.0));
}

TEST_CASE("nn::init: constant_, zeros_, ones_, parameters stay leaves, nothing is recorded") {
  auto w = tg::randn<double>({3, 4}).requires_grad_();
  init::constant_(w, 0.25);
  CHECK(w.to_vector() == std::vector<double>(12, 0.25));
  init::zeros_(w);
  CHECK(w.to_vector() == std::vector<double>(12, 0.0));
  init::ones_(w);
  CHECK(w.to_vector() == std::vector<double>(12, 1.0));
  init::kaiming_uniform_(w);
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());
  CHECK(!w.impl()->grad_fn);
  // a tensor with no elements is left alone, drawing nothing (torch returns before the fan)
  auto empty = tg::empty<double>({0, 3});
  tg::manual_seed(3);
  init::kaiming_normal_(empty);
  const double next = tg::rand<double>({1}).item();
  tg::manual_seed(3);
  CHECK(tg::rand<double>({1}).item() == next);
  // Linear's default initialisation is kaiming_uniform_(a = sqrt(5)) on the weight: the same draws
  tg::manual_seed(9);
  tg::nn::Linear<double> linear(5, 3);
  auto w2 = tg::empty<double>({3, 5});
  tg::manual_seed(9);
  init::kaiming_uniform_(w2, std::sqrt(5.0));
  CHECK(w2.to_vector() == linear.weight.to_vector());
}

TEST_CASE("nn::init: refusals with exact messages, the tensor unchanged and no draw taken") {
  auto v = tg::zeros<double>({5});
  const auto w = tg::zeros<double>({4, 5});
  tg::manual_seed(1);
  const double next = tg::rand<double>({1}).item();
  tg::manual_seed(1);
  const std::string fewer = ": fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape [5]";
  CHECK_THROWS_WITH(init::xavier_uniform_(v), "xavier_uniform_" + fewer);
  CHECK_THROWS_WITH(init::xavier_normal_(v), "xavier_normal_" + fewer);
  CHECK_THROWS_WITH(init::kaiming_uniform_(v), "kaiming_uniform_" + fewer);
  CHECK_THROWS_WITH(init::kaiming_normal_(v), "kaiming_normal_" + fewer);
  CHECK_THROWS_WITH(init::kaiming_uniform_(w, 0, "fan_avg"),
                    "kaiming_uniform_: mode \"fan_avg\" not supported, please use one of fan_in, fan_out");
  CHECK_THROWS_WITH(init::kaiming_normal_(w, 0, "fan_in", "swish"),
                    "kaiming_normal_: unsupported nonlinearity \"swish\" (linear, conv1d, conv2d, conv3d, conv_transpose1d, "
                    "conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, leaky_relu, selu)");
  CHECK_THROWS_WITH(init::calculate_gain("Relu"),
                    "calculate_gain: unsupported nonlinearity \"Relu\" (linear, conv1d, conv2d, conv3d, conv_transpose1d, "
                    "conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, leaky_relu, selu)");
  CHECK_THROWS_WITH(init::uniform_(v, 1, 0), "uniform_: expects from <= to, but got from=1 to=0");
  CHECK_THROWS_WITH(init::normal_(v, 0, -1), "normal_: expects std >= 0.0, but got std=-1");
  CHECK(v.to_vector() == std::vector<double>(5, 0.0));
  CHECK(w.to_vector() == std::vector<double>(20, 0.0));
  CHECK(tg::rand<double>({1}).item() == next);
}
