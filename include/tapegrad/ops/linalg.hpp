#pragma once
// matmul with torch.matmul's rules: 2-D @ 2-D, N-d @ 2-D (batch folded into rows), batched
// N-d @ N-d with broadcast batch dims, and 1-D operands promoted and squeezed back. Every
// product is Eigen's GEMM on row-major blocks (see gemm.hpp); backward multiplies by transposes.
#include "gemm.hpp"
#include "shape_ops.hpp"

namespace tapegrad {
namespace detail {

// The batch structure of a broadcast batched product.
struct BatchLayout {
  Dims batch;                  // broadcast batch dims
  Dims a_strides, b_strides;   // per batch dim, in matrices (0 where broadcast)
};

inline BatchLayout batch_layout(const Dims& sa, const Dims& sb) {
  Dims ba(sa.begin(), sa.end() - 2, "matmul"), bb(sb.begin(), sb.end() - 2, "matmul");
  BatchLayout l;
  l.batch = broadcast_shape(ba, bb, "matmul");
  l.a_strides = broadcast_strides(ba, l.batch);
  l.b_strides = broadcast_strides(bb, l.batch);
  return l;
}

// Calls f(batch index, a matrix index, b matrix index) for every batch of the product.
template <class F>
void for_each_batch(const BatchLayout& l, F&& f) {
  if (l.batch.empty()) return f(int64_t(0), int64_t(0), int64_t(0));
  for_each_broadcast(l.batch, l.a_strides, l.b_strides, f);
}

template <class T>
Tensor<T> matmul_2d(const Tensor<T>& a, const Tensor<T>& b) {
  const Dims &sa = a.sizes(), &sb = b.sizes();
  const int64_t m = sa.product(0, sa.size() - 1), k = sa.back(), n = sb[1];  // a folded to (m, k)
  Dims so = sa;
  so[so.size() - 1] = n;
  Tensor<T> out = make_tensor<T>(so);
  gemm(a.data(), false, b.data(), false, out.data(), m, n, k, false);
  if (any_requires_grad(a, b)) {
    Tensor<T> as = b.requires_grad() ? a.detach() : Tensor<T>();
    Tensor<T> bs = a.requires_grad() ? b.detach() : Tensor<T>();
    record(out, "MmBackward", [as, bs, sa, sb, m, k, n](const Tensor<T>& g, GradOut<T>& in) {
      if (in.needed(0)) {  // dA = g B^T
        Tensor<T> ga = make_tensor<T>(sa);
        gemm(g.data(), false, bs.data(), true, ga.data(), m, k, n, false);
        in[0] = ga;
      }
      if (in.needed(1)) {  // dB = A^T g
        Tensor<T> gb = make_tensor<T>(sb);
        gemm(as.data(), true, g.data(), false, gb.data(), k, n, m, false);
        in[1] = gb;
      }
    }, a, b);
  }
  return out;
}

template <class T>
Tensor<T> matmul_batched(const Tensor<T>& a, const Tensor<T>& b) {
  const Dims &sa = a.sizes(), &sb = b.sizes();
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const BatchLayout l = batch_layout(sa, sb);
  Dims so = l.batch;
  so.push_back(m, "matmul");
  so.push_back(n, "matmul");
  Tensor<T> out = make_tensor<T>(so);
  for_each_batch(l, [&](int64_t i, int64_t ia, int64_t ib) {
    gemm(a.data() + ia * m * k, false, b.data() + ib * k * n, false, out.data() + i * m * n, m, n, k, false);
  });
  if (any_requires_grad(a, b)) {
    Tensor<T> as = b.requires_grad() ? a.detach() : Tensor<T>();
    Tensor<T> bs = a.requires_grad() ? b.detach() : Tensor<T>();
    record(out, "BmmBackward", [as, bs, sa, sb, l, m, k, n](const Tensor<T>& g, GradOut<T>& in) {
      // A broadcast operand's gradient sums the products of every batch that used it.
      Tensor<T> ga = in.needed(0) ? make_tensor<T>(sa).fill_(T(0)) : Tensor<T>();
      Tensor<T> gb = in.needed(1) ? make_tensor<T>(sb).fill_(T(0)) : Tensor<T>();
      for_each_batch(l, [&](int64_t i, int64_t ia, int64_t ib) {
        const T* gi = g.data() + i * m * n;
        if (ga.defined()) gemm(gi, false, bs.data() + ib * k * n, true, ga.data() + ia * m * k, m, k, n, true);
        if (gb.defined()) gemm(as.data() + ia * m * k, true, gi, false, gb.data() + ib * k * n, k, n, m, true);
      });
      if (ga.defined()) in[0] = ga;
      if (gb.defined()) in[1] = gb;
    }, a, b);
  }
  return out;
}

}  // namespace detail

template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
  const Dims& sa = a.checked("matmul").sizes;
  const Dims& sb = b.checked("matmul").sizes;
  detail::check(!sa.empty() && !sb.empty(), "matmul: both arguments need at least 1 dimension, got shapes ", sa,
                " and ", sb);
  const int64_t ka = sa.back(), kb = sb.size() == 1 ? sb[0] : sb[sb.size() - 2];
  detail::check(ka == kb, "matmul: shapes ", sa, " and ", sb, " cannot be multiplied (", ka, " != ", kb, ")");
  // 1-D operands: a vector on the left is a row, on the right a column; the added dim goes.
  if (sa.size() == 1) return squeeze(matmul(unsqueeze(a, 0), b), sb.size() == 1 ? -1 : -2);
  if (sb.size() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  if (sb.size() == 2) return detail::matmul_2d(a, b);
  return detail::matmul_batched(a, b);
}

}  // namespace tapegrad
