// The README's API tour, compiled so that it stays true.
#include <cstdio>

#include <tapegrad/tapegrad.hpp>
namespace tg = tapegrad;

int main() {
  tg::manual_seed(42);
  auto X = tg::randn<double>({100, 10});            // PyTorch's stream for the same seed
  auto W = tg::randn<double>({10, 1}).requires_grad_();
  auto b = tg::zeros<double>({1}).requires_grad_();

  auto z = tg::matmul(X, W) + b;                    // (100, 1): b broadcasts
  auto loss = tg::pow(tg::sigmoid(z) - 1, 2).mean();
  loss.backward();                                  // fills W.grad() and b.grad()

  {
    tg::NoGradGuard no_grad;                        // nothing in here records a graph
    auto p = tg::softmax(z, 1);
    std::printf("loss %.6f, dL/db %.6f, softmax over one column: %.1f\n", loss.item(), b.grad().item(), p.sum().item() / 100);
  }
}
