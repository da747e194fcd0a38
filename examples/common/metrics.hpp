// Accuracy counting for the examples' classifiers (not part of the library).
#pragma once

#include <cstdint>

#include <tapegrad/core/tensor.hpp>

namespace examples {

// The rows of logits (N, C) whose largest value is at the row's label (N), the first on ties.
inline int64_t count_correct(const tapegrad::Tensor<float>& logits, const tapegrad::Tensor<float>& labels) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  int64_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = logits.data() + r * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) best = row[c] > row[best] ? c : best;
    correct += best == static_cast<int64_t>(labels.data()[r]);
  }
  return correct;
}

}  // namespace examples
