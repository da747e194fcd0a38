// Bounded memory: loops that run for thousands of iterations keep a flat resident set, because
// each graph dies with its last tensor and the pools reuse their blocks.
#include <cstdint>
#include <fstream>

#include <unistd.h>

#include "support/demo_training.hpp"
#include "support/helpers.hpp"

namespace tg = tapegrad;
using Td = tg::Tensor<double>;

namespace {

// The resident set size of this process, from /proc/self/statm (in pages there).
int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  REQUIRE(statm.good());
  return resident_pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("an inference loop without NoGradGuard frees each graph and does not grow memory") {
  tg::manual_seed(7);
  // If each iteration's graph (3 nodes and the relu output it saves, ~2 KB) leaked, 20000
  // iterations would take about 40 MB: far above the slack below.
  Td x = tg::randn<double>({4, 16});
  Td W = tg::randn<double>({16, 16}).requires_grad_();
  Td b = tg::randn<double>({16}).requires_grad_();
  auto step = [&] {
    Td y = tg::relu(tg::matmul(x, W) + b);
    return y.requires_grad();  // a graph was recorded
  };
  bool recorded = true;
  for (int i = 0; i < 1000; ++i) recorded = step() && recorded;  // warm-up: pools and caches fill
  const int64_t before = resident_bytes();
  for (int i = 0; i < 20000; ++i) recorded = step() && recorded;
  const int64_t after = resident_bytes();
  CHECK(recorded);
  INFO("resident before " << before << " bytes, after " << after << " bytes");
  CHECK(after - before < int64_t(8) << 20);
  // nothing still refers to the parameters: every graph died with its output
  CHECK(W.impl_ptr().use_count() == 1);
  CHECK(b.impl_ptr().use_count() == 1);
  CHECK(x.impl()->storage.use_count() == 1);
}

TEST_CASE("5000 training steps of the demo keep memory flat") {
  tg::manual_seed(42);
  tapegrad_test::DemoTraining<float> demo;
  // One step allocates about 60 KB of tensors and graph (activations of 100 x 20 floats,
  // masks, gradients, Adam's state); were any of it kept per step, 4000 steps would hold more
  // than 200 MB.
  double loss = 0;
  for (int i = 0; i < 1000; ++i) loss = demo.step();  // warm-up: pools and caches fill
  const int64_t before = resident_bytes();
  for (int i = 0; i < 4000; ++i) loss = demo.step();
  const int64_t after = resident_bytes();
  INFO("resident before " << before << " bytes, after " << after << " bytes; final loss " << loss);
  CHECK(after - before < int64_t(8) << 20);
  CHECK(std::isfinite(loss));
  // no graph still holds a parameter: only the layer's member, the module's registry, the
  // optimizer and the vector parameters() returned here
  for (const auto& p : demo.model.parameters()) CHECK(p.impl_ptr().use_count() == 4);
}
