#pragma once
// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {string: string}}`, then the data buffer the offsets point into. The reader validates what the
// reference implementation does, and more: the header inside the file and a JSON object with
// no repeated key, every dtype known, shapes of nonnegative sizes, each tensor's byte span
// equal to its element count times its element size, spans in order, back to back, covering
// the buffer exactly (no gap, no overlap, nothing outside). The JSON goes through nlohmann/json
// (Debian's nlohmann-json3-dev), the only header here with a dependency beyond Eigen.
#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "record.hpp"

namespace tapegrad::io {

using Metadata = std::vector<std::pair<std::string, std::string>>;

namespace detail {

// Json, as a template parameter: the JSON code is only compiled by the programs that read or
// write files, not by every program that includes the umbrella header.
template <class Json, class>
struct DependentJson {
  using type = Json;
};
template <class Json, class T>
using json_for = typename DependentJson<Json, T>::type;

// The JSON header may not be larger than this (the reference implementation's limit).
inline constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// One shape from the header: an array of nonnegative integers.
template <class Json>
TAPEGRAD_COLD Shape parse_safetensors_shape(const Json& j, const std::string& what) {
  check(j.is_array(), what, ": \"shape\" is not an array");
  Shape shape;
  for (const auto& s : j) {  // `if`, not check(): its arguments would dump every size
    if (!(s.is_number_unsigned() || (s.is_number_integer() && s.template get<int64_t>() >= 0))) {
      fail(what, ": \"shape\" holds ", s.dump(), ", not a nonnegative integer");
    }
    if (s.template get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(what, ": size ", s.dump(), " is too large");
    }
    shape.push_back(s.template get<int64_t>());
  }
  return shape;
}

// Whether the JSON text nests deeper than `limit` (strings skipped): checked before parsing, so
// a file of brackets cannot make the parser build a huge document first.
TAPEGRAD_COLD inline bool nests_deeper(const char* text, uint64_t n, int limit) {
  int depth = 0;
  bool in_string = false;
  for (uint64_t i = 0; i < n; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

}  // namespace detail

// The tensors of a safetensors file, in the order of their data; `metadata`, when given,
// receives the "__metadata__" entries. `path` names the file in errors.
template <class Json = nlohmann::json>
TAPEGRAD_COLD TensorRecords read_safetensors(const uint8_t* data, size_t size, const std::string& path,
                                                     Metadata* metadata = nullptr) {
  using detail::check;
  const std::string file = "load: " + path;
  check(size >= 8, file, ": truncated: ", size, " bytes, not even the 8-byte header length");
  const uint64_t header_length = detail::load_le<uint64_t>(data);
  check(header_length <= detail::kMaxSafetensorsHeader, file, ": header length ", header_length,
        " exceeds the limit of ", detail::kMaxSafetensorsHeader, " bytes");
  check(header_length <= size - 8, file, ": truncated: the header needs ", header_length, " bytes, the file has ",
        size - 8, " after the length");
  const char* header = reinterpret_cast<const char*>(data + 8);
  check(header_length > 0 && header[0] == '{', file, ": the header is not a JSON object");

  // safetensors nests three deep ({name: {"shape": [...]}}).
  check(!detail::nests_deeper(header, header_length, 3), file, ": the header nests deeper than safetensors does");
  // Parse without exceptions; the callback catches what nlohmann would accept silently: a key
  // repeated at the top or inside one entry keeps its last value.
  std::set<std::string> keys, entry_keys;
  std::string repeated;
  const auto guard = [&](int depth, typename Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && (depth == 1 || depth == 2)) {
      const std::string key = parsed.template get<std::string>();
      std::set<std::string>& seen = depth == 1 ? keys : entry_keys;
      if (depth == 1) entry_keys.clear();  // a new entry's object follows its key
      if (!seen.insert(key).second && repeated.empty()) repeated = key;
    }
    return true;
  };
  const Json j = Json::parse(header, header + header_length, guard, false);
  check(!j.is_discarded(), file, ": the header is not valid JSON");
  check(repeated.empty(), file, ": the header names \"", repeated, "\" twice");
  check(j.is_object(), file, ": the header is not a JSON object");

  const uint64_t buffer_size = size - 8 - header_length;
  const uint8_t* buffer = data + 8 + header_length;
  struct Span {
    uint64_t begin, end;
    size_t record;
  };
  std::vector<Span> spans;
  TensorRecords records;
  Metadata found_metadata;  // handed over only when the whole file is good
  for (const auto& [name, info] : j.items()) {
    const std::string what = file + ": \"" + name + "\"";
    if (name == "__metadata__") {
      check(info.is_object(), what, " is not an object of strings");
      for (const auto& [key, value] : info.items()) {
        check(value.is_string(), what, ": the value of \"", key, "\" is not a string");
        found_metadata.push_back({key, value.template get<std::string>()});
      }
      continue;
    }
    check(info.is_object(), what, " is not an object");
    check(info.contains("dtype") && info.contains("shape") && info.contains("data_offsets"), what,
          " lacks one of \"dtype\", \"shape\", \"data_offsets\"");
    check(info["dtype"].is_string(), what, ": \"dtype\" is not a string");
    const std::string dtype_text = info["dtype"].template get<std::string>();
    const std::optional<DType> dtype = dtype_from_name(dtype_text);
    check(dtype.has_value(), what, ": unsupported dtype \"", dtype_text,
          "\" (tapegrad reads F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    TensorRecord r;
    r.name = name;
    r.dtype = *dtype;
    r.shape = detail::parse_safetensors_shape(info["shape"], what);
    const Json& offsets = info["data_offsets"];
    check(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
          what, ": \"data_offsets\" is not a pair of nonnegative integers");
    const uint64_t begin = offsets[0].template get<uint64_t>(), end = offsets[1].template get<uint64_t>();
    check(begin <= end, what, ": data_offsets [", begin, ", ", end, "] run backwards");
    check(end <= buffer_size, what, ": data_offsets [", begin, ", ", end, "] lie outside the ", buffer_size,
          "-byte data buffer");
    const int64_t numel = detail::checked_numel(r.shape, what);
    int64_t bytes = 0;
    check(!__builtin_mul_overflow(numel, dtype_size(r.dtype), &bytes) && static_cast<uint64_t>(bytes) == end - begin,
          what, ": shape ", detail::shape_string(r.shape), " of ", dtype_text, " needs ", numel, " x ",
          dtype_size(r.dtype), " bytes, but data_offsets [", begin, ", ", end, "] hold ", end - begin);
    spans.push_back({begin, end, records.size()});
    records.push_back(std::move(r));
  }

  // In buffer order, back to back from 0 to the end of the buffer.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.record < b.record;
  });
  uint64_t expected = 0;
  for (const Span& s : spans) {
    const std::string& name = records[s.record].name;
    check(s.begin >= expected, file, ": \"", name, "\" at data_offsets [", s.begin, ", ", s.end,
          "] overlaps the tensor before it, which ends at ", expected);
    check(s.begin == expected, file, ": a gap of ", s.begin - expected, " bytes before \"", name, "\" at offset ",
          s.begin);
    expected = s.end;
  }
  check(expected == buffer_size, file, ": the tensors cover ", expected, " bytes of the ", buffer_size,
        "-byte data buffer");

  TensorRecords ordered;
  ordered.reserve(records.size());
  for (const Span& s : spans) {
    TensorRecord& r = records[s.record];
    r.bytes.assign(buffer + s.begin, buffer + s.end);
    ordered.push_back(std::move(r));
  }
  if (metadata) *metadata = std::move(found_metadata);
  return ordered;
}

// The bytes of a safetensors file holding `records` in their order (metadata first in the
// header, which is padded with spaces to a multiple of 8 bytes, as the reference writer does).
template <class Json = nlohmann::ordered_json>
TAPEGRAD_COLD std::vector<uint8_t> write_safetensors(const TensorRecords& records, const Metadata& metadata = {}) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const TensorRecord& r : records) {
    detail::check(r.name != "__metadata__", "save: a tensor may not be named \"__metadata__\"");
    detail::check(names.insert(r.name).second, "save: the name \"", r.name, "\" is given twice");
    const uint64_t end = offset + r.bytes.size();
    header[r.name] = {{"dtype", dtype_name(r.dtype)}, {"shape", r.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8 + text.size() + offset);
  const uint64_t length = text.size();
  std::memcpy(out.data(), &length, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* p = out.data() + 8 + text.size();
  for (const TensorRecord& r : records) {
    if (!r.bytes.empty()) std::memcpy(p, r.bytes.data(), r.bytes.size());
    p += r.bytes.size();
  }
  return out;
}

}  // namespace tapegrad::io
