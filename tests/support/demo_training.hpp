#pragma once
// The seed's training run (examples/bce_training.cpp) as a reusable workload: X (100, 10),
// Linear - BatchNorm1d - ReLU - Dropout - Linear - Sigmoid, the hand-written BCE, Adam. All its
// random draws (data, initial weights, dropout masks) come from the default generator.
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tapegrad_test {

template <class T>
struct DemoTraining {
  tapegrad::Tensor<T> X = tapegrad::randn<T>({100, 10});
  tapegrad::Tensor<T> y = (X.sum(1) > 0).unsqueeze(1);
  tapegrad::nn::Sequential<T> model{tapegrad::nn::Linear<T>(10, 20), tapegrad::nn::BatchNorm1d<T>(20),
                                    tapegrad::nn::ReLU<T>(),         tapegrad::nn::Dropout<T>(0.2),
                                    tapegrad::nn::Linear<T>(20, 1),  tapegrad::nn::Sigmoid<T>()};
  tapegrad::optim::Adam<T> optimizer{model.parameters(), 0.01};

  // One step: forward, loss, zero_grad, backward, Adam; returns the loss.
  T step() {
    auto p = model(X);
    auto loss = -tapegrad::mean(y * tapegrad::log(p + 1e-8) + (1 - y) * tapegrad::log(1 - p + 1e-8));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    return loss.item();
  }

  // Every parameter's and buffer's values, in registration order.
  std::vector<T> state() const {
    std::vector<T> out;
    for (const auto& t : model.parameters()) out.insert(out.end(), t.data(), t.data() + t.numel());
    for (const auto& t : model.buffers()) out.insert(out.end(), t.data(), t.data() + t.numel());
    return out;
  }
};

}  // namespace tapegrad_test
