// PyTorch -> tapegrad -> PyTorch. tools/gen_interop_golden.py trained a small model in PyTorch
// and wrote its state dict as safetensors and with torch.save, in float32 and float64, and its
// eval outputs on fixed inputs (tests/golden/interop/). Here: every one of those files loads and
// reproduces PyTorch's outputs to 1e-6; and the file tapegrad saves is byte for byte the one
// checked in as tapegrad_saved*.safetensors, which tools/check_interop_in_torch.py loads into
// PyTorch with strict=True and finds PyTorch's outputs again. (With TAPEGRAD_UPDATE_GOLDEN set,
// the test writes those two files instead; then run the script on them.)
#include <cstdio>
#include <fstream>

#include <tapegrad/io.hpp>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using tapegrad_test::bytes_of;
using tapegrad_test::expect_golden;
using tapegrad_test::golden_file;
using tapegrad_test::golden_tensor;

namespace {

const std::string kDir = std::string(TAPEGRAD_GOLDEN_DIR) + "/interop/";

template <class T>
tg::nn::Sequential<T> interop_model() {
  tg::manual_seed(99);  // other weights than PyTorch's: every value must come from the file
  return tg::nn::Sequential<T>(tg::nn::Linear<T>(4, 8), tg::nn::BatchNorm1d<T>(8), tg::nn::ReLU<T>(),
                               tg::nn::Linear<T>(8, 3));
}

template <class T>
void check_outputs(tg::nn::Sequential<T>& model) {
  const auto& g = golden_file("interop/outputs.txt");
  const std::string tag = tapegrad_test::dtype_tag<T>();
  model.eval();
  tg::NoGradGuard no_grad;
  expect_golden(model(golden_tensor<T>(g, "input." + tag)), g, "output." + tag, 0, 1e-6);
}

}  // namespace

TEMPLATE_TEST_CASE("PyTorch's safetensors and torch.save files load and give PyTorch's outputs", "", float, double) {
  const std::string suffix = std::is_same_v<TestType, float> ? "" : "_f64";
  for (const std::string ext : {".safetensors", ".pt"}) {
    INFO("file model" << suffix << ext);
    auto model = interop_model<TestType>();
    tg::load(model, kDir + "model" + suffix + ext);
    check_outputs(model);
    // PyTorch counted 5 training batches; the count comes through as I64.
    CHECK(model.state_dict()[6].first == "1.num_batches_tracked");
    CHECK(model.state_dict()[6].second.item() == 5);
  }
  // Either precision's files load into the other.
  auto other = interop_model<TestType>();
  tg::load(other, kDir + "model" + std::string(std::is_same_v<TestType, float> ? "_f64" : "") + ".pt");
  other.eval();
  tg::NoGradGuard no_grad;
  const auto& g = golden_file("interop/outputs.txt");
  const std::string tag = tapegrad_test::dtype_tag<TestType>();
  expect_golden(other(golden_tensor<TestType>(g, "input." + tag)), g, "output." + tag, 0, 1e-5);
}

TEMPLATE_TEST_CASE("what tapegrad saves is the file PyTorch was checked to load", "", float, double) {
  const std::string suffix = std::is_same_v<TestType, float> ? "" : "_f64";
  auto model = interop_model<TestType>();
  tg::load(model, kDir + "model" + suffix + ".pt");
  const std::string path = "io_interop_test.saved" + suffix + ".safetensors";
  tg::save(model, path);
  const auto saved = bytes_of(path);
  std::remove(path.c_str());
  const std::string golden = kDir + "tapegrad_saved" + suffix + ".safetensors";
  if (std::getenv("TAPEGRAD_UPDATE_GOLDEN")) tg::save(model, golden);
  // tools/check_interop_in_torch.py tests/golden/interop/tapegrad_saved*.safetensors: PASS
  CHECK(saved == bytes_of(golden));
  auto again = interop_model<TestType>();
  tg::load(again, golden);
  check_outputs(again);
}
