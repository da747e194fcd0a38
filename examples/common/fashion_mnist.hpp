#pragma once
// What examples/fashion_mnist.cpp and its data-parallel twin ddp_fashion_mnist.cpp share: the
// first images of a split and the CNN, so the two train the very same model.
#include <algorithm>
#include <cstdint>

#include <tapegrad/tapegrad.hpp>

namespace examples {

// The first `limit` examples of a split (all when limit is 0 or more than there are).
inline tapegrad::data::TensorDataset<float> first_examples(const tapegrad::data::MNIST<float>& split, int64_t limit) {
  const int64_t n = limit > 0 ? std::min(limit, split.size()) : split.size();
  return {split.images().narrow(0, 0, n), split.targets().narrow(0, 0, n)};
}

// (N, 1, 28, 28) -> (N, 16, 28, 28) -> pool -> (N, 16, 14, 14) -> (N, 32, 14, 14) -> pool ->
// (N, 32, 7, 7) -> 10 logits; its weights drawn from the default generator.
inline tapegrad::nn::Sequential<float> fashion_cnn() {
  namespace nn = tapegrad::nn;
  return nn::Sequential<float>(nn::Conv2d(1, 16, 3, 1, 1), nn::BatchNorm2d(16), nn::ReLU(), nn::MaxPool2d(2),
                               nn::Conv2d(16, 32, 3, 1, 1), nn::BatchNorm2d(32), nn::ReLU(), nn::MaxPool2d(2),
                               nn::Flatten(), nn::Linear(32 * 7 * 7, 10));
}

}  // namespace examples
