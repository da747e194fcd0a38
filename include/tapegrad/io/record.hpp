#pragma once
// What the tensor file formats share (safetensors, torch.save): the element types a file may
// hold, one tensor as a reader hands it over (name, dtype, shape and packed little-endian
// bytes), its conversion into a Tensor<T>, and reading a whole file with errors that name it.
// A reader checks everything about the file; what is here checks only the record itself.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

#include "../core/tensor.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tapegrad/io reads and writes little-endian files by copying bytes: a big-endian host is not supported"
#endif

namespace tapegrad::io {

// The element types, with safetensors' names.
enum class DType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

inline const char* dtype_name(DType d) {
  static const char* const names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
  return names[static_cast<int>(d)];
}
inline int64_t dtype_size(DType d) {
  static const int64_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
  return sizes[static_cast<int>(d)];
}
inline std::optional<DType> dtype_from_name(std::string_view name) {
  for (int d = 0; d <= static_cast<int>(DType::BOOL); ++d) {
    if (name == dtype_name(static_cast<DType>(d))) return static_cast<DType>(d);
  }
  return std::nullopt;
}
template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "dtype_of: float or double");
  return std::is_same_v<T, double> ? DType::F64 : DType::F32;
}

// One tensor as a reader hands it over: `bytes` holds numel(shape) * dtype_size(dtype) bytes,
// row-major and contiguous, little-endian.
struct TensorRecord {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::vector<uint8_t> bytes;
};
using TensorRecords = std::vector<TensorRecord>;

namespace detail {
using tapegrad::detail::check;
using tapegrad::detail::fail;

// IEEE half and bfloat16 to float, exactly (every half and bfloat16 is a float).
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, NaN (payload kept)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // +-0
  } else {  // subnormal: normalise
    exponent = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline float bfloat16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <class S>
S load_le(const uint8_t* p) {
  S s;
  std::memcpy(&s, p, sizeof(S));
  return s;
}

// "[2, 3]": a shape as messages print it (any rank, unlike Dims).
TAPEGRAD_COLD inline std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// numel(shape) as a reader must check it against a byte count: nonnegative sizes, no overflow.
TAPEGRAD_COLD inline int64_t checked_numel(const Shape& shape, const std::string& what) {
  // `if` rather than check(): check's arguments would build the shape's text on every pass.
  int64_t n = 1;
  for (int64_t s : shape) {
    if (s < 0) fail(what, ": negative size in shape ", shape_string(shape));
    if (__builtin_mul_overflow(n, s, &n)) fail(what, ": shape ", shape_string(shape), " has too many elements");
  }
  return n;
}

}  // namespace detail

// The record's values as a Tensor<T> (floating types rounded to T, integers and bools
// converted), in the record's shape. `what` names the file and key in errors.
template <class T>
TAPEGRAD_COLD Tensor<T> to_tensor(const TensorRecord& r, const std::string& what) {
  const int64_t n = detail::checked_numel(r.shape, what);
  detail::check(r.shape.size() <= static_cast<size_t>(kMaxDims), what, ": ", r.shape.size(),
                " dimensions; tapegrad's tensors have at most ", kMaxDims);
  detail::check(static_cast<int64_t>(r.bytes.size()) == n * dtype_size(r.dtype), what, ": ", r.bytes.size(),
                " bytes for shape ", detail::shape_string(r.shape), " of ", dtype_name(r.dtype), " (", n * dtype_size(r.dtype), " expected)");
  Tensor<T> t = tapegrad::detail::make_tensor<T>(Dims(r.shape, "load"));
  T* d = t.data();
  const uint8_t* p = r.bytes.data();
  const int64_t size = dtype_size(r.dtype);
  for (int64_t i = 0; i < n; ++i, p += size) {
    switch (r.dtype) {
      case DType::F64: d[i] = static_cast<T>(detail::load_le<double>(p)); break;
      case DType::F32: d[i] = static_cast<T>(detail::load_le<float>(p)); break;
      case DType::F16: d[i] = static_cast<T>(detail::half_to_float(detail::load_le<uint16_t>(p))); break;
      case DType::BF16: d[i] = static_cast<T>(detail::bfloat16_to_float(detail::load_le<uint16_t>(p))); break;
      case DType::I64: d[i] = static_cast<T>(detail::load_le<int64_t>(p)); break;
      case DType::I32: d[i] = static_cast<T>(detail::load_le<int32_t>(p)); break;
      case DType::I16: d[i] = static_cast<T>(detail::load_le<int16_t>(p)); break;
      case DType::I8: d[i] = static_cast<T>(detail::load_le<int8_t>(p)); break;
      case DType::U8: d[i] = static_cast<T>(*p); break;
      case DType::BOOL: d[i] = static_cast<T>(*p != 0); break;
    }
  }
  return t;
}

// A tensor's values as a record of `dtype` (F64, F32 or I64; I64 rounds to the nearest integer).
template <class T>
TAPEGRAD_COLD TensorRecord to_record(std::string name, const Tensor<T>& t, DType dtype = dtype_of<T>()) {
  detail::check(dtype == DType::F64 || dtype == DType::F32 || dtype == DType::I64, "save: ", name, ": cannot write ",
                dtype_name(dtype));
  TensorRecord r;
  r.name = std::move(name);
  r.dtype = dtype;
  r.shape = t.shape();
  const int64_t n = t.numel();
  r.bytes.resize(static_cast<size_t>(n * dtype_size(dtype)));
  const T* s = t.data();
  uint8_t* p = r.bytes.data();
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == DType::F64) {
      const double v = static_cast<double>(s[i]);
      std::memcpy(p + 8 * i, &v, 8);
    } else if (dtype == DType::F32) {
      const float v = static_cast<float>(s[i]);
      std::memcpy(p + 4 * i, &v, 4);
    } else {
      const int64_t v = static_cast<int64_t>(std::llround(static_cast<double>(s[i])));
      std::memcpy(p + 8 * i, &v, 8);
    }
  }
  return r;
}

// The whole file at `path`; a path that is missing, not a regular file or unreadable throws.
TAPEGRAD_COLD inline std::vector<uint8_t> read_file(const std::string& path) {
  struct stat st {};
  detail::check(::stat(path.c_str(), &st) == 0, "load: ", path, ": no such file");
  detail::check(S_ISREG(st.st_mode), "load: ", path, ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  detail::check(static_cast<bool>(in), "load: ", path, ": cannot be opened for reading");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  if (!bytes.empty()) in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  detail::check(static_cast<size_t>(in.gcount()) == bytes.size() || bytes.empty(), "load: ", path,
                ": read ", in.gcount(), " of ", bytes.size(), " bytes");
  return bytes;
}

// Writes `bytes` to `path` through a temporary file renamed over it, so a failed write leaves
// any earlier file whole.
TAPEGRAD_COLD inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string tmp = path + ".tmp-tapegrad";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    detail::check(static_cast<bool>(out), "save: ", path, ": cannot be opened for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      detail::fail("save: ", path, ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    detail::fail("save: ", path, ": cannot replace the file");
  }
}

}  // namespace tapegrad::io
