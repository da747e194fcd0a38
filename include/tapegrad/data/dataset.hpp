#pragma once
// data::TensorDataset: examples stored as the rows of two tensors, as
// torch.utils.data.TensorDataset(x, y), and data::Example, one example or a batch of them.
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "../core/factories.hpp"
#include "../core/tensor.hpp"

namespace tapegrad::data {

// An input and its target: one example (x[i], y[i]) or a batch of them (rows stacked along a new
// first dimension). An aggregate, so `auto [x, y] = example;` works.
template <class T = float>
struct Example {
  Tensor<T> x;
  Tensor<T> y;
};

// What a DataLoader yields: the examples of one batch, stacked.
template <class T = float>
using Batch = Example<T>;

namespace detail {

// The elements of one row of t, an example's worth: the product of the sizes after the first.
template <class T>
int64_t row_numel(const Tensor<T>& t) {
  const Dims& sizes = t.sizes();
  return sizes.product(1, sizes.size());
}

// A new tensor of shape (count, *t.shape[1:]) holding t's rows rows[first], ...,
// rows[first + count - 1], or the consecutive rows first, ..., first + count - 1 when rows is
// null (no permutation to follow: one block copy).
template <class T>
Tensor<T> gather_rows(const Tensor<T>& t, const int64_t* rows, int64_t first, int64_t count) {
  Dims sizes = t.sizes();
  sizes[0] = count;
  Tensor<T> out = tapegrad::detail::make_tensor<T>(sizes);
  const int64_t width = row_numel(t);
  const T* from = t.data();
  T* to = out.data();
  if (!rows) {
    std::copy_n(from + first * width, count * width, to);
  } else {
    for (int64_t j = 0; j < count; ++j) std::copy_n(from + rows[first + j] * width, width, to + j * width);
  }
  return out;
}

// A new tensor holding row i of t, shaped t.shape[1:] (a 0-d tensor for a 1-D t).
template <class T>
Tensor<T> copy_row(const Tensor<T>& t, int64_t i) {
  const Dims& sizes = t.sizes();
  Tensor<T> out = tapegrad::detail::make_tensor<T>(Dims(sizes.begin() + 1, sizes.end(), "TensorDataset::get"));
  const int64_t width = row_numel(t);
  std::copy_n(t.data() + i * width, width, out.data());
  return out;
}

}  // namespace detail

// Example i is (x[i], y[i]): x and y share their first dimension, the examples. Holds the two
// tensors (handles: the values are shared, not copied); what get and the DataLoader hand out are
// new tensors, copies of the rows outside any graph.
template <class T = float>
class TensorDataset {
 public:
  TAPEGRAD_COLD TensorDataset(Tensor<T> x, Tensor<T> y) : x_(std::move(x)), y_(std::move(y)) {
    check_examples(x_, "x");
    check_examples(y_, "y");
    tapegrad::detail::check(x_.size(0) == y_.size(0), "TensorDataset: x and y must have the same size in dimension 0 ",
                            "(one row per example), got x of shape ", x_.sizes(), " and y of shape ", y_.sizes());
  }

  // The number of examples, len(dataset).
  int64_t size() const { return x_.size(0); }

  // Example i: copies of x[i] and y[i], shaped x.shape[1:] and y.shape[1:]. A negative i counts
  // from the end, as dataset[i] does in Python.
  Example<T> get(int64_t i) const {
    const int64_t n = size();
    tapegrad::detail::check(i >= -n && i < n, "TensorDataset::get: index ", i,
                            " is out of range for a dataset of size ", n);
    if (i < 0) i += n;
    return {detail::copy_row(x_, i), detail::copy_row(y_, i)};
  }

  // The examples at `indices`, stacked: x of shape (indices.size(), *x.shape[1:]), y likewise.
  Example<T> get_batch(const std::vector<int64_t>& indices) const {
    const int64_t n = size();
    for (int64_t i : indices) {
      tapegrad::detail::check(i >= 0 && i < n, "TensorDataset::get_batch: index ", i,
                              " is out of range for a dataset of size ", n);
    }
    const auto count = static_cast<int64_t>(indices.size());
    return {detail::gather_rows(x_, indices.data(), 0, count), detail::gather_rows(y_, indices.data(), 0, count)};
  }

  // The tensors themselves (torch's dataset.tensors).
  const Tensor<T>& x() const { return x_; }
  const Tensor<T>& y() const { return y_; }

 private:
  TAPEGRAD_COLD static void check_examples(const Tensor<T>& t, const char* name) {
    tapegrad::detail::check(t.defined(), "TensorDataset: expected a defined tensor ", name, ", got an undefined one");
    tapegrad::detail::check(t.dim() >= 1, "TensorDataset: ", name, " must have a first dimension to index the ",
                            "examples, got a 0-d tensor");
  }

  Tensor<T> x_;
  Tensor<T> y_;
};

}  // namespace tapegrad::data
