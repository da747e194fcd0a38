#pragma once
// embedding: rows of a weight (num, dim) picked by an index tensor of any shape (*), giving
// (*, dim). Its backward adds each gradient row into the weight row it came from (repeated
// indices accumulate), PyTorch's embedding_dense_backward; that backward is itself an op whose
// backward gathers the rows again, so create_graph differentiates it to any order.
// The index tensor holds integers in a Tensor<T>; index_values.hpp checks them as they are read.
// The weight's shape is checked by nn::functional::embedding.
#include <cmath>
#include <optional>

#include "index_values.hpp"
#include "tensor_methods.hpp"

namespace tapegrad::detail {

// The rows an embedding picked, one per index, in a pool block shared by the nodes that need them.
using EmbeddingIndex = IndexValues;

// The row whose gradient stays zero (PyTorch's padding_idx, made non-negative), or -1 for none.
struct EmbeddingRows {
  EmbeddingIndex rows;
  int64_t padding = -1;
};

// The index tensor's values as rows of a table of `num` rows: each must be an integer in [0, num).
template <class T>
EmbeddingIndex embedding_rows(const Tensor<T>& indices, int64_t num) {
  return index_values(indices, IndexBound{"embedding", num, "embeddings"});
}

// padding_idx as a row in [0, num) (a negative one counts from the end), or -1 for none.
inline int64_t embedding_padding_row(std::optional<int64_t> padding_idx, int64_t num) {
  if (!padding_idx) return -1;
  const int64_t p = *padding_idx;
  check(p >= -num && p < num, "embedding: padding_idx ", p, " is out of range for ", num, " embeddings (expected ", -num,
        " <= padding_idx < ", num, ")");
  return p < 0 ? p + num : p;
}

template <class T>
Tensor<T> embedding_gather(const Tensor<T>& weight, const EmbeddingRows& picked, const Dims& out_sizes, bool zero_padding = false);

// g (*, dim) added row by row into zeros (num, dim) at the rows picked, but the padding row:
// the gradient of the weight. Its backward gathers the same rows of the gradient's gradient
// (zeros where the padding row was picked).
template <class T>
Tensor<T> embedding_scatter(const Tensor<T>& g, const EmbeddingRows& picked, int64_t num, int64_t dim) {
  const int64_t* rows = picked.rows->data;
  Tensor<T> gw = make_tensor<T>(Dims{num, dim}).fill_(T(0));
  const int64_t n = g.numel() / (dim > 0 ? dim : 1);
  const T* pg = g.data();
  T* pw = gw.data();
  for (int64_t k = 0; k < (dim > 0 ? n : 0); ++k) {  // row k of g into row rows[k] of gw
    if (rows[k] == picked.padding) continue;
    T* dst = pw + rows[k] * dim;
    const T* src = pg + k * dim;
    for (int64_t j = 0; j < dim; ++j) dst[j] += src[j];
  }
  if (any_requires_grad(g)) {
    record(gw, "EmbeddingBackwardBackward", [picked, s = g.sizes()](const Tensor<T>& gg, GradOut<T>& in) {
      in[0] = embedding_gather(gg, picked, s, /*zero_padding=*/true);
    }, g);
  }
  return gw;
}

// The rows of weight (num, dim) picked, as (*, dim) = out_sizes; with zero_padding, zeros where
// the padding row was picked (the backward of embedding_scatter, which skips that row).
template <class T>
Tensor<T> embedding_gather(const Tensor<T>& weight, const EmbeddingRows& picked, const Dims& out_sizes, bool zero_padding) {
  const int64_t num = weight.size(0), dim = weight.size(1);
  Tensor<T> y = make_tensor<T>(out_sizes);
  const int64_t n = dim > 0 ? y.numel() / dim : 0;
  const int64_t* rows = picked.rows->data;
  const int64_t skip = zero_padding ? picked.padding : -1;
  const T* pw = weight.data();
  T* py = y.data();
  for (int64_t k = 0; k < n; ++k) {
    if (rows[k] == skip) {
      std::fill_n(py + k * dim, dim, T(0));
    } else {
      std::copy_n(pw + rows[k] * dim, dim, py + k * dim);
    }
  }
  if (any_requires_grad(weight)) {
    const char* name = zero_padding ? "EmbeddingBackwardBackwardBackward" : "EmbeddingBackward0";
    record(y, name, [picked, num, dim](const Tensor<T>& g, GradOut<T>& in) { in[0] = embedding_scatter(g, picked, num, dim); }, weight);
  }
  return y;
}

// weight (num, dim), indices (*) -> (*, dim). The indices get no gradient, nor does the row
// padding_row (in [0, num), or -1 for none).
template <class T>
Tensor<T> embedding(const Tensor<T>& weight, const Tensor<T>& indices, int64_t padding_row = -1) {
  const EmbeddingRows picked{embedding_rows(indices, weight.size(0)), padding_row};
  Dims out_sizes = indices.sizes();
  out_sizes.push_back(weight.size(1), "embedding");
  return embedding_gather(weight, picked, out_sizes);
}

}  // namespace tapegrad::detail
