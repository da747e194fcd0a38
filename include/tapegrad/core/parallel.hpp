#pragma once
// Intra-op threads: tg::set_num_threads / get_num_threads and detail::parallel_for, on a small
// pool of tapegrad's own.
//
// Why its own pool and not OpenMP: a user who includes the header gets the threads without a
// compiler flag, and the results must be the same bits for every thread count. That holds by
// construction here: parallel_for cuts [0, n) into chunks whose bounds are multiples of a grain
// the op chooses, every output element is computed by exactly one chunk, and the op's
// arithmetic for an element never depends on which chunk (or thread) computes it. So a split
// changes which core does the work, never any value's order of operations; sums across
// elements (a full reduction) stay on one thread.
//
// The pool: the calling thread runs chunk range 0 and up to num_threads - 1 workers the others,
// a fixed range per worker (so a steady training step allocates the same scratch blocks on the
// same threads, from their own block pools, and touches the heap no more than with one thread).
// A worker spins briefly after its work (an op's next parallel loop usually follows within
// microseconds), then sleeps on a condition variable. A parallel_for inside a chunk, or from a
// second thread while the pool is busy, runs on the calling thread: same values, no deadlock.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__unix__)
#include <pthread.h>
#include <unistd.h>
#endif
#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif

#include "error.hpp"

namespace tapegrad::detail {

inline void cpu_relax() {
#if defined(__SSE2__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The default thread count: TAPEGRAD_NUM_THREADS, else OMP_NUM_THREADS (as torch reads it),
// else the cores this process may run on (its affinity mask, which containers and taskset
// narrow; std::thread::hardware_concurrency counts the machine's).
inline int default_num_threads() {
  for (const char* name : {"TAPEGRAD_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* value = std::getenv(name)) {
      char* end = nullptr;
      const long n = std::strtol(value, &end, 10);
      if (end != value && *end == '\0' && n >= 1 && n <= 1024) return static_cast<int>(n);
    }
  }
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

// The machine's online processors (what an unrestricted affinity mask holds).
inline int online_cpus() {
#if defined(__unix__)
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n > 0) return static_cast<int>(n);
#endif
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

// True on the pool's workers, and on a caller while it runs its share of a parallel loop.
inline bool& inside_parallel_region() {
  static thread_local bool inside = false;
  return inside;
}

class ThreadPool {
 public:
  // One parallel loop: part t of `parts` runs run(context, t).
  struct Job {
    void (*run)(void* context, int part);
    void* context;
    std::atomic<int> unfinished{0};  // workers still running their part
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // the first part's exception, set by the one that sets `failed`
  };

  static ThreadPool& instance() {
    static ThreadPool pool;
    return pool;
  }
  // Set when the static pool has been destroyed at exit: loops then run on the calling thread.
  // Atomic: a thread the program left running may start a loop while exit destroys the pool.
  static std::atomic<bool>& destroyed() {
    static std::atomic<bool> flag{false};
    return flag;
  }

  ThreadPool() : threads_(default_num_threads()) {
#if defined(__unix__)
    // A forked child has only the forking thread: it forgets the workers (their threads are
    // not there to join) and starts new ones when it needs them.
    static const int registered = pthread_atfork(nullptr, nullptr, [] {
      if (!destroyed().load(std::memory_order_relaxed)) instance().forget_workers_after_fork();
    });
    (void)registered;
#endif
  }
  ~ThreadPool() {
    destroyed().store(true, std::memory_order_release);  // loops from here on run on their calling thread
    if (inside_parallel_region()) {
      // exit() from inside a parallel loop: that loop cannot finish, so its workers are not
      // waited for (nor joined: this may be one of them); the process is ending.
      forget_workers_after_fork();
      return;
    }
    acquire();  // a loop running on another thread finishes first
    stop_workers();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return threads_.load(std::memory_order_relaxed); }
  // How many loops have run on more than one thread (for tests: that the threads were used).
  uint64_t loops_run() const { return loops_run_.load(std::memory_order_relaxed); }

  void set_num_threads(int n, bool by_user) {
    check(!inside_parallel_region(), "set_num_threads: called from inside a parallel loop (it waits for the loop)");
    acquire();
    stop_workers();  // restarted lazily, at the new count
    threads_.store(n, std::memory_order_relaxed);
    if (by_user) chosen_by_user_.store(true, std::memory_order_relaxed);
    busy_.store(false, std::memory_order_release);
  }
  // Whether the program called tg::set_num_threads (distributed's default leaves it alone).
  bool chosen_by_user() const { return chosen_by_user_.load(std::memory_order_relaxed); }

  // Runs parts 0 .. parts-1 (part 0 on the calling thread) and returns when all are done,
  // rethrowing the first exception a part threw. False, with nothing run, when the pool is
  // busy with another thread's loop: the caller then runs the loop itself.
  bool try_run(int parts, void (*run)(void*, int), void* context) {
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    struct Release {
      std::atomic<bool>& busy;
      ~Release() { busy.store(false, std::memory_order_release); }
    } release{busy_};
    if (static_cast<int>(workers_.size()) < parts - 1 && !start_workers(parts - 1)) return false;
    loops_run_.fetch_add(1, std::memory_order_relaxed);
    Job job;
    job.run = run;
    job.context = context;
    job.unfinished.store(parts - 1, std::memory_order_relaxed);
    for (int w = 0; w < parts - 1; ++w) workers_[w]->post(&job);
    run_part(job, 0);
    // Wait for the workers: spin (they finish within microseconds of the caller), then yield
    // (a worker the OS has descheduled, as when more threads than cores run).
    for (int spins = 0; job.unfinished.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 4096) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    if (job.failed.load(std::memory_order_acquire)) std::rethrow_exception(job.error);
    return true;
  }

 private:
  static void run_part(Job& job, int part) noexcept {
    bool& inside = inside_parallel_region();
    const bool was_inside = inside;
    inside = true;
    try {
      job.run(job.context, part);
    } catch (...) {
      if (!job.failed.exchange(true, std::memory_order_acq_rel)) job.error = std::current_exception();
    }
    inside = was_inside;
  }

  // One worker: waits for its ticket to change, then runs its part (part_) of the posted job.
  class Worker {
   public:
    explicit Worker(int index) : part_(index + 1), thread_([this] { loop(); }) {}
    ~Worker() {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
      }
      wake_.notify_one();
      thread_.join();
    }

    void post(Job* job) {
      job_ = job;
      ticket_.fetch_add(1, std::memory_order_seq_cst);
      // Dekker with the worker's `sleeping_ = true; then read ticket_`: either it sees the new
      // ticket, or this sees it asleep and wakes it under the mutex.
      if (sleeping_.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(mutex_);
        wake_.notify_one();
      }
    }

   private:
    void loop() {
      inside_parallel_region() = true;
      uint64_t seen = 0;
      for (;;) {
        // Spin for kSpin (pause instructions take from a few to 140 cycles, so the clock
        // bounds it, read every 64 of them).
        const auto spin_until = std::chrono::steady_clock::now() + kSpin;
        for (int spins = 1; ticket_.load(std::memory_order_acquire) == seen; ++spins) {
          cpu_relax();
          if (spins % 64 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
        }
        if (ticket_.load(std::memory_order_acquire) == seen) {
          std::unique_lock<std::mutex> lock(mutex_);
          sleeping_.store(true, std::memory_order_seq_cst);
          while (ticket_.load(std::memory_order_seq_cst) == seen && !stop_) wake_.wait(lock);
          sleeping_.store(false, std::memory_order_relaxed);
          if (stop_ && ticket_.load(std::memory_order_acquire) == seen) return;
        }
        seen = ticket_.load(std::memory_order_acquire);
        Job& job = *job_;
        run_part(job, part_);
        job.unfinished.fetch_sub(1, std::memory_order_acq_rel);
      }
    }

    // Longer than the gap between one op's parallel loop and the next in a training step,
    // short enough not to hold a core that another process (or test) wants.
    static constexpr std::chrono::microseconds kSpin{50};

    const int part_;
    Job* job_ = nullptr;
    std::atomic<uint64_t> ticket_{0};
    std::atomic<bool> sleeping_{false};
    bool stop_ = false;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::thread thread_;  // last: it starts running loop() once the members above exist
  };

  void acquire() {
    while (busy_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
  }
  // False when the system refuses a thread (a process or container limit): the count drops to
  // the threads there are, and this loop runs on its calling thread.
  bool start_workers(int count) {
    try {
      for (int w = static_cast<int>(workers_.size()); w < count; ++w) workers_.push_back(std::make_unique<Worker>(w));
      return true;
    } catch (const std::exception&) {
      threads_.store(static_cast<int>(workers_.size()) + 1, std::memory_order_relaxed);
      return false;
    }
  }
  void stop_workers() { workers_.clear(); }
  void forget_workers_after_fork() {
    for (auto& worker : workers_) (void)worker.release();  // leaked: its thread is not in this process
    workers_.clear();
    busy_.store(false, std::memory_order_relaxed);
  }

  std::atomic<int> threads_;
  std::atomic<bool> busy_{false};
  std::atomic<uint64_t> loops_run_{0};
  std::atomic<bool> chosen_by_user_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
};

// body(begin, end) over [0, n) in chunks whose bounds are multiples of `grain` (the last ends
// at n), spread over the threads: thread t gets a fixed run of whole chunks. One chunk, one
// thread, a nested call, or a busy pool: body(0, n) on the calling thread. The op's arithmetic
// for an element must not depend on the chunk it falls in (see the top of this file).
template <class F>
void parallel_for(int64_t n, int64_t grain, const F& body) {
  if (n <= 0) return;
  // The common case first, before any division: one chunk's work (a small op).
  if (n <= grain || inside_parallel_region() || ThreadPool::destroyed().load(std::memory_order_acquire)) return body(int64_t(0), n);
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  ThreadPool& pool = ThreadPool::instance();
  const int parts = static_cast<int>(std::min<int64_t>(chunks, pool.num_threads()));
  if (parts <= 1) return body(int64_t(0), n);
  struct Context {
    const F& body;
    int64_t n, grain, chunks;
    int parts;
  } context{body, n, grain, chunks, parts};
  auto run = [](void* raw, int part) {
    const Context& c = *static_cast<const Context*>(raw);
    const int64_t first = c.chunks * part / c.parts, last = c.chunks * (part + 1) / c.parts;
    const int64_t begin = first * c.grain, end = std::min(c.n, last * c.grain);
    if (begin < end) c.body(begin, end);
  };
  if (!pool.try_run(parts, run, &context)) body(int64_t(0), n);
}

// Elementwise loops (and the optimizers' updates) split into chunks of this many elements:
// enough work (tens of microseconds) to pay for waking a worker; a multiple of every packet
// size, so a chunk's packets are the whole loop's packets.
constexpr int64_t kElementwiseGrain = 16384;
// A product (or a batch of them) splits when it has this many multiply-adds: about 5
// microseconds of one core's work.
constexpr int64_t kMinParallelFmas = int64_t(1) << 18;

// The grain for a loop over items of `item_work` units each (a row of that many elements, a
// product of that many multiply-adds): as many items as make `chunk_work`, at least one.
inline int64_t items_per_chunk(int64_t item_work, int64_t chunk_work = kElementwiseGrain) {
  return std::max<int64_t>(1, chunk_work / std::max<int64_t>(item_work, 1));
}

}  // namespace tapegrad::detail

namespace tapegrad {

// The number of threads tapegrad's ops use: the calling thread and n - 1 workers. Results are
// the same bits for every n. Default: TAPEGRAD_NUM_THREADS, else OMP_NUM_THREADS, else the
// cores this process may run on. Not to be called while another thread runs tapegrad ops; from
// inside a parallel loop's chunk (which it would wait for) it throws.
inline void set_num_threads(int n) {
  detail::check(n >= 1, "set_num_threads: the number of threads must be at least 1, got ", n);
  detail::ThreadPool::instance().set_num_threads(n, true);
}

inline int get_num_threads() { return detail::ThreadPool::instance().num_threads(); }

}  // namespace tapegrad
