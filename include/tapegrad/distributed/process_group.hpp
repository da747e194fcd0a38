#pragma once
// tg::distributed: the process group and its collectives on MPI, as torch.distributed's (one
// process per rank, started by mpirun). init_process_group() starts MPI unless the program
// already has; every collective works in place on a tensor's values (float or double) and is a
// collective call: every rank must make it, in the same order.
//
// Errors never hang and never abort: each collective first agrees across the ranks on what each
// passed (defined or not, element count, shape, source rank) with one small MPI_Allreduce, and
// when they differ every rank throws a tapegrad::Error naming the op and its own shape. MPI's own
// errors come back as tapegrad::Error too (the communicator's handler is MPI_ERRORS_RETURN).
//
// Needs MPI: link the CMake target tapegrad::distributed (tapegrad + MPI::MPI_CXX), or build
// with mpicxx. The core headers never include <mpi.h>.
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "../core/autograd.hpp"
#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace tapegrad::distributed {

enum class ReduceOp { SUM, AVG, MAX };

namespace detail {

using tapegrad::detail::check;
using tapegrad::detail::fail;

struct GroupState {
  bool active = false;            // between init_process_group and destroy_process_group
  bool started_mpi = false;       // init_process_group called MPI_Init (so destroy finalises it)
  MPI_Comm comm = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD: the program's own traffic never meets ours
  int rank = 0;
  int size = 1;
};

inline GroupState& group() {
  static GroupState state;
  return state;
}

// The group, or an Error naming `op` when there is none.
inline GroupState& active_group(const char* op) {
  GroupState& g = group();
  check(g.active, op, ": the process group is not initialised; call distributed::init_process_group() first");
  return g;
}

// An MPI return code as a tapegrad::Error naming the op.
inline void mpi_check(int rc, const char* op, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  fail(op, ": ", call, " failed: ", std::string(text, static_cast<size_t>(length)));
}

template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, double> ? MPI_DOUBLE : MPI_FLOAT;
}

// A 62-bit hash of a shape (FNV-1a over its sizes): ranks compare shapes through it.
inline int64_t shape_hash(const Dims& d) {
  uint64_t h = 14695981039346656037ULL;
  for (int64_t i = 0; i < d.size(); ++i) {
    h = (h ^ static_cast<uint64_t>(d[i])) * 1099511628211ULL;
  }
  h = (h ^ static_cast<uint64_t>(d.size())) * 1099511628211ULL;
  return static_cast<int64_t>(h >> 2);
}

// Every rank's values of `mine` agree? One MPI_Allreduce of (v, -v) with MPI_MIN gives each
// entry's smallest and largest value over the ranks. Writes them to lo/hi.
inline bool ranks_agree(const std::vector<int64_t>& mine, const char* op, std::vector<int64_t>* lo = nullptr,
                        std::vector<int64_t>* hi = nullptr) {
  GroupState& g = group();
  const size_t n = mine.size();
  std::vector<int64_t> both(2 * n), out(2 * n);
  for (size_t i = 0; i < n; ++i) {
    both[i] = mine[i];
    both[n + i] = -mine[i];
  }
  mpi_check(MPI_Allreduce(both.data(), out.data(), static_cast<int>(2 * n), MPI_INT64_T, MPI_MIN, g.comm), op,
            "MPI_Allreduce");
  bool agree = true;
  for (size_t i = 0; i < n; ++i) {
    agree = agree && out[i] == -out[n + i];
    if (lo) lo->push_back(out[i]);
    if (hi) hi->push_back(-out[n + i]);
  }
  return agree;
}

// "rank 1 of 2"
inline std::string this_rank() {
  const GroupState& g = group();
  return "rank " + std::to_string(g.rank) + " of " + std::to_string(g.size);
}

// The agreement every collective starts with: the same tensor size (and shape) on every rank,
// and, for broadcast, the same source. Throws on every rank when they differ.
template <class T>
void agree_on_tensor(const Tensor<T>& t, const char* op, int64_t src = 0) {
  active_group(op);
  const bool defined = t.defined();
  const std::vector<int64_t> mine = {defined ? 1 : 0, defined ? t.numel() : -1, defined ? shape_hash(t.sizes()) : -1, src};
  std::vector<int64_t> lo, hi;
  const bool agree = ranks_agree(mine, op, &lo, &hi);
  if (!defined) fail(op, ": the tensor is undefined (on ", this_rank(), ")");
  check(lo[0] == 1, op, ": the tensor is undefined on another rank (", this_rank(), " has shape ", t.sizes(), ")");
  if (agree) return;
  if (lo[3] != hi[3]) {
    fail(op, ": the ranks name different source ranks, from ", lo[3], " to ", hi[3], " (", this_rank(), " names ", src, ")");
  }
  if (lo[1] != hi[1]) {
    fail(op, ": the tensors' sizes differ across ranks: ", this_rank(), " has shape ", t.sizes(), " (", t.numel(),
         " elements), the ranks have from ", lo[1], " to ", hi[1], " elements");
  }
  fail(op, ": the tensors' shapes differ across ranks (the same ", t.numel(), " elements): ", this_rank(),
       " has shape ", t.sizes());
}

}  // namespace detail

// Whether init_process_group() has been called (and destroy_process_group() not since).
inline bool is_initialized() { return detail::group().active; }

// Starts the process group on MPI_COMM_WORLD: MPI_Init unless MPI is already initialised (then
// the program keeps it, and finalises it itself). Called twice it throws.
inline void init_process_group() {
  detail::GroupState& g = detail::group();
  detail::check(!g.active, "init_process_group: the process group is already initialised "
                           "(call destroy_process_group() first)");
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  detail::check(!finalised, "init_process_group: MPI has been finalised and cannot start again in this process");
  if (!initialised) {
    detail::mpi_check(MPI_Init(nullptr, nullptr), "init_process_group", "MPI_Init");
    g.started_mpi = true;
  }
  MPI_Comm comm = MPI_COMM_NULL;
  detail::mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "init_process_group", "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &g.rank);
  MPI_Comm_size(comm, &g.size);
  g.comm = comm;
  g.active = true;
  // The ranks on one machine share its cores: unless the program chose a thread count
  // (set_num_threads, or the environment variables its default reads) or the launcher bound
  // each rank to its own cores (then the affinity mask has already divided them), each rank
  // takes cores / local ranks, so two ranks on a 2-core machine do not run four busy threads
  // (torchrun sets OMP_NUM_THREADS=1 for the same reason).
  tapegrad::detail::ThreadPool& pool = tapegrad::detail::ThreadPool::instance();
  const bool chosen = pool.chosen_by_user() || std::getenv("TAPEGRAD_NUM_THREADS") || std::getenv("OMP_NUM_THREADS");
  if (!chosen && tapegrad::detail::default_num_threads() >= tapegrad::detail::online_cpus()) {
    MPI_Comm local = MPI_COMM_NULL;
    int local_size = 1;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
      MPI_Comm_size(local, &local_size);
      MPI_Comm_free(&local);
    }
    pool.set_num_threads(std::max(1, tapegrad::detail::default_num_threads() / std::max(local_size, 1)), false);
  }
}

// Ends the process group; MPI_Finalize if init_process_group started MPI (MPI cannot start
// again in the same process after that).
inline void destroy_process_group() {
  detail::GroupState& g = detail::active_group("destroy_process_group");
  MPI_Comm_free(&g.comm);
  g.active = false;
  g.rank = 0;
  g.size = 1;
  if (g.started_mpi) {
    g.started_mpi = false;
    detail::mpi_check(MPI_Finalize(), "destroy_process_group", "MPI_Finalize");
  }
}

// This process's rank, 0 .. get_world_size() - 1.
inline int get_rank() { return detail::active_group("get_rank").rank; }
// The number of processes in the group.
inline int get_world_size() { return detail::active_group("get_world_size").size; }

// Waits until every rank has reached it.
inline void barrier() {
  detail::mpi_check(MPI_Barrier(detail::active_group("barrier").comm), "barrier", "MPI_Barrier");
}

// Replaces t's values, on every rank, by their sum (AVG: mean, MAX: maximum) over the ranks.
// In place; t's autograd state is untouched (as torch.distributed, collectives are not recorded).
template <class T>
void all_reduce(const Tensor<T>& t, ReduceOp op = ReduceOp::SUM) {
  detail::agree_on_tensor(t, "all_reduce");
  const detail::GroupState& g = detail::group();
  const int64_t n = t.numel();
  if (n == 0) return;
  detail::check(n <= INT32_MAX, "all_reduce: a tensor of ", n, " elements is more than one MPI call can carry");
  detail::mpi_check(MPI_Allreduce(MPI_IN_PLACE, t.data(), static_cast<int>(n), detail::mpi_type<T>(),
                                  op == ReduceOp::MAX ? MPI_MAX : MPI_SUM, g.comm),
                    "all_reduce", "MPI_Allreduce");
  if (op == ReduceOp::AVG) {
    const T world = static_cast<T>(g.size);
    for (int64_t i = 0; i < n; ++i) t.data()[i] /= world;
  }
}

// Copies rank src's values of t into t on every rank. In place.
template <class T>
void broadcast(const Tensor<T>& t, int src) {
  detail::agree_on_tensor(t, "broadcast", src);  // first: every rank then checks the same src
  const detail::GroupState& g = detail::group();
  detail::check(src >= 0 && src < g.size, "broadcast: source rank ", src, " is out of range for a group of ", g.size,
                " ranks");
  const int64_t n = t.numel();
  if (n == 0) return;
  detail::check(n <= INT32_MAX, "broadcast: a tensor of ", n, " elements is more than one MPI call can carry");
  detail::mpi_check(MPI_Bcast(t.data(), static_cast<int>(n), detail::mpi_type<T>(), src, g.comm), "broadcast",
                    "MPI_Bcast");
}

// Every rank's t, in rank order (new tensors of t's shape, without autograd history).
template <class T>
std::vector<Tensor<T>> all_gather(const Tensor<T>& t) {
  detail::agree_on_tensor(t, "all_gather");
  const detail::GroupState& g = detail::group();
  const int64_t n = t.numel();
  detail::check(n * g.size <= INT32_MAX, "all_gather: ", g.size, " tensors of ", n,
                " elements are more than one MPI call can carry");
  std::vector<Tensor<T>> out;
  Tensor<T> all = tapegrad::detail::make_tensor<T>(Dims(Shape{static_cast<int64_t>(g.size) * n}, "all_gather"));
  if (n > 0) {
    detail::mpi_check(MPI_Allgather(t.data(), static_cast<int>(n), detail::mpi_type<T>(), all.data(), static_cast<int>(n),
                                    detail::mpi_type<T>(), g.comm),
                      "all_gather", "MPI_Allgather");
  }
  for (int r = 0; r < g.size; ++r) {
    Tensor<T> part = tapegrad::detail::make_tensor<T>(t.sizes());
    std::copy(all.data() + r * n, all.data() + (r + 1) * n, part.data());
    out.push_back(std::move(part));
  }
  return out;
}

}  // namespace tapegrad::distributed
