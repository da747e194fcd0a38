#pragma once
// C (+)= op(A) op(B) on row-major blocks, with Eigen's numbers and a fraction of its compile
// time. An Eigen product expression costs most of a second to compile per operand form, nearly
// all of it in the expression machinery around three small kernels. gemm() makes the choice
// Eigen's product makes (by the sizes only) and calls the kernel Eigen would call, on pointers:
//  * m + n + k < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD: Eigen's coefficient-based (lazy) product.
//    Row-major A times row-major B vectorises along the rows of C (Eigen's own lazy product is
//    called, one instantiation for = and +=); A times B^T takes each element as Eigen's vectorised dot of two contiguous runs
//    (dot_values); the transposed-A forms add each element's products in order;
//  * n == 1 or m == 1: Eigen's matrix-vector kernel for the matrix's storage order, or, when both
//    are 1, its dot product;
//  * otherwise Eigen's blocked GEMM (the packing makes every storage order the same arithmetic).
// With another Eigen version than 3.4 the product expressions themselves are used.
#include <Eigen/Core>
#include <cstdint>

#include "kernels.hpp"


namespace tapegrad::detail {

#if TAPEGRAD_EIGEN_INTERNALS
namespace gemm_impl {

using Eigen::Index;

// (OpenMP builds) Eigen's gemm_functor on pointers: the block [row, row + rows) x [col, col + cols) of C
// (row-major, leading dimension ldc) += op(A) op(B), op(A) stored in LhsOrder with leading
// dimension lda, op(B) in RhsOrder with ldb.
template <class T, int LhsOrder, int RhsOrder>
struct Functor {
  using Gemm = Eigen::internal::general_matrix_matrix_product<Index, T, LhsOrder, false, T, RhsOrder, false,
                                                                Eigen::RowMajor, 1>;
  using Traits = typename Gemm::Traits;
  using Blocking = Eigen::internal::gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic, Eigen::Dynamic,
                                                        Eigen::Dynamic>;

  const T* a;
  Index lda;
  const T* b;
  Index ldb;
  T* c;
  Index ldc, m, n, k;
  Blocking& blocking;

  void initParallelSession(Index threads) const {
    blocking.initParallel(m, n, k, threads);
    blocking.allocateA();
  }
  void operator()(Index row, Index rows, Index col = 0, Index cols = -1,
                  Eigen::internal::GemmParallelInfo<Index>* info = nullptr) const {
    if (cols == -1) cols = n;
    const T* lhs = LhsOrder == Eigen::RowMajor ? a + row * lda : a + row;  // &op(A)(row, 0)
    const T* rhs = RhsOrder == Eigen::RowMajor ? b + col : b + col * ldb;  // &op(B)(0, col)
    Gemm::run(rows, cols, k, lhs, lda, rhs, ldb, c + row * ldc + col, 1, ldc, T(1), blocking, info);
  }
};

template <class T, int LhsOrder, int RhsOrder>
void blocked(const T* a, Index lda, const T* b, Index ldb, T* c, Index m, Index n, Index k) {
  using F = Functor<T, LhsOrder, RhsOrder>;
  typename F::Blocking blocking(m, n, k, 1, true);
  Eigen::internal::parallelize_gemm<true>(F{a, lda, b, ldb, c, n, m, n, k, blocking}, m, n, k, true);
}

// The same for op(A), op(B) in either storage order, chosen at run time: Eigen 3.4's sequential
// blocked product (general_matrix_matrix_product<..., ColMajor>::run, which the row-major
// result's specialisation calls with the operands swapped and their orders flipped) written out
// once, calling Eigen's packing routine for each operand's order and its one kernel. The same
// packed panels and kernel calls as each instantiation of Eigen's, so the same numbers.
template <class T>
TAPEGRAD_NOINLINE void blocked_any(const T* a, Index lda, bool ta, const T* b, Index ldb, bool tb, T* c, Index m, Index n,
                                   Index k) {
  using namespace Eigen::internal;
  using Traits = gebp_traits<T, T>;
  using RowMapper = const_blas_data_mapper<T, Index, Eigen::RowMajor>;
  using ColMapper = const_blas_data_mapper<T, Index, Eigen::ColMajor>;
  using ResMapper = blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  gemm_pack_lhs<T, Index, RowMapper, Traits::mr, Traits::LhsProgress, typename Traits::LhsPacket4Packing, Eigen::RowMajor>
      pack_lhs_row;
  gemm_pack_lhs<T, Index, ColMapper, Traits::mr, Traits::LhsProgress, typename Traits::LhsPacket4Packing, Eigen::ColMajor>
      pack_lhs_col;
  gemm_pack_rhs<T, Index, RowMapper, Traits::nr, Eigen::RowMajor> pack_rhs_row;
  gemm_pack_rhs<T, Index, ColMapper, Traits::nr, Eigen::ColMajor> pack_rhs_col;
  gebp_kernel<T, T, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;

  gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic> blocking(m, n, k, 1, true);
  // C^T (column-major, n x m) = op(B)^T op(A)^T: the left operand is B, row-major exactly when
  // op(B) is B^T; the right one is A, row-major exactly when op(A) is A^T.
  const Index rows = n, cols = m, depth = k;
  const bool lhs_row = tb, rhs_row = ta;
  const RowMapper lhs_r(b, ldb), rhs_r(a, lda);
  const ColMapper lhs_c(b, ldb), rhs_c(a, lda);
  const ResMapper res(c, n, 1);

  const Index kc = blocking.kc();
  const Index mc = (std::min)(rows, blocking.mc());
  const Index nc = (std::min)(cols, blocking.nc());
  const std::size_t sizeA = kc * mc, sizeB = kc * nc;
  namespace internal = Eigen::internal;  // for the macro's unqualified internal::
  ei_declare_aligned_stack_constructed_variable(T, blockA, sizeA, blocking.blockA());
  ei_declare_aligned_stack_constructed_variable(T, blockB, sizeB, blocking.blockB());
  const bool pack_rhs_once = mc != rows && kc == depth && nc == cols;
  for (Index i2 = 0; i2 < rows; i2 += mc) {
    const Index actual_mc = (std::min)(i2 + mc, rows) - i2;
    for (Index k2 = 0; k2 < depth; k2 += kc) {
      const Index actual_kc = (std::min)(k2 + kc, depth) - k2;
      if (lhs_row) {
        pack_lhs_row(blockA, lhs_r.getSubMapper(i2, k2), actual_kc, actual_mc);
      } else {
        pack_lhs_col(blockA, lhs_c.getSubMapper(i2, k2), actual_kc, actual_mc);
      }
      for (Index j2 = 0; j2 < cols; j2 += nc) {
        const Index actual_nc = (std::min)(j2 + nc, cols) - j2;
        if (!pack_rhs_once || i2 == 0) {
          if (rhs_row) {
            pack_rhs_row(blockB, rhs_r.getSubMapper(k2, j2), actual_kc, actual_nc);
          } else {
            pack_rhs_col(blockB, rhs_c.getSubMapper(k2, j2), actual_kc, actual_nc);
          }
        }
        gebp(res.getSubMapper(i2, j2), blockA, blockB, actual_mc, actual_kc, actual_nc, T(1));
      }
    }
  }
}

// y (stride incy) += M x for M (rows, cols) stored in Order with leading dimension ld.
template <class T, int Order>
void gemv(const T* mat, Index ld, Index rows, Index cols, const T* x, Index incx, T* y, Index incy) {
  using Eigen::internal::const_blas_data_mapper;
  constexpr int VecOrder = Order == Eigen::RowMajor ? Eigen::ColMajor : Eigen::RowMajor;
  using LhsMapper = const_blas_data_mapper<T, Index, Order>;
  using RhsMapper = const_blas_data_mapper<T, Index, VecOrder>;
  Eigen::internal::general_matrix_vector_product<Index, T, LhsMapper, Order, false, T, RhsMapper, false>::run(
      rows, cols, LhsMapper(mat, ld), RhsMapper(x, incx), y, incy, T(1));
}

// x[0] y[0] + x[sx] y[sy] + ... (n > 0 terms), added in order.
template <class T>
TAPEGRAD_NOINLINE T ordered_dot(const T* x, int64_t sx, const T* y, int64_t sy, int64_t n) {
  T s = x[0] * y[0];
  for (int64_t p = 1; p < n; ++p) s = s + x[p * sx] * y[p * sy];
  return s;
}

// C = A B for row-major A (m, k), B (k, n), as Eigen 3.4 evaluates the small product
// C.noalias() = A.lazyProduct(B) (call_restricted_packet_assignment_no_alias, slice-vectorised
// traversal): each row of C in packets of at most 4 (pmadd from zero along k) from its first
// packet-aligned element on, the elements before and after as in-order dot products.
template <class T>
TAPEGRAD_NOINLINE void lazy_row_major(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k) {
#if TAPEGRAD_EIGEN_PACKETS
  using namespace Eigen::internal;
  using LP = typename find_best_packet<T, 4>::type;
  constexpr int64_t ps = static_cast<int64_t>(sizeof(LP) / sizeof(T));
  constexpr int kAlign = static_cast<int>(sizeof(LP));
  const int64_t mask = ps - 1, step = (ps - n % ps) & mask;
  int64_t start = first_aligned<kAlign>(c, static_cast<Index>(n));
  for (int64_t i = 0; i < m; ++i) {
    const T* ai = a + i * k;
    T* ci = c + i * n;
    const int64_t end = start + ((n - start) & ~mask);
    for (int64_t j = 0; j < start; ++j) ci[j] = ordered_dot(ai, 1, b + j, n, k);
    for (int64_t j = start; j < end; j += ps) {
      LP r = pset1<LP>(T(0));
      for (int64_t p = 0; p < k; ++p) r = pmadd(pset1<LP>(ai[p]), ploadu<LP>(b + p * n + j), r);
      pstoreu(ci + j, r);
    }
    for (int64_t j = end; j < n; ++j) ci[j] = ordered_dot(ai, 1, b + j, n, k);
    start = std::min((start + step) % ps, n);
  }
#else
  MatrixMap<T> C(c, m, n);
  Eigen::internal::call_restricted_packet_assignment_no_alias(
      C, ConstMatrixMap<T>(a, m, k).lazyProduct(ConstMatrixMap<T>(b, k, n)), Eigen::internal::assign_op<T, T>());
#endif
}

}  // namespace gemm_impl
#endif

// C (m, n) = op(A) op(B), or += when `accumulate`; A is (m, k) or, with `ta`, (k, m); B is
// (k, n) or, with `tb`, (n, k); all row-major and contiguous.
template <class T>
void gemm(const T* a, bool ta, const T* b, bool tb, T* c, int64_t m, int64_t n, int64_t k, bool accumulate) {
#if TAPEGRAD_EIGEN_INTERNALS
  using Eigen::ColMajor;
  using Eigen::RowMajor;
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  // op(A)(i, p) = a[i * ai + p * ap], op(B)(p, j) = b[p * bp + j * bj]
  const int64_t ai = ta ? 1 : k, ap = ta ? m : 1, bp = tb ? 1 : n, bj = tb ? k : 1;
  if (k + m + n < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD && k > 0) {
    if (!ta && !tb) {  // vectorised along C's rows, as Eigen's lazy product
      // Which elements take the vector path depends on C's alignment, so += evaluates into
      // scratch aligned as C is, then adds.
      constexpr int kMax = EIGEN_GEMM_TO_COEFFBASED_THRESHOLD * EIGEN_GEMM_TO_COEFFBASED_THRESHOLD / 4 + 1;
      alignas(64) T scratch[kMax + 64 / sizeof(T)];
      T* dst = accumulate ? scratch + (reinterpret_cast<std::uintptr_t>(c) % 64) / sizeof(T) : c;
      gemm_impl::lazy_row_major(a, b, dst, m, n, k);
      if (accumulate) {
        for (int64_t i = 0; i < m * n; ++i) c[i] += dst[i];
      }
      return;
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const T s = !ta && tb ? dot_values(a + i * k, b + j * k, k) : gemm_impl::ordered_dot(a + i * ai, ap, b + j * bj, bp, k);
        c[i * n + j] = accumulate ? c[i * n + j] + s : s;
      }
    }
    return;
  }
  if (!accumulate) std::fill_n(c, m * n, T(0));
  if (m == 0 || n == 0 || k == 0) return;
  if (n == 1) {  // C's column = op(A) times op(B)'s column (contiguous either way)
    if (m == 1) {
      c[0] += !ta && tb ? dot_values(a, b, k) : gemm_impl::ordered_dot(a, ap, b, bp, k);
    } else if (ta) {
      gemm_impl::gemv<T, ColMajor>(a, lda, m, k, b, 1, c, 1);
    } else {
      gemm_impl::gemv<T, RowMajor>(a, lda, m, k, b, 1, c, 1);
    }
  } else if (m == 1) {  // C's row^T = op(B)^T times op(A)'s row^T
    if (tb) {
      gemm_impl::gemv<T, RowMajor>(b, ldb, n, k, a, 1, c, 1);
    } else {
      gemm_impl::gemv<T, ColMajor>(b, ldb, n, k, a, 1, c, 1);
    }
  } else {
#if defined(EIGEN_HAS_OPENMP)
    // Eigen's own entry points, which may split the product across threads.
    if (ta && tb) {
      gemm_impl::blocked<T, ColMajor, ColMajor>(a, lda, b, ldb, c, m, n, k);
    } else if (ta) {
      gemm_impl::blocked<T, ColMajor, RowMajor>(a, lda, b, ldb, c, m, n, k);
    } else if (tb) {
      gemm_impl::blocked<T, RowMajor, ColMajor>(a, lda, b, ldb, c, m, n, k);
    } else {
      gemm_impl::blocked<T, RowMajor, RowMajor>(a, lda, b, ldb, c, m, n, k);
    }
#else
    gemm_impl::blocked_any(a, lda, ta, b, ldb, tb, c, m, n, k);
#endif
  }
#else
  ConstMatrixMap<T> A(a, ta ? k : m, ta ? m : k), B(b, tb ? n : k, tb ? k : n);
  MatrixMap<T> C(c, m, n);
  auto assign = [&](const auto& product) {
    if (accumulate) {
      C.noalias() += product;
    } else {
      C.noalias() = product;
    }
  };
  if (!ta && !tb) assign(A * B);
  else if (ta && !tb) assign(A.transpose() * B);
  else if (!ta && tb) assign(A * B.transpose());
  else assign(A.transpose() * B.transpose());
#endif
}

}  // namespace tapegrad::detail
