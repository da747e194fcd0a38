#pragma once
// IDX files (the format of MNIST and its kin, http://yann.lecun.com/exdb/mnist/): a header of
// 0, 0, a type byte and a dimension count, then each dimension as a big-endian uint32, then
// the values, big-endian, row-major. Read raw or gzipped (told apart by gzip's 1f 8b magic);
// gzipped files need zlib (TAPEGRAD_WITH_ZLIB and -lz: CMake target tapegrad::data), raw ones do not.
//
// Every length is checked against the file before it is used: the header's size, the product
// of the dimensions (overflow included) against the bytes that follow, with none left over.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "bytes.hpp"

#if defined(TAPEGRAD_WITH_ZLIB)
#include "gzip.hpp"
#define TAPEGRAD_IDX_GZIP 1
#else
#define TAPEGRAD_IDX_GZIP 0
#endif

namespace tapegrad::data {

// The type byte of an IDX file.
enum class IdxType : uint8_t { UInt8 = 0x08, Int8 = 0x09, Int16 = 0x0B, Int32 = 0x0C, Float32 = 0x0D, Float64 = 0x0E };

// The format's name for a type, as the MNIST page writes it.
inline const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::UInt8: return "unsigned byte";
    case IdxType::Int8: return "signed byte";
    case IdxType::Int16: return "short";
    case IdxType::Int32: return "int";
    case IdxType::Float32: return "float";
    case IdxType::Float64: return "double";
  }
  return "unknown";
}

inline int idx_type_size(IdxType type) {
  switch (type) {
    case IdxType::UInt8:
    case IdxType::Int8: return 1;
    case IdxType::Int16: return 2;
    case IdxType::Int32:
    case IdxType::Float32: return 4;
    case IdxType::Float64: return 8;
  }
  return 0;
}

// An IDX file checked and held as read: the type, the dimensions and the file's bytes (after
// any gunzip), whose values start at `offset`, big-endian.
struct IdxArray {
  IdxType type = IdxType::UInt8;
  Shape shape;
  std::vector<uint8_t> bytes;
  size_t offset = 0;

  const uint8_t* values() const { return bytes.data() + offset; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;  // checked against the file when read
    return n;
  }
};

namespace detail {

inline uint32_t big_endian_u32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}
inline uint64_t big_endian_u64(const uint8_t* p) { return uint64_t(big_endian_u32(p)) << 32 | big_endian_u32(p + 4); }

inline std::string format_shape(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

inline std::string hex_byte(uint8_t b) {
  const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

// Checks the IDX file in `bytes` (already inflated) and takes it over; errors start with `what`.
TAPEGRAD_COLD inline IdxArray parse_idx(std::vector<uint8_t> bytes, const std::string& what) {
  using tapegrad::detail::check;
  using tapegrad::detail::fail;
  const size_t size = bytes.size();
  const uint8_t* b = bytes.data();
  check(size >= 4, what, ": ", size, " bytes, too short for an IDX header (0, 0, type, dimension count)");
  check(b[0] == 0 && b[1] == 0, what, ": not an IDX file (it starts ", hex_byte(b[0]), " ", hex_byte(b[1]),
        ", not 0x00 0x00)");
  const uint8_t code = b[2];
  check(code == 0x08 || code == 0x09 || code == 0x0B || code == 0x0C || code == 0x0D || code == 0x0E, what,
        ": unknown IDX type ", hex_byte(code), " (known: 0x08 0x09 0x0B 0x0C 0x0D 0x0E)");
  const auto type = static_cast<IdxType>(code);
  const int rank = b[3];
  check(rank > 0, what, ": 0 dimensions (an IDX file has at least one)");
  check(rank <= kMaxDims, what, ": ", rank, " dimensions; tensors have at most ", kMaxDims);
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  check(size >= header, what, ": the header of ", rank, " dimensions is ", header, " bytes, the file has ", size);

  IdxArray out;
  out.type = type;
  out.offset = header;
  // The product as Dims counts it, left to right: a 0 after an overflowing prefix does not save
  // it, since no tensor could have that shape.
  bool overflow = false;
  uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const uint32_t d = big_endian_u32(b + 4 + 4 * i);
    out.shape.push_back(d);
    if (d != 0 && count > uint64_t(std::numeric_limits<int64_t>::max()) / d) overflow = true;
    count *= d;
  }
  check(!overflow, what, ": dimensions ", format_shape(out.shape), " hold more values than an int64 can count");
  const size_t element = idx_type_size(type);
  const size_t data = size - header;
  if (count > data / element) {
    const bool bytes_fit = count <= std::numeric_limits<uint64_t>::max() / element;
    fail(what, ": dimensions ", format_shape(out.shape), " of ", idx_type_name(type), " need ",
         bytes_fit ? std::to_string(count * element) : std::string("more than 2^64"), " data bytes, the file has ",
         data, " after its ", header, "-byte header (truncated or corrupt)");
  }
  check(count * element == data, what, ": dimensions ", format_shape(out.shape), " of ", idx_type_name(type), " need ",
        count * element, " data bytes, the file has ", data, " after its ", header, "-byte header (",
        data - count * element, " trailing bytes)");
  out.bytes = std::move(bytes);
  return out;
}

// The values of `a` as T, row-major: one loop per type over raw pointers.
template <class T>
void convert_idx(const IdxArray& a, T* out) {
  const uint8_t* p = a.values();
  const int64_t n = a.numel();
  switch (a.type) {
    case IdxType::UInt8:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(p[i]);
      break;
    case IdxType::Int8:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(static_cast<int8_t>(p[i]));
      break;
    case IdxType::Int16:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(static_cast<int16_t>(p[2 * i] << 8 | p[2 * i + 1]));
      break;
    case IdxType::Int32:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(static_cast<int32_t>(big_endian_u32(p + 4 * i)));
      break;
    case IdxType::Float32:
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t bits = big_endian_u32(p + 4 * i);
        float v;
        std::memcpy(&v, &bits, 4);
        out[i] = static_cast<T>(v);
      }
      break;
    case IdxType::Float64:
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t bits = big_endian_u64(p + 8 * i);
        double v;
        std::memcpy(&v, &bits, 8);
        out[i] = static_cast<T>(v);
      }
      break;
  }
}

}  // namespace detail

// An IDX file in memory, raw or gzipped (`path` only names it in errors: "read_idx: <path>: ...").
TAPEGRAD_COLD inline IdxArray parse_idx_file(std::vector<uint8_t> file, const std::string& path,
                                             size_t max_bytes = kMaxGunzipBytes) {
  const std::string what = "read_idx: " + path;
  if (is_gzip(file.data(), file.size())) {
#if TAPEGRAD_IDX_GZIP
    return detail::parse_idx(gunzip(file.data(), file.size(), what, max_bytes), what);
#else
    (void)max_bytes;
    tapegrad::detail::fail(what, ": gzip-compressed, and this program was built without zlib (link tapegrad::data, ",
                           "or define TAPEGRAD_WITH_ZLIB and link -lz): gunzip the file first");
#endif
  }
  return detail::parse_idx(std::move(file), what);
}

// The IDX file at `path` (raw or gzipped), checked, its values as read.
TAPEGRAD_COLD inline IdxArray read_idx_array(const std::string& path) {
  return parse_idx_file(detail::read_bytes(path, "read_idx"), path);
}

// The values of an IDX array as a tensor of its shape, converted to T (as torch's .to(dtype)).
template <class T = float>
Tensor<T> to_tensor(const IdxArray& a) {
  Tensor<T> out = tapegrad::detail::make_tensor<T>(Dims(a.shape, "read_idx"));
  detail::convert_idx(a, out.data());
  return out;
}

// The IDX file at `path`, raw or gzipped, as a tensor of the file's shape and type T: what
// torchvision's read_sn3_pascalvincent_tensor(path).to(dtype) gives.
template <class T = float>
Tensor<T> read_idx(const std::string& path) {
  return to_tensor<T>(read_idx_array(path));
}

}  // namespace tapegrad::data
