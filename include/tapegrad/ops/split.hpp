#pragma once
// split and chunk: a tensor cut along a dim into pieces, each a narrow of it with its own
// node, so every piece's gradient flows back into its place (a piece never used gives zeros).
#include <cstdint>
#include <new>
#include <vector>

#include "shape_ops.hpp"

namespace tapegrad {
namespace detail {

// The pieces of x along d, of the given lengths (their sum is x.size(d)).
template <class T>
std::vector<Tensor<T>> split_pieces(const Tensor<T>& x, int d, const std::vector<int64_t>& lengths) {
  std::vector<Tensor<T>> pieces;
  pieces.reserve(lengths.size());
  int64_t start = 0;
  for (int64_t len : lengths) {
    pieces.push_back(narrow_values(x, d, start, len));
    start += len;
  }
  return pieces;
}

}  // namespace detail

// Pieces of `split_size` along dim, the last one smaller when the size does not divide: as
// torch.split, ceil(size / split_size) pieces (one, empty, for a dim of size 0).
template <class T>
std::vector<Tensor<T>> split(const Tensor<T>& x, int64_t split_size, int64_t dim = 0) {
  const Dims& s = x.checked("split").sizes;
  detail::check(!s.empty(), "split: expects a tensor with at least 1 dimension, got shape []");
  const int d = detail::normalize_dim(dim, s.size(), "split", s);
  const int64_t size = s[d];
  detail::check(split_size > 0 || (split_size == 0 && size == 0), "split: split_size must be positive, got ", split_size,
                " (dim ", dim, " of shape ", s, ")");
  std::vector<int64_t> lengths;
  for (int64_t start = 0; start < size; start += split_size) lengths.push_back(std::min(split_size, size - start));
  if (lengths.empty()) lengths.push_back(0);
  return detail::split_pieces(x, d, lengths);
}

// Pieces of the given lengths along dim (torch.split with a list, libtorch's split_with_sizes).
template <class T>
std::vector<Tensor<T>> split(const Tensor<T>& x, const std::vector<int64_t>& split_sizes, int64_t dim = 0) {
  const Dims& s = x.checked("split").sizes;
  detail::check(!s.empty(), "split: expects a tensor with at least 1 dimension, got shape []");
  const int d = detail::normalize_dim(dim, s.size(), "split", s);
  int64_t total = 0;
  bool valid = true;
  for (int64_t len : split_sizes) {
    valid = valid && len >= 0 && len <= s[d] - total;
    if (valid) total += len;
  }
  detail::check(valid && total == s[d], "split: split_sizes ", Dims::format(split_sizes.begin(), split_sizes.end()),
                " must be non-negative and sum to ", s[d], ", the size of dim ", dim, " of shape ", s);
  return detail::split_pieces(x, d, split_sizes);
}

template <class T>
std::vector<Tensor<T>> split_with_sizes(const Tensor<T>& x, const std::vector<int64_t>& split_sizes, int64_t dim = 0) {
  return split(x, split_sizes, dim);
}

// At most `chunks` pieces along dim, as torch.chunk: pieces of ceil(size / chunks), so there
// may be fewer than `chunks`; a dim of size 0 gives `chunks` empty pieces (torch 1.13's too), a
// count of pieces that does not fit in memory an Error (torch's is std::bad_alloc).
template <class T>
std::vector<Tensor<T>> chunk(const Tensor<T>& x, int64_t chunks, int64_t dim = 0) {
  const Dims& s = x.checked("chunk").sizes;
  detail::check(!s.empty(), "chunk: expects a tensor with at least 1 dimension, got shape []");
  detail::check(chunks > 0, "chunk: chunks must be positive, got ", chunks);
  const int d = detail::normalize_dim(dim, s.size(), "chunk", s);
  const int64_t size = s[d];
  if (size == 0) {
    std::vector<Tensor<T>> pieces;
    const auto too_many = [&] {
      detail::fail("chunk: ", chunks, " empty pieces of dim ", dim, " of shape ", s,
                   " do not fit in memory (a dim of size 0 gives `chunks` pieces, as torch.chunk)");
    };
    if (static_cast<uint64_t>(chunks) > pieces.max_size()) too_many();
    try {
      pieces.reserve(static_cast<size_t>(chunks));
    } catch (const std::bad_alloc&) {
      too_many();
    }
    for (int64_t k = 0; k < chunks; ++k) pieces.push_back(detail::narrow_values(x, d, 0, 0));
    return pieces;
  }
  return split(x, size / chunks + (size % chunks != 0), dim);  // ceil, without overflow
}

}  // namespace tapegrad
