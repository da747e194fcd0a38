#pragma once
// C (+)= op(A) op(B) on row-major blocks: tapegrad's own small GEMM over Eigen's packet
// functions. Eigen's product expressions cost most of a second of compile time per operand
// form, and its GEMM kernels alone (a packing routine per storage order, the blocking
// heuristics, the block-panel kernel with its many edge cases) still half a second; this
// compiles in a fraction of that.
//  * n == 1 or m == 1, a matrix times a vector: four dot products at a time where the
//    matrix's rows are contiguous, else its rows combined four packets of columns at a time;
//  * A times B^T with at most four rows or columns: dot products of their contiguous rows;
//  * otherwise a packed, register-blocked product (below), one kernel for every storage
//    order, computing C^T instead when that pads the tiles far less.
// With AVX-512 it is faster than Eigen's GEMM on the MLP's products (256x784x512: 0.96 ms
// against 1.11) and on the seed's small ones, and reaches 95-120 GFLOP/s on char_gpt's
// (1024x384x128 and the like) where one core's FMA loop reaches 110-136.
// Large products split C into blocks of columns (or rows) across threads (core/parallel.hpp):
// each element of C is summed over the same depth blocks in the same order whichever block it
// falls in, so the result is the same bits for every thread count. With another Eigen version
// than 3.4, the product expressions (one thread).
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <utility>

#include "kernels.hpp"

namespace tapegrad::detail {

#if TAPEGRAD_EIGEN_INTERNALS
namespace gemm_impl {

// ---- the blocked product -------------------------------------------------------------------
// C (row-major, m x n) += op(A) op(B) the way BLIS and Eigen's GEMM work, in one small kernel:
// op(B) is packed a kc x nc block at a time into panels of kNr columns (zero-padded), op(A)
// is read in place in mc x kc blocks, kMr rows at a time (only a last panel of fewer rows is
// packed, zero-padded), and a register-blocked micro-kernel computes each kMr x kNr tile of C
// over the kc block: kMr rows of two packets, each step two packet loads of B and one
// broadcast of A per row. Each element of C is summed over a kc block in order, from zero,
// then stored (the first block, when C is not accumulated into) or added to C, block after
// block.

// The micro-kernel's shape for T: two packets of columns, and as many rows as the registers
// hold beside them (12 with 32 vector registers, 6 with 16; 2 x 2 scalars without vectors).
template <class T>
struct Tile {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int kPacket = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr int kNr = 2 * kPacket;
  static constexpr int kRegisters = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS;
  static constexpr int kMr = (kRegisters - 3) / 2 > 12 ? 12 : (kRegisters - 3) / 2;
  // Block sizes: a kc x kNr panel of B stays in L1 while the mc x kc block of A stays in L2.
  static constexpr int64_t kKc = 256;
  static constexpr int64_t kMc = 16 * kMr;
  static constexpr int64_t kNc = 2048;
};

// C (its rows x cols corner of a tile, leading dimension ldc) += the kMr x kNr tile that is
// the sum over p < kc of column p of the A panel times row p of the B panel. Unrolled by hand
// (a fold over Q = row * 2 + packet), so the accumulators live in registers at -O2 too.
// A's kMr values of step p are read where they lie when A's layout allows (broadcasting a
// value costs the same from anywhere, and A need not be copied into panels first):
//  * kPacked: a packed panel, contiguous at pa + p * kMr;
//  * kRows: a row-major A, row r at pa[r * lda + p];
//  * kSteps: A read transposed (A^T row-major), contiguous at pa + p * lda.
// With `overwrite` the tile is stored, not added: C's first depth block needs no zeros first.
enum class ALayout { kPacked, kRows, kSteps };

template <class T, ALayout Layout, size_t... Q>
TAPEGRAD_NOINLINE void micro_kernel(std::index_sequence<Q...>, int64_t kc, const T* pa, int64_t lda, const T* pb, T* c,
                                    int64_t ldc, int64_t rows, int64_t cols, bool overwrite) {
  using namespace Eigen::internal;
  using P = typename Tile<T>::Packet;
  constexpr int ps = Tile<T>::kPacket, mr = Tile<T>::kMr, nr = Tile<T>::kNr;
  constexpr bool by_rows = Layout == ALayout::kRows;
  const int64_t step = Layout == ALayout::kPacked ? mr : by_rows ? 1 : lda;
  P acc[sizeof...(Q)];
  ((acc[Q] = pset1<P>(T(0))), ...);
  for (int64_t p = 0; p < kc; ++p, pa += step, pb += nr) {
    const P b0 = ploadu<P>(pb), b1 = ploadu<P>(pb + ps);
    ((acc[Q] = pmadd(pset1<P>(pa[by_rows ? (Q / 2) * lda : Q / 2]), Q % 2 == 0 ? b0 : b1, acc[Q])), ...);
  }
  if (rows == mr && cols == nr) {
    if (overwrite) {
      ((pstoreu(c + (Q / 2) * ldc + (Q % 2) * ps, acc[Q])), ...);
    } else {
      ((pstoreu(c + (Q / 2) * ldc + (Q % 2) * ps, padd(ploadu<P>(c + (Q / 2) * ldc + (Q % 2) * ps), acc[Q]))), ...);
    }
    return;
  }
  alignas(64) T tile[mr * nr];  // a tile at the edge of C: through memory
  ((pstore(tile + Q * ps, acc[Q])), ...);
  for (int64_t i = 0; i < rows; ++i) {  // whole packets, then the columns past them
    T* ci = c + i * ldc;
    const T* ti = tile + i * nr;
    int64_t j = 0;
    for (; j + ps <= cols; j += ps) pstoreu(ci + j, overwrite ? pload<P>(ti + j) : padd(ploadu<P>(ci + j), pload<P>(ti + j)));
    for (; j < cols; ++j) ci[j] = overwrite ? ti[j] : ci[j] + ti[j];
  }
}

// Packs the rows x depth block X(i, p) = x[i * si + p * sp] into panels of W rows: for each
// panel, for each p, W values, zero past the last row. W is a constant so that the copies of
// a whole panel unroll.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // PacketBlock<__m512, 16>, as in Eigen's own headers
#endif
template <class T, int W>
TAPEGRAD_NOINLINE void pack_panels(const T* x, int64_t si, int64_t sp, int64_t rows, int64_t depth, T* out) {
  for (int64_t i0 = 0; i0 < rows; i0 += W, out += depth * W) {
    const T* x0 = x + i0 * si;
    const int64_t h = std::min<int64_t>(W, rows - i0);
    if (si == 1 && h == W) {  // each step's values are contiguous: W of them, a constant
      for (int64_t p = 0; p < depth; ++p) {
        for (int i = 0; i < W; ++i) out[p * W + i] = x0[p * sp + i];
      }
    } else if (si == 1) {
      for (int64_t p = 0; p < depth; ++p) {
        for (int i = 0; i < W; ++i) out[p * W + i] = i < h ? x0[p * sp + i] : T(0);
      }
    } else if (W % Tile<T>::kPacket == 0 && sp == 1 && h == W) {
      // Rows contiguous in p (B^T's rows, B read transposed): square blocks of a packet's
      // width transposed in registers, the steps past the last whole block one by one.
      using namespace Eigen::internal;
      using P = typename Tile<T>::Packet;
      constexpr int ps = Tile<T>::kPacket;
      int64_t p = 0;
      for (; p + ps <= depth; p += ps) {
        for (int half = 0; half < W; half += ps) {
          PacketBlock<P, ps> block;
          for (int i = 0; i < ps; ++i) block.packet[i] = ploadu<P>(x0 + (half + i) * si + p);
          ptranspose(block);
          for (int t = 0; t < ps; ++t) pstoreu(out + (p + t) * W + half, block.packet[t]);
        }
      }
      for (; p < depth; ++p) {
        for (int i = 0; i < W; ++i) out[p * W + i] = x0[i * si + p];
      }
    } else {
      for (int64_t p = 0; p < depth; ++p) {
        for (int i = 0; i < W; ++i) out[p * W + i] = i < h ? x0[i * si + p * sp] : T(0);
      }
    }
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Scratch memory from the pool, returned when the product is done.
template <class T>
struct PoolBuffer {
  explicit PoolBuffer(int64_t n) : bytes(static_cast<std::size_t>(n) * sizeof(T)), data(static_cast<T*>(pool_allocate(bytes))) {}
  ~PoolBuffer() { pool_deallocate(data, bytes); }
  PoolBuffer(const PoolBuffer&) = delete;
  PoolBuffer& operator=(const PoolBuffer&) = delete;
  std::size_t bytes;
  T* data;
};

// C (m x n, row-major with leading dimension ldc) += op(A) op(B), op(A)(i, p) = a[i * ai + p * ap],
// op(B)(p, j) = b[p * bp + j * bj]; with `overwrite`, C = op(A) op(B) (C's values are not read).
template <class T>
TAPEGRAD_NOINLINE void blocked(const T* a, int64_t ai, int64_t ap, const T* b, int64_t bp, int64_t bj, T* c,
                               int64_t ldc, int64_t m, int64_t n, int64_t k, bool overwrite) {
  using Tl = Tile<T>;
  constexpr int mr = Tl::kMr, nr = Tl::kNr;
  const int64_t kc_max = std::min(k, Tl::kKc), mc_max = std::min(m, Tl::kMc), nc_max = std::min(n, Tl::kNc);
  PoolBuffer<T> pa(kc_max * ((mc_max + mr - 1) / mr) * mr), pb(kc_max * ((nc_max + nr - 1) / nr) * nr);
  const auto rows_cols = std::make_index_sequence<static_cast<size_t>(2 * mr)>();
  for (int64_t jc = 0; jc < n; jc += nc_max) {
    const int64_t nc = std::min(nc_max, n - jc);
    for (int64_t pc = 0; pc < k; pc += kc_max) {
      const int64_t kc = std::min(kc_max, k - pc);
      const bool store = overwrite && pc == 0;  // the first depth block sets C
      pack_panels<T, nr>(b + pc * bp + jc * bj, bj, bp, nc, kc, pb.data);  // B^T's rows are B's columns
      for (int64_t ic = 0; ic < m; ic += mc_max) {
        const int64_t mc = std::min(mc_max, m - ic);
        // A row-major A (ap == 1) or one read transposed (ai == 1) is read in place, but for a
        // last panel of fewer than kMr rows (packed, zero-padded: the kernel reads kMr rows).
        const int64_t direct_rows = ap == 1 || ai == 1 ? mc / mr * mr : 0;
        const T* a_block = a + ic * ai + pc * ap;
        pack_panels<T, mr>(a_block + direct_rows * ai, ai, ap, mc - direct_rows, kc, pa.data);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t cols = std::min<int64_t>(nr, nc - jr);
          const T* b_panel = pb.data + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += mr) {
            T* c_tile = c + (ic + ir) * ldc + jc + jr;
            if (ir >= direct_rows) {
              micro_kernel<T, ALayout::kPacked>(rows_cols, kc, pa.data + (ir - direct_rows) * kc, 0, b_panel, c_tile, ldc,
                                                std::min<int64_t>(mr, mc - ir), cols, store);
            } else if (ap == 1) {
              micro_kernel<T, ALayout::kRows>(rows_cols, kc, a_block + ir * ai, ai, b_panel, c_tile, ldc, mr, cols, store);
            } else {
              micro_kernel<T, ALayout::kSteps>(rows_cols, kc, a_block + ir, ap, b_panel, c_tile, ldc, mr, cols, store);
            }
          }
        }
      }
    }
  }
}

// blocked() over the whole of C (m x n, contiguous), split across threads when the product is
// large: into blocks of whole tiles' columns where C is wide enough (each thread packs only its
// own columns of B and reads A in place), else of rows. An element's sum is the same either
// way: over the same kKc-deep blocks of k, in order.
template <class T>
void parallel_blocked(const T* a, int64_t ai, int64_t ap, const T* b, int64_t bp, int64_t bj, T* c, int64_t m,
                      int64_t n, int64_t k, bool overwrite) {
  constexpr int64_t mr = Tile<T>::kMr, nr = Tile<T>::kNr;
  const int threads = m * n * k < kMinParallelFmas ? 1 : get_num_threads();
  if (threads <= 1) return blocked(a, ai, ap, b, bp, bj, c, n, m, n, k, overwrite);
  if (n >= 4 * nr * threads) {
    parallel_for(n, nr, [&](int64_t begin, int64_t end) {
      blocked(a, ai, ap, b + begin * bj, bp, bj, c + begin, n, m, end - begin, k, overwrite);
    });
  } else {
    parallel_for(m, mr, [&](int64_t begin, int64_t end) {
      blocked(a + begin * ai, ai, ap, b, bp, bj, c + begin * n, n, end - begin, n, k, overwrite);
    });
  }
}

// ---- a matrix times a vector -----------------------------------------------------------------

// c[i] += row i of the row-major (rows x k) matrix M . v, four rows at a time: packets along
// k, then the values past the last whole packet.
template <class T>
TAPEGRAD_NOINLINE void row_dots(const T* mat, const T* v, int64_t rows, int64_t k, T* c) {
  using namespace Eigen::internal;
  using P = typename Tile<T>::Packet;
  constexpr int64_t ps = Tile<T>::kPacket;
  const int64_t whole = k / ps * ps;
  int64_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    const T* r = mat + i * k;
    P a0 = pset1<P>(T(0)), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t p = 0; p < whole; p += ps) {
      const P x = ploadu<P>(v + p);
      a0 = pmadd(ploadu<P>(r + p), x, a0);
      a1 = pmadd(ploadu<P>(r + k + p), x, a1);
      a2 = pmadd(ploadu<P>(r + 2 * k + p), x, a2);
      a3 = pmadd(ploadu<P>(r + 3 * k + p), x, a3);
    }
    T s0 = predux(a0), s1 = predux(a1), s2 = predux(a2), s3 = predux(a3);
    for (int64_t p = whole; p < k; ++p) {
      s0 += r[p] * v[p];
      s1 += r[k + p] * v[p];
      s2 += r[2 * k + p] * v[p];
      s3 += r[3 * k + p] * v[p];
    }
    c[i] += s0;
    c[i + 1] += s1;
    c[i + 2] += s2;
    c[i + 3] += s3;
  }
  for (; i < rows; ++i) {
    const T* r = mat + i * k;
    P a0 = pset1<P>(T(0));
    for (int64_t p = 0; p < whole; p += ps) a0 = pmadd(ploadu<P>(r + p), ploadu<P>(v + p), a0);
    T s0 = predux(a0);
    for (int64_t p = whole; p < k; ++p) s0 += r[p] * v[p];
    c[i] += s0;
  }
}

// c[j] += the sum over p < k of v[p] M[p * n + j], for the row-major (k x n) matrix M: its
// rows combined with weights v, in order of p, four packets of columns at a time. Columns past
// the last whole packet are done as the packet ending at column n, from c's values before
// any store: the columns it shares with the packets before get the same values again.
template <class T>
TAPEGRAD_NOINLINE void combine_rows(const T* v, const T* mat, int64_t k, int64_t n, T* c) {
  using namespace Eigen::internal;
  using P = typename Tile<T>::Packet;
  constexpr int64_t ps = Tile<T>::kPacket;
  if (n < ps) {
    for (int64_t p = 0; p < k; ++p) {
      for (int64_t j = 0; j < n; ++j) c[j] += v[p] * mat[p * n + j];
    }
    return;
  }
  auto column_packet = [&](int64_t j, P acc) {
    for (int64_t p = 0; p < k; ++p) acc = pmadd(pset1<P>(v[p]), ploadu<P>(mat + p * n + j), acc);
    return acc;
  };
  const P last = ploadu<P>(c + n - ps);
  int64_t j = 0;
  for (; j + 4 * ps <= n; j += 4 * ps) {
    P c0 = ploadu<P>(c + j), c1 = ploadu<P>(c + j + ps), c2 = ploadu<P>(c + j + 2 * ps), c3 = ploadu<P>(c + j + 3 * ps);
    for (int64_t p = 0; p < k; ++p) {
      const P w = pset1<P>(v[p]);
      const T* r = mat + p * n + j;
      c0 = pmadd(w, ploadu<P>(r), c0);
      c1 = pmadd(w, ploadu<P>(r + ps), c1);
      c2 = pmadd(w, ploadu<P>(r + 2 * ps), c2);
      c3 = pmadd(w, ploadu<P>(r + 3 * ps), c3);
    }
    pstoreu(c + j, c0);
    pstoreu(c + j + ps, c1);
    pstoreu(c + j + 2 * ps, c2);
    pstoreu(c + j + 3 * ps, c3);
  }
  for (; j + ps <= n; j += ps) pstoreu(c + j, column_packet(j, ploadu<P>(c + j)));
  if (j < n) pstoreu(c + n - ps, column_packet(n - ps, last));
}

}  // namespace gemm_impl
#endif

// C (m, n) = op(A) op(B), or += when `accumulate`; A is (m, k) or, with `ta`, (k, m); B is
// (k, n) or, with `tb`, (n, k); all row-major and contiguous, and C overlaps neither.
template <class T>
void gemm(const T* a, bool ta, const T* b, bool tb, T* c, int64_t m, int64_t n, int64_t k, bool accumulate) {
#if TAPEGRAD_EIGEN_INTERNALS
  // Every path adds into C but the blocked product, which can set it (its first depth block).
  auto zero_c = [&] {
    if (!accumulate) std::fill_n(c, m * n, T(0));
  };
  if (m == 0 || n == 0 || k == 0) return zero_c();
  if (n == 1 || m == 1) {
    zero_c();  // a matrix times a vector: dot products or a sum of scaled rows
    // With n == 1, C's column = op(A) op(B)'s column (contiguous either way); with m == 1,
    // C's row = op(A)'s row (contiguous) op(B). Each is the matrix M times the vector v.
    const T* mat = n == 1 ? a : b;
    const T* v = n == 1 ? b : a;
    const int64_t outputs = n == 1 ? m : n;
    // M's rows are contiguous (C[i] = row i . v) or its columns are (C += v[p] row p).
    if (n == 1 ? !ta : tb) {
      gemm_impl::row_dots(mat, v, outputs, k, c);
    } else {
      gemm_impl::combine_rows(v, mat, k, outputs, c);
    }
  } else {
    // op(A)(i, p) = a[i * ai + p * ap], op(B)(p, j) = b[p * bp + j * bj]
    const int64_t ai = ta ? 1 : k, ap = ta ? m : 1, bp = tb ? 1 : n, bj = tb ? k : 1;
    constexpr int64_t mr = gemm_impl::Tile<T>::kMr, nr = gemm_impl::Tile<T>::kNr;
    auto padded = [](int64_t rows, int64_t cols) { return (rows + mr - 1) / mr * mr * ((cols + nr - 1) / nr * nr); };
    if (m <= 4 && !ta && tb) {
      // A few rows, each row of B dotted with a row of A (both contiguous): dot products
      // stream B once per row of C, where packing B for the tiles would gather it.
      zero_c();
      const int64_t grain = m * n * k < kMinParallelFmas ? n : 64;  // rows of B per chunk
      parallel_for(n, grain, [&](int64_t begin, int64_t end) {
        for (int64_t i = 0; i < m; ++i) gemm_impl::row_dots(b + begin * k, a + i * k, end - begin, k, c + i * n + begin);
      });
    } else if ((n <= 4 && !ta && tb) || (n < nr && ta && 3 * padded(n, m) < 2 * padded(m, n))) {
      // A few columns: C^T, computed into scratch and added to C transposed. For A B^T each
      // row of C^T is the same dot products as above; with A^T's rows contiguous, the tiles
      // of C^T = op(B)^T A pad far less (its rows are C's few columns).
      zero_c();
      gemm_impl::PoolBuffer<T> ct(n * m);
      if (!ta) {
        std::fill_n(ct.data, n * m, T(0));
        for (int64_t j = 0; j < n; ++j) gemm_impl::row_dots(a, b + j * k, m, k, ct.data + j * m);
      } else {
        gemm_impl::parallel_blocked(b, bj, bp, a, ap, ai, ct.data, n, m, k, true);
      }
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) c[i * n + j] += ct.data[j * m + i];
      }
    } else {
      gemm_impl::parallel_blocked(a, ai, ap, b, bp, bj, c, m, n, k, !accumulate);
    }
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
