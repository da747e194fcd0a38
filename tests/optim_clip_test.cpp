// nn::utils::clip_grad_norm_ against torch.nn.utils.clip_grad_norm_ (tests/golden/optim.txt's
// clip.* from tools/gen_optim_golden.py): the returned total norm and the scaled gradients for
// the 2-, 1-, 3- and inf-norms, a parameter without a gradient, and the errors.
#include <limits>
#include <string>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

const Golden& golden() { return golden_file("optim.txt"); }

struct Case {
  const char* name;
  double max_norm, norm_type;
};
const Case kCases[] = {{"l2_clip", 1.0, 2.0}, {"l2_noclip", 100.0, 2.0},
                       {"inf", 0.5, std::numeric_limits<double>::infinity()},
                       {"l1", 2.0, 1.0},   {"l3", 1.0, 3.0}, {"nograd", 1.0, 2.0}};

// torch sums the norms in float for float gradients, tapegrad in double: float within an ulp or
// two; the scale max_norm / (total + 1e-6) follows, so the gradients too.
template <class T>
void check_case(const Case& c) {
  const std::string p = std::string("clip.") + c.name + "." + dtype_tag<T>() + ".";
  INFO(p);
  const double rtol = std::is_same_v<T, float> ? 5e-7 : 1e-14;
  std::vector<tg::Tensor<T>> params;
  for (int i = 0; i < 3; ++i) {
    const auto g = golden_tensor<T>(golden(), p + "g" + std::to_string(i));
    params.push_back(tg::zeros_like(g).requires_grad_());
    if (!(std::string(c.name) == "nograd" && i == 1)) params.back().set_grad(g.clone());
  }
  const double total = tg::nn::utils::clip_grad_norm_(params, c.max_norm, c.norm_type);
  const double expected = golden_entry(golden(), p + "total").values[0];
  if (std::getenv("TAPEGRAD_REPORT_ERRORS")) std::cout << "error " << p << "total: max abs " << std::abs(total - expected) << "\n";
  CHECK(std::abs(total - expected) <= rtol * expected);
  for (int i = 0; i < 3; ++i) {
    if (!params[i].grad().defined()) {
      CHECK(std::string(c.name) == "nograd");
      continue;
    }
    expect_golden(params[i].grad(), golden(), p + "c" + std::to_string(i), rtol, 0);
  }
}

}  // namespace

TEST_CASE("golden: clip_grad_norm_, double") {
  for (const Case& c : kCases) check_case<double>(c);
}

TEST_CASE("golden: clip_grad_norm_, float") {
  for (const Case& c : kCases) check_case<float>(c);
}

TEST_CASE("clip_grad_norm_: no gradients, a single tensor, no graph recorded") {
  std::vector<tg::Tensor<double>> none{tg::zeros<double>({3}).requires_grad_()};
  CHECK(tg::nn::utils::clip_grad_norm_(none, 1.0) == 0.0);
  CHECK(tg::nn::utils::clip_grad_norm_(std::vector<tg::Tensor<double>>{}, 1.0) == 0.0);

  auto w = tg::zeros<double>({2}).requires_grad_();
  w.set_grad(tg::tensor<double>({3, 4}, {2}));
  const double total = tg::nn::utils::clip_grad_norm_(w, 1.0);
  CHECK(total == 5.0);
  const double coef = 1.0 / (5.0 + 1e-6);  // torch: reciprocal, then times max_norm
  CHECK(w.grad().to_vector() == std::vector<double>{3 * coef, 4 * coef});
  CHECK(!w.grad().requires_grad());

  // a gradient that is itself on a tape (create_graph) is scaled in place without recording
  auto x = tg::tensor<double>({1.5, -2.0}, {2}).requires_grad_();
  tg::sum(tg::pow(x, 3)).backward({}, /*retain_graph=*/true, /*create_graph=*/true);
  REQUIRE(x.grad().requires_grad());
  const auto fn_before = x.grad().impl()->grad_fn;
  tg::nn::utils::clip_grad_norm_(std::vector<tg::Tensor<double>>{x}, 1.0);
  CHECK(x.grad().impl()->grad_fn == fn_before);
  x.set_grad(tg::Tensor<double>());  // x's grad holds a graph that holds x: break the cycle (LeakSanitizer)
}

TEST_CASE("clip_grad_norm_: a non-finite norm scales by it, or throws with error_if_nonfinite") {
  auto w = tg::zeros<double>({3}).requires_grad_();
  w.set_grad(tg::tensor<double>({1, std::numeric_limits<double>::infinity(), 2}, {3}));
  const auto before = w.grad().to_vector();
  CHECK_THROWS_WITH(tg::nn::utils::clip_grad_norm_(w, 1.0, 2.0, true),
                    "clip_grad_norm_: the total norm of order 2 for gradients from `parameters` is non-finite, so it "
                    "cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
                    "`error_if_nonfinite=false`");
  CHECK(w.grad().to_vector() == before);
  // torch: coef = 1 / inf = 0, so finite entries become 0 and the inf one nan
  CHECK(std::isinf(tg::nn::utils::clip_grad_norm_(w, 1.0)));
  const auto after = w.grad().to_vector();
  CHECK(after[0] == 0);
  CHECK(std::isnan(after[1]));
  CHECK(after[2] == 0);
}

TEST_CASE("clip_grad_norm_: bad max_norm and norm_type throw with exact messages, changing nothing") {
  auto w = tg::zeros<double>({2}).requires_grad_();
  w.set_grad(tg::tensor<double>({3, 4}, {2}));
  CHECK_THROWS_WITH(tg::nn::utils::clip_grad_norm_(w, -1.0), "clip_grad_norm_: max_norm must be >= 0, got -1");
  CHECK_THROWS_WITH(tg::nn::utils::clip_grad_norm_(w, 1.0, 0.0),
                    "clip_grad_norm_: norm_type must be positive or inf, got 0");
  CHECK_THROWS_WITH(tg::nn::utils::clip_grad_norm_(w, 1.0, -2.0),
                    "clip_grad_norm_: norm_type must be positive or inf, got -2");
  CHECK(w.grad().to_vector() == std::vector<double>{3, 4});
}

TEST_CASE("clip_grad_norm_ with the inf-norm: a NaN gradient gives a NaN norm, as torch's max") {
  auto w = tg::zeros<double>({3}).requires_grad_();
  w.set_grad(tg::tensor<double>({1.0, std::nan(""), -4.0}, {3}));
  CHECK(std::isnan(tg::nn::utils::clip_grad_norm_({w}, 1.0, std::numeric_limits<double>::infinity())));
  w.set_grad(tg::tensor<double>({1.0, std::nan(""), -4.0}, {3}));
  CHECK_THROWS_WITH(tg::nn::utils::clip_grad_norm_({w}, 1.0, std::numeric_limits<double>::infinity(), true),
                    Catch::Contains("clip_grad_norm_: the total norm of order inf"));
}
