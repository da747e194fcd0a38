#pragma once
// Storage<T>: one pooled block holding a small header and the contiguous, 64-byte aligned
// values of a tensor. Several tensors (a reshape, a detach) may share one storage.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>

#include "error.hpp"
#include "memory.hpp"

namespace tapegrad::detail {

template <class T>
struct Storage : RefCounted {
  static constexpr std::size_t kHeaderBytes = 64;

  T* data = nullptr;
  std::size_t block_bytes = 0;

  static IntrusivePtr<Storage> create(int64_t n) {
    // A byte count that wraps around would allocate a small block for a huge tensor; one
    // allocation never spans more than PTRDIFF_MAX bytes.
    check(static_cast<uint64_t>(n) <= (std::numeric_limits<std::ptrdiff_t>::max() - kHeaderBytes) / sizeof(T),
          "tensor: cannot allocate ", n, " elements of ", sizeof(T), " bytes (more than one allocation can hold)");
    const std::size_t bytes = kHeaderBytes + static_cast<std::size_t>(n) * sizeof(T);
    void* block = pool_allocate(bytes);
    auto* s = new (block) Storage();
    s->data = reinterpret_cast<T*>(static_cast<char*>(block) + kHeaderBytes);
    s->block_bytes = bytes;
    return IntrusivePtr<Storage>(s);
  }
};
static_assert(sizeof(Storage<double>) <= Storage<double>::kHeaderBytes);

template <class T>
inline void release_ref(Storage<T>* s) noexcept {
  const std::size_t bytes = s->block_bytes;
  s->~Storage();
  pool_deallocate(s, bytes);
}

}  // namespace tapegrad::detail
