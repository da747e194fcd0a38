// Run by the sanitizer build's ctest, which expects ASan to stop it: reads one element past a
// pooled tensor's values ("overflow") or a value of a tensor that has died and whose block the
// pool keeps ("after-free"). Without the pool's poisoning neither would be reported.
#include <cstdio>
#include <cstring>

#include <tapegrad/tapegrad.hpp>

int main(int argc, char** argv) {
  const bool after_free = argc > 1 && std::strcmp(argv[1], "after-free") == 0;
  volatile float sink = 0;
  const float* values = nullptr;
  {
    auto t = tapegrad::ones({3});
    values = t.data();
    if (!after_free) sink = values[3];
  }
  if (after_free) sink = values[0];
  std::printf("not caught: %f\n", static_cast<double>(sink));
  return 0;
}
