#pragma once
// embedding: rows of a weight (num, dim) picked by an index tensor of any shape (*), giving
// (*, dim). Its backward adds each gradient row into the weight row it came from (repeated
// indices accumulate), PyTorch's embedding_dense_backward; that backward is itself an op whose
// backward gathers the rows again, so create_graph differentiates it to any order.
// The index tensor holds integers in a Tensor<T>; they are checked here, as they are read.
// The weight's shape is checked by nn::functional::embedding.
#include <cmath>

#include "tensor_methods.hpp"

namespace tapegrad::detail {

// The rows an embedding picked, one per index, in a pool block shared by the nodes that need them.
using EmbeddingIndex = IntrusivePtr<Storage<int64_t>>;

// The index tensor's values as rows of a table of `num` rows: each must be an integer in [0, num).
template <class T>
EmbeddingIndex embedding_rows(const Tensor<T>& indices, int64_t num) {
  const int64_t n = indices.numel();
  EmbeddingIndex rows = Storage<int64_t>::create(n);
  const T* pi = indices.data();
  for (int64_t k = 0; k < n; ++k) {
    const T v = pi[k];
    check(std::isfinite(v) && v == std::floor(v), "embedding: index ", v, " at position ", k,
          " is not an integer (index tensors hold integer values)");
    check(v >= 0 && v < static_cast<T>(num), "embedding: index ", v, " is out of range for ", num,
          " embeddings (expected 0 <= index < ", num, ")");
    rows->data[k] = static_cast<int64_t>(v);
  }
  return rows;
}

template <class T>
Tensor<T> embedding_gather(const Tensor<T>& weight, const EmbeddingIndex& rows, const Dims& out_sizes);

// g (*, dim) added row by row into zeros (num, dim) at the rows picked: the gradient of the
// weight. Its backward gathers the same rows of the gradient's gradient.
template <class T>
Tensor<T> embedding_scatter(const Tensor<T>& g, const EmbeddingIndex& rows, int64_t num, int64_t dim) {
  Tensor<T> gw = make_tensor<T>(Dims{num, dim}).fill_(T(0));
  const int64_t n = g.numel() / (dim > 0 ? dim : 1);
  const T* pg = g.data();
  T* pw = gw.data();
  for (int64_t k = 0; k < (dim > 0 ? n : 0); ++k) {  // row k of g into row rows[k] of gw
    T* dst = pw + rows->data[k] * dim;
    const T* src = pg + k * dim;
    for (int64_t j = 0; j < dim; ++j) dst[j] += src[j];
  }
  if (any_requires_grad(g)) {
    record(gw, "EmbeddingBackwardBackward", [rows, s = g.sizes()](const Tensor<T>& gg, GradOut<T>& in) {
      in[0] = embedding_gather(gg, rows, s);
    }, g);
  }
  return gw;
}

// The rows of weight (num, dim) picked, as (*, dim) = out_sizes.
template <class T>
Tensor<T> embedding_gather(const Tensor<T>& weight, const EmbeddingIndex& rows, const Dims& out_sizes) {
  const int64_t num = weight.size(0), dim = weight.size(1);
  Tensor<T> y = make_tensor<T>(out_sizes);
  const int64_t n = dim > 0 ? y.numel() / dim : 0;
  const T* pw = weight.data();
  T* py = y.data();
  for (int64_t k = 0; k < n; ++k) std::copy_n(pw + rows->data[k] * dim, dim, py + k * dim);
  if (any_requires_grad(weight)) {
    record(y, "EmbeddingBackward0", [rows, num, dim](const Tensor<T>& g, GradOut<T>& in) {
      in[0] = embedding_scatter(g, rows, num, dim);
    }, weight);
  }
  return y;
}

// weight (num, dim), indices (*) -> (*, dim). The indices get no gradient.
template <class T>
Tensor<T> embedding(const Tensor<T>& weight, const Tensor<T>& indices) {
  const EmbeddingIndex rows = embedding_rows(indices, weight.size(0));
  Dims out_sizes = indices.sizes();
  out_sizes.push_back(weight.size(1), "embedding");
  return embedding_gather(weight, rows, out_sizes);
}

}  // namespace tapegrad::detail
