// The smallest program a user writes: one include, one graph, one backward.
#include <cstdio>

#include <tapegrad/tapegrad.hpp>

int main() {
  namespace tg = tapegrad;
  auto w = tg::ones({2}).requires_grad_();
  auto loss = (w * w).sum();
  loss.backward();
  std::printf("loss %.1f grad %.1f %.1f\n", loss.item(), w.grad().data()[0], w.grad().data()[1]);
  return loss.item() == 2.0f && w.grad().data()[0] == 2.0f ? 0 : 1;
}
