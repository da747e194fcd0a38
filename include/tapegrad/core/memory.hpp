#pragma once
// Intrusive reference counting and the thread-local block pool behind tensors, storage and
// tape nodes: a steady training step reuses the blocks the previous step freed, so it does
// not touch the heap.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

// Under AddressSanitizer the pool poisons what it caches and the tail of each block past the
// bytes asked for, so ASan still reports a use after free or an overflow inside pooled memory.
#if defined(__SANITIZE_ADDRESS__)
#define TAPEGRAD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAPEGRAD_ASAN 1
#endif
#endif
#ifdef TAPEGRAD_ASAN
#include <sanitizer/asan_interface.h>
#define TAPEGRAD_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define TAPEGRAD_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TAPEGRAD_POISON(p, n) ((void)(p), (void)(n))
#define TAPEGRAD_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#include "error.hpp"

namespace tapegrad::detail {

// ---- Block pool -------------------------------------------------------------------------
// Size classes are powers of two from 64 bytes; every block is 64-byte aligned and comes from
// the aligned global operator new (so allocation counters see it), so a block freed on another
// thread (or after the pool died) is simply cached there (or released to the heap).
class BlockPool {
 public:
  static constexpr std::size_t kAlignment = 64;
  static constexpr int kMinClassLog2 = 6;    // 64 B
  static constexpr int kMaxClassLog2 = 30;   // 1 GiB; larger blocks are not cached
  static constexpr int kClasses = kMaxClassLog2 - kMinClassLog2 + 1;

  BlockPool() { state() = State::alive; }
  ~BlockPool() {
    for (int c = 0; c < kClasses; ++c) {
      FreeBlock*& head = free_lists_[c];
      while (head) {
        TAPEGRAD_UNPOISON(head, class_bytes(c));
        FreeBlock* next = head->next;
        release_block(head);
        head = next;
      }
    }
    state() = State::dead;
    cached() = nullptr;
  }

  enum class State : unsigned char { unborn, alive, dead };
  // Trivially destructible, so it can still be read while thread-locals are torn down.
  // The calling thread's pool once built: a plain pointer, so reading it needs no TLS guard.
  static BlockPool*& cached() {
    static thread_local BlockPool* pool = nullptr;
    return pool;
  }
  static State& state() {
    static thread_local State s = State::unborn;
    return s;
  }

  // The smallest c with class_bytes(c) >= bytes.
  static int size_class(std::size_t bytes) {
    if (bytes <= (std::size_t(1) << kMinClassLog2)) return 0;
#if defined(__GNUC__) || defined(__clang__)
    return 64 - __builtin_clzll(static_cast<unsigned long long>(bytes - 1)) - kMinClassLog2;
#else
    int c = 0;
    for (std::size_t cap = std::size_t(1) << kMinClassLog2; cap < bytes; cap <<= 1) ++c;
    return c;
#endif
  }
  static std::size_t class_bytes(int c) { return std::size_t(1) << (c + kMinClassLog2); }

  void* allocate(std::size_t bytes) {
    const int c = size_class(bytes);
    if (c < kClasses && free_lists_[c]) {
      FreeBlock* b = free_lists_[c];
      TAPEGRAD_UNPOISON(b, class_bytes(c));
      free_lists_[c] = b->next;
      --cached_[c];
      return usable(b, bytes, c);
    }
    return usable(allocate_fresh(c), bytes, c);
  }

  void deallocate(void* p, std::size_t bytes) noexcept {
    const int c = size_class(bytes);
    TAPEGRAD_UNPOISON(p, class_bytes(c));
    if (c >= kClasses) return release_block(p);
    // A thread that frees what another allocates (a data loader's batches) must not hoard:
    // past 64 MiB (or 4 blocks) of one class, blocks go back to the heap.
    if (cached_[c] >= std::max<std::size_t>(4, (std::size_t(64) << 20) / class_bytes(c))) return release_block(p);
    auto* b = static_cast<FreeBlock*>(p);
    b->next = free_lists_[c];
    free_lists_[c] = b;
    ++cached_[c];
    // the link stays readable, so LeakSanitizer still sees the cached blocks as reachable
    TAPEGRAD_POISON(b + 1, class_bytes(c) - sizeof(FreeBlock));
  }

  static void* allocate_fresh(int c) { return ::operator new(class_bytes(c), std::align_val_t(kAlignment)); }
  static void release_block(void* p) noexcept { ::operator delete(p, std::align_val_t(kAlignment)); }
  // The block with its tail past `bytes` poisoned (under ASan).
  static void* usable(void* p, [[maybe_unused]] std::size_t bytes, [[maybe_unused]] int c) {
    TAPEGRAD_POISON(static_cast<char*>(p) + bytes, class_bytes(c) - bytes);
    return p;
  }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  FreeBlock* free_lists_[kClasses] = {};
  std::size_t cached_[kClasses] = {};  // blocks on each list
};

// The calling thread's pool; null once it has been destroyed at thread exit.
inline BlockPool* thread_pool() {
  if (BlockPool* pool = BlockPool::cached()) return pool;
  if (BlockPool::state() == BlockPool::State::dead) return nullptr;
  static thread_local BlockPool pool;
  return BlockPool::cached() = &pool;
}

TAPEGRAD_NOINLINE inline void* pool_allocate(std::size_t bytes) {
  if (BlockPool* pool = thread_pool()) return pool->allocate(bytes);
  return BlockPool::allocate_fresh(BlockPool::size_class(bytes));
}

TAPEGRAD_NOINLINE inline void pool_deallocate(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (BlockPool* pool = thread_pool()) return pool->deallocate(p, bytes);
  BlockPool::release_block(p);
}

// Classes that derive from this get pooled operator new/delete.
struct PoolAllocated {
  static void* operator new(std::size_t bytes) { return pool_allocate(bytes); }
  static void operator delete(void* p, std::size_t bytes) noexcept { pool_deallocate(p, bytes); }
};

// ---- Intrusive reference counting -------------------------------------------------------
struct RefCounted {
  mutable std::atomic<int32_t> refcount{0};
};

// Types release through an ADL-found `release_ref(T*)` when their count drops to zero,
// which defaults to `delete`.
template <class T>
inline void release_ref(T* p) noexcept {
  delete p;
}

template <class T>
class IntrusivePtr {
 public:
  IntrusivePtr() noexcept = default;
  explicit IntrusivePtr(T* p) noexcept : p_(p) { retain(); }
  IntrusivePtr(const IntrusivePtr& o) noexcept : p_(o.p_) { retain(); }
  IntrusivePtr(IntrusivePtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <class U, class = std::enable_if_t<std::is_convertible_v<U*, T*>>>
  IntrusivePtr(const IntrusivePtr<U>& o) noexcept : p_(o.get()) { retain(); }
  template <class U, class = std::enable_if_t<std::is_convertible_v<U*, T*>>>
  IntrusivePtr(IntrusivePtr<U>&& o) noexcept : p_(o.detach_raw()) {}
  ~IntrusivePtr() { drop(); }

  IntrusivePtr& operator=(IntrusivePtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }

  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  int32_t use_count() const noexcept { return p_ ? p_->refcount.load(std::memory_order_relaxed) : 0; }
  void reset() noexcept {
    drop();
    p_ = nullptr;
  }
  T* detach_raw() noexcept { return std::exchange(p_, nullptr); }
  friend bool operator==(const IntrusivePtr& a, const IntrusivePtr& b) { return a.p_ == b.p_; }
  friend bool operator!=(const IntrusivePtr& a, const IntrusivePtr& b) { return a.p_ != b.p_; }

 private:
  void retain() noexcept {
    if (p_) p_->refcount.fetch_add(1, std::memory_order_relaxed);
  }
  void drop() noexcept {
    if (p_) drop_ref(p_);
  }
  // Out of line, as a handle dies in nearly every function and a release runs destructors
  // and returns memory to the pool: inlining that everywhere multiplies the code the compiler
  // must optimise. The sole owner releases without an atomic read-modify-write (no one else
  // holds a reference through which to add one); a shared handle decrements atomically.
  TAPEGRAD_NOINLINE static void drop_ref(T* p) noexcept {
    if (p->refcount.load(std::memory_order_acquire) == 1 || p->refcount.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      release_ref(p);
    }
  }
  T* p_ = nullptr;
};

template <class T, class... Args>
IntrusivePtr<T> make_intrusive(Args&&... args) {
  return IntrusivePtr<T>(new T(std::forward<Args>(args)...));
}

}  // namespace tapegrad::detail

#undef TAPEGRAD_POISON
#undef TAPEGRAD_UNPOISON
