// The smallest program a user writes: one include, one graph, one backward; and the version the
// headers say is the one the build system found (TAPEGRAD_EXPECTED_VERSION, passed by CMake or
// from pkg-config --modversion).
#include <cstdio>

#include <tapegrad/tapegrad.hpp>

#ifndef TAPEGRAD_EXPECTED_VERSION
#error "compile with -DTAPEGRAD_EXPECTED_VERSION=\"x.y.z\", the version the build system found"
#endif

constexpr bool same_text(const char* a, const char* b) {
  for (; *a != '\0' && *a == *b; ++a, ++b) {
  }
  return *a == *b;
}
static_assert(same_text(TAPEGRAD_VERSION, TAPEGRAD_EXPECTED_VERSION),
              "tapegrad/version.hpp disagrees with the version the build system found");
static_assert(TAPEGRAD_VERSION_NUMBER ==
                  TAPEGRAD_VERSION_MAJOR * 10000 + TAPEGRAD_VERSION_MINOR * 100 + TAPEGRAD_VERSION_PATCH,
              "TAPEGRAD_VERSION_NUMBER is not MAJOR*10000 + MINOR*100 + PATCH");

int main() {
  namespace tg = tapegrad;
  auto w = tg::ones({2}).requires_grad_();
  auto loss = (w * w).sum();
  loss.backward();
  std::printf("tapegrad %s (%d): loss %.1f grad %.1f %.1f\n", TAPEGRAD_VERSION, TAPEGRAD_VERSION_NUMBER,
              loss.item(), w.grad().data()[0], w.grad().data()[1]);
  return loss.item() == 2.0f && w.grad().data()[0] == 2.0f ? 0 : 1;
}
