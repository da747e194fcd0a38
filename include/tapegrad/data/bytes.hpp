#pragma once
// A whole file read into memory, and the gzip magic: what the IDX reader needs before it knows
// whether zlib has a part to play (this header does not need zlib).
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace tapegrad::data {

// The default cap on what one gzip stream may inflate to: 2 GiB (Fashion-MNIST's largest file
// is 47 MB, EMNIST's 0.55 GB).
constexpr size_t kMaxGunzipBytes = size_t(1) << 31;

// True when the bytes start with gzip's magic 1f 8b (RFC 1952).
inline bool is_gzip(const uint8_t* data, size_t size) { return size >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

namespace detail {

// The bytes of the regular file `path`; errors start "<what>: <path>: ".
TAPEGRAD_COLD inline std::vector<uint8_t> read_bytes(const std::string& path, const char* what) {
  struct stat st {};
  tapegrad::detail::check(::stat(path.c_str(), &st) == 0, what, ": ", path, ": no such file");
  tapegrad::detail::check(S_ISREG(st.st_mode), what, ": ", path, ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  tapegrad::detail::check(static_cast<bool>(in), what, ": ", path, ": cannot be opened for reading");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  if (!bytes.empty()) in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  tapegrad::detail::check(bytes.empty() || static_cast<size_t>(in.gcount()) == bytes.size(), what, ": ", path,
                          ": read ", static_cast<long long>(in.gcount()), " of ", bytes.size(), " bytes");
  return bytes;
}

}  // namespace detail
}  // namespace tapegrad::data
