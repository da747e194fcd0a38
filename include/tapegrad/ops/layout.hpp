#pragma once
// Layout: permute (dims reordered, a copy: tensors are always contiguous), expand (size-1 dims
// and new leading dims repeated; its backward sums back) and contiguous (the tensor itself).
#include <vector>

#include "shape_ops.hpp"

namespace tapegrad {
namespace detail {

// out[i_0, ..., i_{r-1}] = x[...] with out's dim k being x's dim perm[k] (a valid permutation).
template <class T>
Tensor<T> permute_values(const Tensor<T>& x, const Dims& perm) {
  const Dims& s = x.sizes();
  Dims in_strides = s;
  int64_t stride = 1;
  for (int i = s.size() - 1; i >= 0; --i) {
    in_strides[i] = stride;
    stride *= s[i];
  }
  Dims os, src_strides;  // walk out in order; each of its dims steps x by its source dim's stride
  for (int k = 0; k < perm.size(); ++k) {
    os.push_back(s[perm[k]]);
    src_strides.push_back(in_strides[perm[k]]);
  }
  Tensor<T> out = make_tensor<T>(os);
  const T* px = x.data();
  T* po = out.data();
  parallel_for_each_broadcast(os, src_strides, broadcast_strides(Dims(), os), [&](int64_t i, int64_t is, int64_t) { po[i] = px[is]; });
  return out;
}

// x's dims reordered by perm; the backward reorders by the inverse permutation.
template <class T>
Tensor<T> permute_op(const Tensor<T>& x, const Dims& perm) {
  bool identity = true;
  for (int k = 0; k < perm.size(); ++k) identity = identity && perm[k] == k;
  if (identity) return x;
  Tensor<T> out = permute_values(x, perm);
  if (any_requires_grad(x)) {
    Dims inverse = perm;
    for (int k = 0; k < perm.size(); ++k) inverse[perm[k]] = k;
    record(out, "PermuteBackward0", [inverse](const Tensor<T>& g, GradOut<T>& in) { in[0] = permute_op(g, inverse); }, x);
  }
  return out;
}

}  // namespace detail

// x's dims reordered: out.size(k) = x.size(dims[k]); dims a permutation of 0..dim()-1
// (negative ones count from the end).
template <class T>
Tensor<T> permute(const Tensor<T>& x, IntArrayRef dims) {
  const Dims& s = x.checked("permute").sizes;
  const std::string given = Dims::format(dims.begin(), dims.end());
  detail::check(static_cast<int64_t>(dims.size()) == s.size(), "permute: dims ", given, " do not fit a tensor of shape ", s,
                " (expected ", s.size(), " dims, got ", dims.size(), ")");
  Dims perm;
  bool seen[kMaxDims] = {};
  for (int64_t dim : dims) {
    const int d = detail::normalize_dim(dim, s.size(), "permute", s);
    detail::check(!seen[d], "permute: dims ", given, " are not a permutation of the dims of a tensor of shape ", s,
                  " (dim ", d, " repeated)");
    seen[d] = true;
    perm.push_back(d);
  }
  return detail::permute_op(x, perm);
}

// x repeated along its size-1 dims and new leading dims to `shape` (-1 keeps a dim's size), as
// torch's expand; the result is a copy whose gradient is summed back to x's shape.
template <class T>
Tensor<T> expand(const Tensor<T>& x, IntArrayRef shape) {
  const Dims& s = x.checked("expand").sizes;
  const std::string target = Dims::format(shape.begin(), shape.end());
  const int rank = static_cast<int>(shape.size()), lead = rank - s.size();
  detail::check(lead >= 0, "expand: the target shape ", target, " has fewer dims than the tensor of shape ", s);
  detail::check(rank <= kMaxDims, "expand: tensors have at most ", kMaxDims, " dimensions, got ", rank, " in shape ", target);
  Dims out;
  for (int i = 0; i < rank; ++i) {
    const int64_t want = shape[static_cast<size_t>(i)];
    if (i < lead) {
      detail::check(want >= 0, "expand: size ", want, " is not allowed in the new leading dim ", i, " (target shape ", target,
                    ", tensor shape ", s, ")");
      out.push_back(want);
      continue;
    }
    const int64_t have = s[i - lead];
    detail::check(want >= -1, "expand: size ", want, " at dim ", i, " is invalid (target shape ", target, ")");
    detail::check(want == -1 || want == have || have == 1, "expand: the size ", want, " at dim ", i,
                  " must match the existing size ", have, " (only size-1 dims expand; target shape ", target,
                  ", tensor shape ", s, ")");
    out.push_back(want == -1 ? have : want);
  }
  out.numel();  // throws for a shape too large to count
  return detail::expand_to(x, out);
}

// Tensors are always contiguous: the tensor itself, as torch's contiguous() of a contiguous one.
template <class T>
Tensor<T> contiguous(const Tensor<T>& x) {
  x.checked("contiguous");
  return x;
}

}  // namespace tapegrad
