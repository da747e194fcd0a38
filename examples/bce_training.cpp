// The seed's training script in C++: a small MLP learns whether a row of X sums to a positive
// number, with a hand-written binary cross entropy and Adam. With seed 42 it prints what
// PyTorch prints for the same script (reference/bce_demo_torch.py).
// Build and run: cmake -S . -B build && cmake --build build --target bce_training
//                ./build/examples/bce_training [seed]
#include <cstdio>
#include <cstdlib>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

int main(int argc, char** argv) {
  tg::manual_seed(argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 42);
  auto X = tg::randn({100, 10});               // X: (100, 10)
  auto y = (X.sum(1) > 0).unsqueeze(1);        // y: (100, 1)

  tg::nn::Sequential model(tg::nn::Linear(10, 20), tg::nn::BatchNorm1d(20), tg::nn::ReLU(),
                           tg::nn::Dropout(0.2), tg::nn::Linear(20, 1), tg::nn::Sigmoid());
  tg::optim::Adam optimizer(model.parameters(), 0.01);
  std::printf("Model created.\n");

  model.train();
  tg::Tensor<float> loss;
  for (int epoch = 0; epoch < 50; ++epoch) {
    auto p = model(X);
    loss = -tg::mean(y * tg::log(p + 1e-8) + (1 - y) * tg::log(1 - p + 1e-8));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (epoch % 10 == 0) std::printf("Epoch %d, Loss: %.4f\n", epoch, loss.item());
  }
  std::printf("Final Loss: %.4f\n", loss.item());

  model.eval();
  auto test_pred = model(X.narrow(0, 0, 5)).detach().view({-1});
  std::printf("Test predictions (first 5):");
  for (float v : test_pred.to_vector()) std::printf(" %.4e", v);
  std::printf("\n");
}
