// The core alone: logistic regression on the seed's data with raw tensors and the tape.
// Build and run: cmake -S . -B build && cmake --build build --target logistic_regression
//                ./build/examples/logistic_regression
#include <cstdio>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

int main() {
  tg::manual_seed(42);
  auto X = tg::randn({100, 10});               // X: (100, 10)
  auto y = (X.sum(1) > 0).unsqueeze(1);        // y: (100, 1), 1 where the row sums positive
  auto W = (tg::randn({10, 1}) * 0.1).requires_grad_();
  auto b = tg::zeros({1}).requires_grad_();

  const float lr = 0.5f;
  for (int epoch = 0; epoch <= 100; ++epoch) {
    auto p = tg::sigmoid(tg::matmul(X, W) + b);  // p: (100, 1)
    auto loss = -tg::mean(y * tg::log(p + 1e-8) + (1 - y) * tg::log(1 - p + 1e-8));
    loss.backward();
    {
      tg::NoGradGuard no_grad;  // the update is not part of the graph
      W.matrix() -= lr * W.grad().matrix();
      b.data()[0] -= lr * b.grad().item();
    }
    W.set_grad(tg::Tensor<float>());
    b.set_grad(tg::Tensor<float>());
    if (epoch % 20 == 0) std::printf("Epoch %d, Loss: %.4f\n", epoch, loss.item());
  }
  tg::NoGradGuard no_grad;
  auto accuracy = ((tg::sigmoid(tg::matmul(X, W) + b) > 0.5) == y).mean();
  std::printf("Train accuracy: %.2f\n", accuracy.item());
}
