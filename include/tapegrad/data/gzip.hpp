#pragma once
// gzip files inflated in memory with zlib (link zlib: CMake target tapegrad::data, or -lz). The
// umbrella header and idx.hpp include this one when TAPEGRAD_WITH_ZLIB is defined (tapegrad::data
// defines it).
//
// Every length is bounded before memory is spent on it: the output grows geometrically up to
// `max_bytes` (refused beyond), and the trailer's size field, which a corrupt file may fill
// with anything, is only a hint for the first allocation, capped by deflate's largest ratio.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "bytes.hpp"

namespace tapegrad::data {

namespace detail {

// zlib's stream, ended however the inflating ends.
struct Inflater {
  z_stream zs{};
  bool started = false;
  ~Inflater() {
    if (started) inflateEnd(&zs);
  }
};

// The first output allocation: the size the trailer claims (the last 4 bytes, little-endian,
// the size mod 2^32), at most deflate's largest ratio (1032:1) of the input and max_bytes + 1.
inline size_t gunzip_size_hint(const uint8_t* data, size_t size, size_t max_bytes) {
  const size_t claimed = size >= 18 ? (size_t(data[size - 4]) | size_t(data[size - 3]) << 8 |
                                       size_t(data[size - 2]) << 16 | size_t(data[size - 1]) << 24)
                                    : 0;
  const size_t ratio_bound =
      size > (std::numeric_limits<size_t>::max() - 65536) / 1032 ? max_bytes : size * 1032 + 65536;
  return std::min({claimed + 1, ratio_bound, max_bytes + 1});
}

}  // namespace detail

// The bytes a gzip stream (one member or several concatenated, as gzip -d takes them) inflates
// to. Errors start with `what` (e.g. "read_idx: <path>"): not gzip, a corrupt or truncated
// stream (zlib checks each member's CRC-32 and length), bytes after the last member, or more
// than max_bytes of output.
TAPEGRAD_COLD inline std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& what,
                                                 size_t max_bytes = kMaxGunzipBytes) {
  using tapegrad::detail::check;
  using tapegrad::detail::fail;
  check(is_gzip(data, size), what, ": not a gzip stream (it does not start with 1f 8b)");
  max_bytes = std::min(max_bytes, std::numeric_limits<size_t>::max() - 1);
  detail::Inflater inflater;
  z_stream& zs = inflater.zs;
  check(inflateInit2(&zs, 15 + 16) == Z_OK, what, ": zlib cannot start inflating");  // 15 + 16: a gzip wrapper
  inflater.started = true;

  constexpr size_t kChunk = std::numeric_limits<uInt>::max();  // zlib counts in uInt
  std::vector<uint8_t> out(detail::gunzip_size_hint(data, size, max_bytes));
  size_t consumed = 0, produced = 0;
  for (;;) {
    if (produced == out.size()) out.resize(std::min(std::max(out.size() * 2, size_t(1) << 16), max_bytes + 1));
    zs.next_in = const_cast<Bytef*>(data + consumed);
    zs.avail_in = static_cast<uInt>(std::min(size - consumed, kChunk));
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(std::min(out.size() - produced, kChunk));
    const uInt in_before = zs.avail_in, out_before = zs.avail_out;
    const int ret = inflate(&zs, Z_NO_FLUSH);
    consumed += in_before - zs.avail_in;
    produced += out_before - zs.avail_out;
    check(produced <= max_bytes, what, ": the gzip stream inflates to more than ", max_bytes, " bytes");
    if (ret == Z_STREAM_END) {
      if (consumed == size) break;
      // Another member, as `cat a.gz b.gz` makes; anything else after a member is refused.
      check(is_gzip(data + consumed, size - consumed), what, ": ", size - consumed,
            " bytes after the end of the gzip stream");
      check(inflateReset(&zs) == Z_OK, what, ": zlib cannot restart inflating");
      continue;
    }
    if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT) {
      fail(what, ": corrupt gzip stream (", zs.msg ? zs.msg : "invalid deflate data", ")");
    }
    check(ret != Z_MEM_ERROR, what, ": out of memory while inflating");
    check(ret == Z_OK || ret == Z_BUF_ERROR, what, ": zlib error ", ret, " while inflating");
    // inflate stops with room left in the output only when it has used up its input.
    check(!(zs.avail_out > 0 && consumed == size), what, ": truncated gzip stream (the file ends after ", size,
          " bytes, inside the compressed data)");
    check(in_before != zs.avail_in || out_before != zs.avail_out, what, ": the gzip stream makes no progress");
  }
  out.resize(produced);
  return out;
}

// The bytes the gzip file `path` inflates to; errors start "<what>: <path>: ".
TAPEGRAD_COLD inline std::vector<uint8_t> read_gzip(const std::string& path, const char* what = "read_gzip",
                                                    size_t max_bytes = kMaxGunzipBytes) {
  const std::vector<uint8_t> file = detail::read_bytes(path, what);
  return gunzip(file.data(), file.size(), std::string(what) + ": " + path, max_bytes);
}

}  // namespace tapegrad::data
