#pragma once
// Matrix products: mm (op(A) op(B) for 2-D A, B, transposes read in place), its batched form
// with broadcast batch dims, matmul with torch.matmul's rules, and linear (x W^T + b in one
// node that shares mm's backward). Every product is tapegrad's packed GEMM (gemm.hpp).
//
// For C = X Y with X = op(A), Y = op(B): dX = G Y^T and dY = X^T G, so
//   dA = G op(B)^T, or op(B) G^T when A is read transposed;
//   dB = op(A)^T G, or G^T op(A) when B is read transposed;
// each again an mm, so products differentiate to any order.
#include "gemm.hpp"
#include "shape_ops.hpp"

namespace tapegrad {
namespace detail {

template <class T>
Tensor<T> mm(const Tensor<T>& a, bool ta, const Tensor<T>& b, bool tb);

// The gradients of op(A) op(B) for A and B, into in[ia] and in[ib] where needed.
template <class T>
void mm_backward(const Tensor<T>& g, const Tensor<T>& a, bool ta, const Tensor<T>& b, bool tb, GradOut<T>& in, int ia,
                 int ib) {
  if (in.needed(ia)) in[ia] = ta ? mm(b, tb, g, true) : mm(g, false, b, !tb);
  if (in.needed(ib)) in[ib] = tb ? mm(g, true, a, ta) : mm(a, !ta, g, false);
}

// op(A) op(B) for 2-D A and B; op transposes when its flag is set.
template <class T>
Tensor<T> mm(const Tensor<T>& a, bool ta, const Tensor<T>& b, bool tb) {
  const Dims &sa = a.sizes(), &sb = b.sizes();
  const int64_t m = sa[ta ? 1 : 0], k = sa[ta ? 0 : 1], n = sb[tb ? 0 : 1];
  Tensor<T> out = make_tensor<T>(Dims{m, n});
  gemm(a.data(), ta, b.data(), tb, out.data(), m, n, k, false);
  if (any_requires_grad(a, b)) {
    // each side saves the other only when it is needed
    Tensor<T> as = b.requires_grad() ? a : Tensor<T>();
    Tensor<T> bs = a.requires_grad() ? b : Tensor<T>();
    record(out, "MmBackward", [as, bs, ta, tb](const Tensor<T>& g, GradOut<T>& in) {
      mm_backward(g, as, ta, bs, tb, in, 0, 1);
    }, a, b);
  }
  return out;
}

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

// Calls f(batch index, a matrix index, b matrix index) for every batch of the product, the
// batches split across threads when each product is too small to split itself (attention's
// heads): `work` is one product's multiply-adds.
template <class F>
void for_each_batch(const BatchLayout& l, int64_t work, F&& f) {
  if (l.batch.empty()) return f(int64_t(0), int64_t(0), int64_t(0));
  parallel_for_each_broadcast(l.batch, l.a_strides, l.b_strides, f, items_per_chunk(work, kMinParallelFmas));
}

template <class T>
Tensor<T> bmm(const Tensor<T>& a, bool ta, const Tensor<T>& b, bool tb);

// op(A) op(B) for every batch of A (..., m, k) and B (..., k, n) (transposed in their last
// two dims when flagged), batch dims broadcast. A broadcast operand's gradient sums the
// gradients of every batch that used it.
template <class T>
Tensor<T> bmm(const Tensor<T>& a, bool ta, const Tensor<T>& b, bool tb) {
  const Dims &sa = a.sizes(), &sb = b.sizes();
  const int ra = sa.size(), rb = sb.size();
  const int64_t m = sa[ta ? ra - 1 : ra - 2], k = sa[ta ? ra - 2 : ra - 1], n = sb[tb ? rb - 2 : rb - 1];
  const BatchLayout l = batch_layout(sa, sb);
  Dims so = l.batch;
  so.push_back(m, "matmul");
  so.push_back(n, "matmul");
  Tensor<T> out = make_tensor<T>(so);
  for_each_batch(l, m * n * k, [&](int64_t i, int64_t ia, int64_t ib) {
    gemm(a.data() + ia * m * k, ta, b.data() + ib * k * n, tb, out.data() + i * m * n, m, n, k, false);
  });
  if (any_requires_grad(a, b)) {
    Tensor<T> as = b.requires_grad() ? a : Tensor<T>();
    Tensor<T> bs = a.requires_grad() ? b : Tensor<T>();
    record(out, "BmmBackward", [as, bs, ta, tb, sa, sb](const Tensor<T>& g, GradOut<T>& in) {
      if (in.needed(0)) in[0] = sum_to(ta ? bmm(bs, tb, g, true) : bmm(g, false, bs, !tb), sa);
      if (in.needed(1)) in[1] = sum_to(tb ? bmm(g, true, as, ta) : bmm(as, !ta, g, false), sb);
    }, a, b);
  }
  return out;
}

// x viewed as 2-D (rows, last dim), in the graph; x itself when it is 2-D already.
template <class T>
Tensor<T> fold_rows(const Tensor<T>& x) {
  const Dims& s = x.sizes();
  if (s.size() == 2) return x;
  return alias_op(x, Dims{s.product(0, s.size() - 1), s.back()}, "ViewBackward");
}

// y = x W^T + b for checked x (*, in), W (out, in), b (out) or undefined: one product with the
// bias added in the same pass, recorded as one node (PyTorch's addmm) whose backward is mm's.
template <class T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias) {
  const Dims& sx = x.sizes();
  const int64_t in = weight.sizes()[1], out = weight.sizes()[0];
  const int64_t rows = sx.product(0, sx.size() - 1);
  Dims so = sx;
  so[so.size() - 1] = out;
  Tensor<T> y = make_tensor<T>(so);
  T* py = y.data();
  gemm(x.data(), false, weight.data(), true, py, rows, out, in, false);
  if (bias.defined()) {
    const T* pb = bias.data();
    parallel_for(rows, items_per_chunk(out), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        for (int64_t j = 0; j < out; ++j) py[r * out + j] += pb[j];
      }
    });
  }
  if (any_requires_grad(x, weight, bias)) {  // an undefined bias gets no edge
    Tensor<T> xs = weight.requires_grad() ? x : Tensor<T>();
    Tensor<T> ws = x.requires_grad() ? weight : Tensor<T>();
    auto backward = [xs, ws, sx, out](const Tensor<T>& g, GradOut<T>& grads) {
      const Tensor<T> g2 = fold_rows(g);
      // dx = g W and dW = g^T x as mm's backward gives them, then x's shape back
      Tensor<T> x2 = xs.defined() ? fold_rows(xs) : xs;
      mm_backward(g2, x2, false, ws, true, grads, 0, 1);
      if (grads.needed(0) && sx.size() != 2) grads[0] = alias_op(grads[0], sx, "ViewBackward");
      if (grads.needed(2)) grads[2] = sum_to(g2, Dims{out});  // db = the sum of g over rows
    };
    record(y, bias.defined() ? "AddmmBackward" : "MmBackward", std::move(backward), x, weight, bias);
  }
  return y;
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
  if (sb.size() == 2) {
    if (sa.size() == 2) return detail::mm(a, false, b, false);
    // N-d @ 2-D: the batch folds into rows, one product
    Dims so = sa;
    so[so.size() - 1] = sb[1];
    return detail::alias_op(detail::mm(detail::fold_rows(a), false, b, false), so, "ViewBackward");
  }
  return detail::bmm(a, false, b, false);
}

}  // namespace tapegrad
