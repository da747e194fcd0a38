#pragma once
// What torch.save(model.state_dict(), path) writes (torch >= 1.6): a zip archive of stored
// (uncompressed) entries, <prefix>/data.pkl (a pickle of the state dict, whose tensors name
// their storages through persistent ids), <prefix>/data/<key> (each storage's raw
// little-endian bytes), <prefix>/version and, in newer torch, <prefix>/byteorder and
// <prefix>/.data/serialization_id. docs/FORMATS.md describes the subset read.
//
// The file is untrusted input. The zip reader checks every offset and size against the file,
// the local headers against the central directory and the CRC-32 of every entry it uses; the
// unpickler knows only the opcodes a state dict needs and calls nothing but a fixed list of
// globals, each done here by hand (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, the
// storage classes), so a file cannot run code, recurse, or allocate more than a small multiple
// of its own size. Anything else throws tapegrad::Error "load: <path>: <what is wrong>".
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "record.hpp"

namespace tapegrad::io {

namespace detail {

// ---- messages -------------------------------------------------------------------------------

// A string from the file as a message shows it: quoted, any byte outside printable ASCII as
// \xNN, cut after 64 bytes (a name in a hostile file may be any bytes, of any length).
TAPEGRAD_COLD inline std::string quoted(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 64) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "'";
}

// Throws "load: <path>: <parts>".
struct LoadErrors {
  const std::string& path;
  template <class... Parts>
  [[noreturn]] TAPEGRAD_COLD void fail(const Parts&... parts) const {
    detail::fail("load: ", path, ": ", parts...);
  }
  template <class... Parts>
  void check(bool ok, const Parts&... parts) const {
    if (!ok) fail(parts...);
  }
};

// ---- CRC-32 ---------------------------------------------------------------------------------

// Zip's CRC-32 (reflected polynomial 0xEDB88320), eight bytes a step: it runs over every byte
// of a checkpoint, so it is the one loop here written for speed (about 1.5 GB/s).
struct Crc32Tables {
  uint32_t table[8][256];
};
TAPEGRAD_COLD inline Crc32Tables make_crc32_tables() {
  Crc32Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t r = i;
    for (int k = 0; k < 8; ++k) r = (r >> 1) ^ (0xEDB88320u & (0u - (r & 1u)));
    t.table[0][i] = r;
  }
  for (int s = 1; s < 8; ++s) {
    for (uint32_t i = 0; i < 256; ++i) t.table[s][i] = (t.table[s - 1][i] >> 8) ^ t.table[0][t.table[s - 1][i] & 0xffu];
  }
  return t;
}
inline uint32_t crc32(const uint8_t* data, size_t size) {
  static const Crc32Tables tables = make_crc32_tables();
  const auto& t = tables.table;
  uint32_t c = 0xFFFFFFFFu;
  for (; size >= 8; data += 8, size -= 8) {
    const uint32_t lo = load_le<uint32_t>(data) ^ c, hi = load_le<uint32_t>(data + 4);
    c = t[7][lo & 0xffu] ^ t[6][(lo >> 8) & 0xffu] ^ t[5][(lo >> 16) & 0xffu] ^ t[4][lo >> 24] ^ t[3][hi & 0xffu] ^
        t[2][(hi >> 8) & 0xffu] ^ t[1][(hi >> 16) & 0xffu] ^ t[0][hi >> 24];
  }
  for (; size > 0; ++data, --size) c = t[0][(c ^ *data) & 0xffu] ^ (c >> 8);
  return ~c;
}

// ---- the zip archive ------------------------------------------------------------------------

// A run of the file's bytes.
struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::string_view text() const { return {reinterpret_cast<const char*>(data), size}; }
};

// One entry as the central directory and its local header agree it is.
struct ZipEntry {
  std::string name;
  uint64_t header_offset = 0;  // its local header
  uint64_t data_offset = 0;    // its first byte
  uint64_t size = 0;           // its bytes' count
  uint64_t stored_size = 0;    // the bytes it takes in the file (its size, unless compressed)
  uint32_t crc = 0;
  uint16_t method = 0;  // 0: stored
  bool encrypted = false;
};

// A zip archive of stored entries, all of it checked when it is opened: the end records, the
// central directory, every local header (name, method, sizes, CRC agree with the central
// directory), every entry inside the file and before the central directory, no two
// overlapping, no name twice. An entry's bytes are refused if it is compressed or encrypted
// and their CRC-32 is checked, when they are first asked for: an archive may list entries
// its reader never reads (so a reader can tell what kind of archive it is, by their names).
class StoredZip {
 public:
  TAPEGRAD_COLD StoredZip(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), errors_{path} {
    read_end_records();
    read_central_directory();
    check_layout();
  }

  const std::vector<ZipEntry>& entries() const { return entries_; }
  TAPEGRAD_COLD const ZipEntry* find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }
  // The entry's bytes, its CRC-32 checked the first time.
  TAPEGRAD_COLD ByteSpan bytes(const ZipEntry& e) const {
    errors_.check(!e.encrypted, "zip entry ", detail::quoted(e.name),
                  " is encrypted: tapegrad reads the plain stored entries torch.save writes");
    errors_.check(e.method == 0, "zip entry ", detail::quoted(e.name), " is compressed (method ", e.method,
                  e.method == 8 ? ", deflate" : "", "): tapegrad reads the stored entries torch.save writes");
    const ByteSpan span{data_ + e.data_offset, static_cast<size_t>(e.size)};
    const size_t i = static_cast<size_t>(&e - entries_.data());
    if (!crc_checked_[i]) {
      const uint32_t crc = crc32(span.data, span.size);
      errors_.check(crc == e.crc, "zip entry ", detail::quoted(e.name), " is corrupt: its CRC-32 is ", hex(crc),
                    ", the central directory says ", hex(e.crc));
      crc_checked_[i] = true;
    }
    return span;
  }

 private:
  static constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEnd = 0x06054b50,
                            kZip64End = 0x06064b50, kZip64Locator = 0x07064b50, kDataDescriptor = 0x08074b50;
  static constexpr uint64_t kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20, kCentralSize = 46,
                            kLocalSize = 30;

  TAPEGRAD_COLD static std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
  }
  // [offset, offset + length) lies inside [0, end).
  static bool fits(uint64_t offset, uint64_t length, uint64_t end) { return offset <= end && length <= end - offset; }
  uint16_t u16(uint64_t at) const { return load_le<uint16_t>(data_ + at); }
  uint32_t u32(uint64_t at) const { return load_le<uint32_t>(data_ + at); }
  uint64_t u64(uint64_t at) const { return load_le<uint64_t>(data_ + at); }

  // The end of central directory record (searched back from the end: a comment of up to
  // 65535 bytes may follow it, and must reach exactly to the end of the file), and the zip64
  // end record it points to, which torch writes for every file.
  TAPEGRAD_COLD void read_end_records() {
    errors_.check(size_ >= kEndSize, "truncated: ", size_,
                  " bytes, shorter than the 22-byte end record of a zip archive");
    const uint64_t lowest = size_ - kEndSize > 65535 ? size_ - kEndSize - 65535 : 0;
    uint64_t end = size_;  // not found
    for (uint64_t at = size_ - kEndSize + 1; at-- > lowest;) {
      if (u32(at) == kEnd && at + kEndSize + u16(at + 20) == size_) {
        end = at;
        break;
      }
    }
    errors_.check(end != size_, "truncated or not a zip archive: no end of central directory record in its last ",
                  size_ - lowest, " bytes");
    const uint16_t disk = u16(end + 4), cd_disk = u16(end + 6);
    uint64_t on_disk = u16(end + 8), count = u16(end + 10), cd_size = u32(end + 12), cd_offset = u32(end + 16);
    uint64_t cd_end_limit = end;  // the central directory ends where the end records start
    // A field too small for its value holds all ones, the value is in the zip64 end record.
    const bool saturated = disk == 0xFFFF || cd_disk == 0xFFFF || on_disk == 0xFFFF || count == 0xFFFF ||
                           cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF;
    errors_.check((disk == 0 || disk == 0xFFFF) && (cd_disk == 0 || cd_disk == 0xFFFF),
                  "a zip archive split over several disks is not supported");
    if (end >= kZip64LocatorSize && u32(end - kZip64LocatorSize) == kZip64Locator) {
      const uint64_t locator = end - kZip64LocatorSize;
      errors_.check(u32(locator + 4) == 0 && u32(locator + 16) <= 1,
                    "a zip archive split over several disks is not supported");
      const uint64_t at = u64(locator + 8);
      errors_.check(fits(at, kZip64EndSize, locator) && u32(at) == kZip64End,
                    "corrupt: the zip64 end record locator points to offset ", at,
                    ", where there is no zip64 end record");
      const uint64_t record_size = u64(at + 4);
      errors_.check(
          record_size >= kZip64EndSize - 12 && record_size - (kZip64EndSize - 12) <= locator - at - kZip64EndSize,
          "corrupt: the zip64 end record at offset ", at, " says it has ", record_size,
          " bytes, which do not fit before its locator");
      errors_.check(u32(at + 16) == 0 && u32(at + 20) == 0, "a zip archive split over several disks is not supported");
      const uint64_t z_on_disk = u64(at + 24), z_count = u64(at + 32), z_cd_size = u64(at + 40),
                     z_cd_offset = u64(at + 48);
      // Where the plain record holds a value, it must be the zip64 one.
      errors_.check((on_disk == 0xFFFF || on_disk == z_on_disk) && (count == 0xFFFF || count == z_count) &&
                        (cd_size == 0xFFFFFFFF || cd_size == z_cd_size) &&
                        (cd_offset == 0xFFFFFFFF || cd_offset == z_cd_offset),
                    "corrupt: the end of central directory record (", count, " entries, ", cd_size, " bytes at offset ",
                    cd_offset, ") and the zip64 end record (", z_count, " entries, ", z_cd_size, " bytes at offset ",
                    z_cd_offset, ") disagree");
      on_disk = z_on_disk, count = z_count, cd_size = z_cd_size, cd_offset = z_cd_offset;
      cd_end_limit = at;
    } else {
      errors_.check(
          !saturated,
          "corrupt: the end of central directory record points to zip64 fields, but there is no zip64 end record");
    }
    errors_.check(on_disk == count, "a zip archive split over several disks is not supported");
    errors_.check(fits(cd_offset, cd_size, cd_end_limit) && cd_offset + cd_size == cd_end_limit,
                  "corrupt: the central directory (", cd_size, " bytes at offset ", cd_offset,
                  ") does not end where the end records start (offset ", cd_end_limit, ")");
    errors_.check(count <= cd_size / kCentralSize, "corrupt: ", count, " entries do not fit in a central directory of ",
                  cd_size, " bytes");
    cd_offset_ = cd_offset;
    cd_end_ = cd_offset + cd_size;
    count_ = count;
  }

  // Replaces the sizes and offset saturated at 0xFFFFFFFF (and a disk number at 0xFFFF) by
  // the zip64 extra field's values, in the order the format lists them. Returns whether there
  // was a zip64 field.
  TAPEGRAD_COLD bool read_zip64_extra(uint64_t at, uint64_t length, const std::string& name, uint64_t& usize,
                                      uint64_t& csize, uint64_t* offset, uint64_t* disk) const {
    const uint64_t end = at + length;
    bool found = false;
    while (at < end) {
      errors_.check(end - at >= 4, "zip entry ", detail::quoted(name), ": its extra field ends inside a field header");
      const uint16_t id = u16(at), field_size = u16(at + 2);
      at += 4;
      errors_.check(field_size <= end - at, "zip entry ", detail::quoted(name), ": an extra field of ", field_size,
                    " bytes runs past the end of the extra fields");
      if (id == 1 && !found) {
        found = true;
        uint64_t p = at;
        const auto take = [&](uint64_t& v, uint64_t saturated, uint64_t width) {
          if (v != saturated) return;
          errors_.check(at + field_size - p >= width, "zip entry ", detail::quoted(name),
                        ": its zip64 extra field is too short");
          v = width == 8 ? u64(p) : u32(p);
          p += width;
        };
        take(usize, 0xFFFFFFFF, 8);
        take(csize, 0xFFFFFFFF, 8);
        if (offset) take(*offset, 0xFFFFFFFF, 8);
        if (disk) take(*disk, 0xFFFF, 4);
      }
      at += field_size;
    }
    return found;
  }

  TAPEGRAD_COLD void read_central_directory() {
    entries_.reserve(static_cast<size_t>(count_));
    uint64_t at = cd_offset_;
    for (uint64_t i = 0; i < count_; ++i) {
      errors_.check(fits(at, kCentralSize, cd_end_) && u32(at) == kCentralHeader, "corrupt: central directory entry ",
                    i, " of ", count_, " (offset ", at, ") is not a central directory header");
      const uint16_t flags = u16(at + 8), method = u16(at + 10);
      const uint64_t name_length = u16(at + 28), extra_length = u16(at + 30), comment_length = u16(at + 32);
      errors_.check(fits(at + kCentralSize, name_length + extra_length + comment_length, cd_end_),
                    "corrupt: central directory entry ", i, " (offset ", at, ") runs past the central directory's end");
      ZipEntry e;
      e.name.assign(reinterpret_cast<const char*>(data_ + at + kCentralSize), static_cast<size_t>(name_length));
      e.crc = u32(at + 16);
      uint64_t csize = u32(at + 20), usize = u32(at + 24), disk = u16(at + 34);
      e.header_offset = u32(at + 42);
      const bool zip64 = read_zip64_extra(at + kCentralSize + name_length, extra_length, e.name, usize, csize,
                                          &e.header_offset, &disk);
      errors_.check(csize != 0xFFFFFFFF && usize != 0xFFFFFFFF && e.header_offset != 0xFFFFFFFF && disk != 0xFFFF,
                    "zip entry ", detail::quoted(e.name),
                    ": its central directory header points to a zip64 extra field it lacks");
      errors_.check(disk == 0, "a zip archive split over several disks is not supported");
      errors_.check(!e.name.empty(), "corrupt: central directory entry ", i, " has an empty name");
      e.method = method;
      e.encrypted = (flags & 0x41) != 0;  // traditional or strong encryption
      errors_.check(method != 0 || csize == usize, "corrupt: zip entry ", detail::quoted(e.name),
                    " is stored but its compressed size ", csize, " is not its size ", usize);
      e.size = usize;
      e.stored_size = csize;
      errors_.check(index_.emplace(e.name, entries_.size()).second, "corrupt: zip entry ", detail::quoted(e.name),
                    " appears twice in the central directory");
      read_local_header(e, flags, zip64);
      entries_.push_back(std::move(e));
      at += kCentralSize + name_length + extra_length + comment_length;
    }
    errors_.check(at == cd_end_, "corrupt: the central directory has ", cd_end_ - at, " bytes after its ", count_,
                  " entries");
    crc_checked_.assign(entries_.size(), false);
  }

  // The entry's local header (which must agree with the central directory) and the data and
  // data descriptor after it, all before the central directory.
  TAPEGRAD_COLD void read_local_header(ZipEntry& e, uint16_t flags, bool central_zip64) {
    const uint64_t at = e.header_offset;
    errors_.check(fits(at, kLocalSize, cd_offset_), "corrupt: zip entry ", detail::quoted(e.name),
                  ": its local header (offset ", at, ") lies outside the entries' part of the file (", cd_offset_,
                  " bytes)");
    errors_.check(u32(at) == kLocalHeader, "corrupt: zip entry ", detail::quoted(e.name), " has no local header at offset ",
                  at);
    const uint16_t local_flags = u16(at + 6), local_method = u16(at + 8);
    const uint32_t local_crc = u32(at + 14);
    uint64_t local_csize = u32(at + 18), local_usize = u32(at + 22);
    const uint64_t name_length = u16(at + 26), extra_length = u16(at + 28);
    errors_.check(fits(at + kLocalSize, name_length + extra_length, cd_offset_), "corrupt: zip entry ", detail::quoted(e.name),
                  ": its local header (offset ", at, ") runs into the central directory");
    const std::string_view local_name(reinterpret_cast<const char*>(data_ + at + kLocalSize),
                                      static_cast<size_t>(name_length));
    errors_.check(local_name == e.name, "corrupt: the local header at offset ", at, " names ", detail::quoted(local_name),
                  ", the central directory ", detail::quoted(e.name));
    errors_.check(local_method == e.method && ((local_flags & 0x41) != 0) == e.encrypted, "corrupt: zip entry ",
                  detail::quoted(e.name), ": its local header (method ", local_method, ", flags ", local_flags,
                  ") disagrees with the central directory (method ", e.method, ", flags ", flags, ")");
    const bool local_zip64 = read_zip64_extra(at + kLocalSize + name_length, extra_length, e.name, local_usize,
                                              local_csize, nullptr, nullptr);
    // With bit 3 the sizes and CRC follow the data (in a data descriptor) and the local
    // header may hold zeros, as torch's writer leaves them.
    const bool descriptor = (flags & 0x08) != 0;
    const auto agrees = [&](uint64_t local, uint64_t central) {
      return local == central || (descriptor && local == 0);
    };
    errors_.check(agrees(local_csize, e.stored_size) && agrees(local_usize, e.size) && agrees(local_crc, e.crc),
                  "corrupt: zip entry ", detail::quoted(e.name), ": its local header (size ", local_usize, ", CRC ",
                  hex(local_crc), ") disagrees with the central directory (size ", e.size, ", CRC ", hex(e.crc), ")");
    e.data_offset = at + kLocalSize + name_length + extra_length;
    if (!fits(e.data_offset, e.stored_size, size_)) {
      errors_.fail("truncated: zip entry ", detail::quoted(e.name), " needs ", e.stored_size, " bytes at offset ",
                   e.data_offset, ", the file has ", size_);
    }
    errors_.check(fits(e.data_offset, e.stored_size, cd_offset_), "corrupt: zip entry ", detail::quoted(e.name), " (",
                  e.stored_size, " bytes at offset ", e.data_offset, ") runs into the central directory at offset ",
                  cd_offset_);
    uint64_t end = e.data_offset + e.stored_size;
    if (descriptor) {  // [signature] crc, compressed size, size: 4-byte sizes, or 8-byte with zip64
      if (fits(end, 4, cd_offset_) && u32(end) == kDataDescriptor) end += 4;
      const bool narrow =
          fits(end, 12, cd_offset_) && u32(end) == e.crc && u32(end + 4) == e.stored_size && u32(end + 8) == e.size;
      const bool wide = (local_zip64 || central_zip64 || !narrow) && fits(end, 20, cd_offset_) && u32(end) == e.crc &&
                        u64(end + 4) == e.stored_size && u64(end + 12) == e.size;
      errors_.check(narrow || wide, "corrupt: zip entry ", detail::quoted(e.name), ": its data descriptor (offset ", end,
                    ") is missing or disagrees with the central directory");
      end += wide ? 20 : 12;
    }
    spans_.push_back({at, end, entries_.size()});
  }

  // No two entries overlap (every one is already inside the file, before the central directory).
  TAPEGRAD_COLD void check_layout() {
    std::sort(spans_.begin(), spans_.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < spans_.size(); ++i) {
      const Span &a = spans_[i - 1], &b = spans_[i];
      errors_.check(a.end <= b.begin, "corrupt: zip entries ", detail::quoted(entries_[a.entry].name), " (offsets ", a.begin,
                    " to ", a.end, ") and ", detail::quoted(entries_[b.entry].name), " (from offset ", b.begin, ") overlap");
    }
  }

  struct Span {
    uint64_t begin, end;
    size_t entry;
  };
  const uint8_t* data_;
  uint64_t size_;
  LoadErrors errors_;
  uint64_t cd_offset_ = 0, cd_end_ = 0, count_ = 0;
  std::vector<ZipEntry> entries_;
  std::map<std::string, size_t> index_;
  std::vector<Span> spans_;
  mutable std::vector<bool> crc_checked_;
};

// ---- the unpickler --------------------------------------------------------------------------

// Python's pickle opcodes by byte, to name one in a message ("" for a byte that is none).
TAPEGRAD_COLD inline const char* pickle_opcode_name(uint8_t op) {
  // clang-format off
  static const std::pair<uint8_t, const char*> names[] = {
      {'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'2', "DUP"}, {'F', "FLOAT"}, {'I', "INT"}, {'J', "BININT"},
      {'K', "BININT1"}, {'L', "LONG"}, {'M', "BININT2"}, {'N', "NONE"}, {'P', "PERSID"}, {'Q', "BINPERSID"},
      {'R', "REDUCE"}, {'S', "STRING"}, {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"},
      {'X', "BINUNICODE"}, {'a', "APPEND"}, {'b', "BUILD"}, {'c', "GLOBAL"}, {'d', "DICT"}, {'}', "EMPTY_DICT"},
      {'e', "APPENDS"}, {'g', "GET"}, {'h', "BINGET"}, {'i', "INST"}, {'j', "LONG_BINGET"}, {'l', "LIST"},
      {']', "EMPTY_LIST"}, {'o', "OBJ"}, {'p', "PUT"}, {'q', "BINPUT"}, {'r', "LONG_BINPUT"}, {'s', "SETITEM"},
      {'t', "TUPLE"}, {')', "EMPTY_TUPLE"}, {'u', "SETITEMS"}, {'G', "BINFLOAT"}, {'1', "POP_MARK"}, {0x80, "PROTO"},
      {0x81, "NEWOBJ"}, {0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"},
      {0x87, "TUPLE3"}, {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {0x8a, "LONG1"}, {0x8b, "LONG4"}, {'B', "BINBYTES"},
      {'C', "SHORT_BINBYTES"}, {0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"}, {0x8e, "BINBYTES8"},
      {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x92, "NEWOBJ_EX"}, {0x93, "STACK_GLOBAL"},
      {0x94, "MEMOIZE"}, {0x95, "FRAME"}, {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
  };
  // clang-format on
  for (const auto& [code, name] : names) {
    if (code == op) return name;
  }
  return "";
}
// "'c'" for a printable opcode, "0x93" for another.
TAPEGRAD_COLD inline std::string pickle_opcode_string(uint8_t op) {
  char buf[8];
  if (op >= 0x21 && op < 0x7f) {
    std::snprintf(buf, sizeof buf, "'%c'", op);
  } else {
    std::snprintf(buf, sizeof buf, "0x%02x", op);
  }
  return buf;
}

// Whether s is UTF-8 as Python's pickle decodes it ("utf-8", "surrogatepass": encoded
// surrogates allowed, overlong forms and code points past U+10FFFF not).
TAPEGRAD_COLD inline bool is_pickle_utf8(const uint8_t* s, size_t n) {
  for (size_t i = 0; i < n;) {
    const uint8_t c = s[i];
    size_t length;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2, cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, cp = c & 0x07u;
    } else {
      return false;
    }
    if (n - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < smallest[length] || cp > 0x10FFFF) return false;
    i += length;
  }
  return true;
}

// Runs a state dict's pickle (protocol 2 as torch.save writes it, and protocol 4's framing,
// short strings and memo) over a stack of values that live in arenas of this object: a
// memo hit copies a reference, never a value, so no pickle can grow faster than its length;
// cycles (a list appended to itself) are harmless, and nothing here recurses. The stack,
// marks and memo grow by at most one entry per opcode, so they are bounded by the pickle's size.
class StateDictUnpickler {
 public:
  TAPEGRAD_COLD StateDictUnpickler(const StoredZip& zip, const std::string& prefix, uint64_t file_size,
                                   const std::string& path)
      : zip_(zip), prefix_(prefix), file_size_(file_size), errors_{path} {}

  TAPEGRAD_COLD TensorRecords read() {
    const std::string pickle_name = prefix_ + "/data.pkl";
    const ZipEntry* entry = zip_.find(pickle_name);
    errors_.check(entry != nullptr, "no entry ", detail::quoted(pickle_name), " in the archive: not a torch.save file");
    const ByteSpan pickle = zip_.bytes(*entry);
    data_ = pickle.data;
    size_ = pickle.size;
    return state_dict(run());
  }

 private:
  enum class Kind : uint8_t { None, Bool, Int, Float, String, Tuple, List, Dict, Callable, Storage, Tensor };
  // The globals a state dict calls, each done here by hand.
  enum class Callable : uint8_t { OrderedDict, RebuildTensorV2, RebuildParameter, StorageClass };
  // A value: numbers inline; a string, tuple, list, dict, storage or tensor by its index in
  // the arena of its kind (so copies are cheap and share, as Python's references do).
  struct Value {
    Kind kind = Kind::None;
    uint8_t detail = 0;  // a Callable's kind
    int64_t number = 0;  // Bool, Int; a storage class's DType
    double real = 0;     // Float
    size_t index = 0;    // String, Tuple, List, Dict, Storage, Tensor
  };
  struct Storage {
    std::string key;
    DType dtype;
    int64_t numel;
    ByteSpan bytes;
  };
  struct TensorView {
    size_t storage;
    int64_t offset;
    Shape size, stride;
    int64_t numel;
  };

  TAPEGRAD_COLD static const char* kind_name(Kind k) {
    static const char* const names[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                        "list", "dict", "global", "storage", "tensor"};
    return names[static_cast<int>(k)];
  }
  TAPEGRAD_COLD static const char* article(Kind k) { return k == Kind::Int ? "an" : "a"; }
  TAPEGRAD_COLD static const char* storage_class_name(DType d) {
    static const char* const names[] = {"DoubleStorage", "FloatStorage", "HalfStorage",  "BFloat16Storage",
                                        "LongStorage",   "IntStorage",   "ShortStorage", "CharStorage",
                                        "ByteStorage",   "BoolStorage"};
    return names[static_cast<int>(d)];
  }

  // "pickle 'archive/data.pkl' at offset 12: <parts>"
  template <class... Parts>
  [[noreturn]] TAPEGRAD_COLD void fail(const Parts&... parts) const {
    errors_.fail("pickle ", detail::quoted(prefix_ + "/data.pkl"), " at offset ", op_offset_, ": ", parts...);
  }
  template <class... Parts>
  void check(bool ok, const Parts&... parts) const {
    if (!ok) fail(parts...);
  }

  // ---- reading the opcode stream
  TAPEGRAD_COLD const uint8_t* take(uint64_t n, const char* what) {
    check(n <= size_ - pos_, "truncated: ", what, " needs ", n, " bytes, the pickle has ", size_ - pos_, " left");
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  uint8_t take_u8(const char* what) { return *take(1, what); }
  template <class S>
  S take_le(const char* what) {
    return load_le<S>(take(sizeof(S), what));
  }

  // ---- the stack
  Value& top() {
    check(stack_.size() > base(), "the stack is empty (below the last MARK) for opcode ", pickle_opcode_string(op_));
    return stack_.back();
  }
  Value pop() {
    const Value v = top();
    stack_.pop_back();
    return v;
  }
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  // The values pushed since the last MARK, which goes.
  TAPEGRAD_COLD std::vector<Value> pop_mark() {
    check(!marks_.empty(), "opcode ", pickle_opcode_string(op_), " (", pickle_opcode_name(op_), ") without a MARK");
    std::vector<Value> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }

  TAPEGRAD_COLD Value make(Kind kind, size_t index) {
    Value v;
    v.kind = kind;
    v.index = index;
    return v;
  }
  TAPEGRAD_COLD Value new_sequence(Kind kind, std::vector<Value> items = {}) {
    sequences_.push_back(std::move(items));
    return make(kind, sequences_.size() - 1);
  }
  TAPEGRAD_COLD Value new_string(const uint8_t* s, uint64_t n) {
    check(is_pickle_utf8(s, static_cast<size_t>(n)), "a string that is not UTF-8");
    strings_.emplace_back(reinterpret_cast<const char*>(s), static_cast<size_t>(n));
    return make(Kind::String, strings_.size() - 1);
  }
  TAPEGRAD_COLD Value integer(int64_t n, Kind kind = Kind::Int) {
    Value v;
    v.kind = kind;
    v.number = n;
    return v;
  }
  const std::vector<Value>& items(const Value& v) const { return sequences_[v.index]; }
  const std::string& text(const Value& v) const { return strings_[v.index]; }

  // ---- the globals
  TAPEGRAD_COLD Value global(const std::string& module, const std::string& name) {
    Value v;
    v.kind = Kind::Callable;
    if (module == "collections" && name == "OrderedDict") {
      v.detail = static_cast<uint8_t>(Callable::OrderedDict);
    } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
      v.detail = static_cast<uint8_t>(Callable::RebuildTensorV2);
    } else if (module == "torch._utils" && name == "_rebuild_parameter") {
      v.detail = static_cast<uint8_t>(Callable::RebuildParameter);
    } else {
      for (int d = 0; d <= static_cast<int>(DType::BOOL); ++d) {
        if (module == "torch" && name == storage_class_name(static_cast<DType>(d))) {
          v.detail = static_cast<uint8_t>(Callable::StorageClass);
          v.number = d;
          return v;
        }
      }
      fail("pickle opcode ", pickle_opcode_string(op_), " global ", detail::quoted(module + " " + name),
           " is not allowed (a state dict calls only collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
           "torch._utils._rebuild_parameter and torch's storage classes)");
    }
    return v;
  }
  // A GLOBAL's "module\nname\n" line.
  TAPEGRAD_COLD std::string line() {
    const uint8_t* start = data_ + pos_;
    const void* newline = std::memchr(start, '\n', size_ - pos_);
    check(newline != nullptr, "truncated: GLOBAL's name has no end of line");
    const size_t n = static_cast<size_t>(static_cast<const uint8_t*>(newline) - start);
    pos_ += n + 1;
    return std::string(reinterpret_cast<const char*>(start), n);
  }

  TAPEGRAD_COLD int64_t as_int(const Value& v, const char* what) const {
    check(v.kind == Kind::Int, what, " is ", article(v.kind), " ", kind_name(v.kind), ", not an int");
    return v.number;
  }
  TAPEGRAD_COLD Shape as_shape(const Value& v, const char* what) const {
    check(v.kind == Kind::Tuple, what, " is ", article(v.kind), " ", kind_name(v.kind), ", not a tuple of ints");
    Shape s;
    for (const Value& d : items(v)) s.push_back(as_int(d, what));
    return s;
  }
  TAPEGRAD_COLD bool is_empty_dict(const Value& v) const { return v.kind == Kind::Dict && items(v).empty(); }

  // BINPERSID: ('storage', storage class, key, location, numel) names the entry data/<key>.
  // The location (cpu, cuda:0, ...) does not matter: the bytes are the same.
  TAPEGRAD_COLD Value persistent_load(const Value& pid) {
    check(pid.kind == Kind::Tuple, "a persistent id that is ", article(pid.kind), " ", kind_name(pid.kind),
          ", not a tuple");
    const std::vector<Value>& id = items(pid);
    check(id.size() == 5 && id[0].kind == Kind::String && text(id[0]) == "storage" && id[1].kind == Kind::Callable &&
              id[1].detail == static_cast<uint8_t>(Callable::StorageClass) && id[2].kind == Kind::String &&
              id[3].kind == Kind::String && id[4].kind == Kind::Int,
          "a persistent id that is not ('storage', <storage class>, <key>, <location>, <numel>)");
    const DType dtype = static_cast<DType>(id[1].number);
    const std::string& key = text(id[2]);
    const int64_t numel = id[4].number;
    const auto known = storage_index_.find(key);
    if (known != storage_index_.end()) {
      const Storage& s = storages_[known->second];
      check(s.dtype == dtype && s.numel == numel, "storage ", detail::quoted(key), " is both ", storage_class_name(s.dtype),
            " of ", s.numel, " elements and ", storage_class_name(dtype), " of ", numel);
      return make(Kind::Storage, known->second);
    }
    const std::string entry_name = prefix_ + "/data/" + key;
    const ZipEntry* entry = zip_.find(entry_name);
    check(entry != nullptr, "storage ", detail::quoted(key), " has no entry ", detail::quoted(entry_name), " in the archive");
    int64_t bytes = 0;
    check(numel >= 0 && !__builtin_mul_overflow(numel, dtype_size(dtype), &bytes) &&
              static_cast<uint64_t>(bytes) == entry->size,
          "storage ", detail::quoted(key), " is ", storage_class_name(dtype), " of ", numel, " elements (", numel, " x ",
          dtype_size(dtype), " bytes), but its entry ", detail::quoted(entry_name), " has ", entry->size, " bytes");
    storages_.push_back({key, dtype, numel, zip_.bytes(*entry)});
    storage_index_.emplace(key, storages_.size() - 1);
    return make(Kind::Storage, storages_.size() - 1);
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
  // metadata]): a view of the storage, every element of which must lie inside it.
  TAPEGRAD_COLD Value rebuild_tensor(const std::vector<Value>& args) {
    check(args.size() == 6 || args.size() == 7, "_rebuild_tensor_v2 takes 6 or 7 arguments, not ", args.size());
    check(args[0].kind == Kind::Storage, "_rebuild_tensor_v2's storage is ", article(args[0].kind), " ",
          kind_name(args[0].kind), ", not a storage");
    TensorView t{args[0].index, as_int(args[1], "_rebuild_tensor_v2's storage offset"),
                 as_shape(args[2], "_rebuild_tensor_v2's size"), as_shape(args[3], "_rebuild_tensor_v2's stride"), 1};
    check(args[4].kind == Kind::Bool, "_rebuild_tensor_v2's requires_grad is ", article(args[4].kind), " ",
          kind_name(args[4].kind), ", not a bool");
    check(is_empty_dict(args[5]), "_rebuild_tensor_v2's backward hooks are not an empty OrderedDict");
    check(args.size() == 6 || args[6].kind == Kind::None || is_empty_dict(args[6]),
          "_rebuild_tensor_v2's metadata is not empty (a tensor with conj or neg bits, which tapegrad does not read)");
    const Storage& s = storages_[t.storage];
    const std::string what = "tensor of size " + shape_string(t.size) + ", stride " + shape_string(t.stride) +
                             ", offset " + std::to_string(t.offset) + " in storage " + detail::quoted(s.key);
    check(t.size.size() == t.stride.size(), what, ": size and stride differ in length");
    check(t.offset >= 0, what, ": negative storage offset");
    for (size_t d = 0; d < t.size.size(); ++d) {
      check(t.size[d] >= 0 && t.stride[d] >= 0, what, ": negative size or stride");
      check(!__builtin_mul_overflow(t.numel, t.size[d], &t.numel), what, ": too many elements");
    }
    if (t.numel > 0) {          // an empty tensor reads nothing, whatever its offset (as in torch)
      int64_t last = t.offset;  // the largest element index it reads
      for (size_t d = 0; d < t.size.size(); ++d) {
        int64_t span = 0;
        check(!__builtin_mul_overflow(t.size[d] - 1, t.stride[d], &span) && !__builtin_add_overflow(last, span, &last),
              what, ": element indices overflow");
      }
      check(last < s.numel, what, ": reads element ", last, " of a storage of ", s.numel, " ",
            storage_class_name(s.dtype), " elements");
    }
    tensors_.push_back(std::move(t));
    return make(Kind::Tensor, tensors_.size() - 1);
  }

  TAPEGRAD_COLD Value reduce(const Value& callable, const Value& args) {
    check(callable.kind == Kind::Callable, "REDUCE calls ", article(callable.kind), " ", kind_name(callable.kind));
    check(args.kind == Kind::Tuple, "REDUCE's arguments are ", article(args.kind), " ", kind_name(args.kind),
          ", not a tuple");
    const std::vector<Value>& a = items(args);
    switch (static_cast<Callable>(callable.detail)) {
      case Callable::OrderedDict:
        check(a.empty(), "OrderedDict is called with arguments (torch.save calls it with none)");
        return new_sequence(Kind::Dict);
      case Callable::RebuildTensorV2: return rebuild_tensor(a);
      case Callable::RebuildParameter:  // (data, requires_grad, backward_hooks): the data
        check(a.size() == 3 && a[0].kind == Kind::Tensor && a[1].kind == Kind::Bool && is_empty_dict(a[2]),
              "_rebuild_parameter's arguments are not (tensor, bool, empty OrderedDict)");
        return a[0];
      case Callable::StorageClass: break;
    }
    fail("REDUCE calls the storage class ", storage_class_name(static_cast<DType>(callable.number)),
         " (a state dict's storages come from persistent ids)");
  }

  // BUILD on an OrderedDict sets its attributes: torch's state_dict() has `_metadata` (each
  // module's version), which loading the tensors does not need.
  TAPEGRAD_COLD void build(const Value& state, const Value& object) {
    check(object.kind == Kind::Dict, "BUILD on ", article(object.kind), " ", kind_name(object.kind),
          " (a state dict only sets its OrderedDict's _metadata)");
    check(state.kind == Kind::Dict, "BUILD's state is ", article(state.kind), " ", kind_name(state.kind),
          ", not a dict");
    const std::vector<Value>& attributes = items(state);
    for (size_t i = 0; i < attributes.size(); i += 2) {
      check(attributes[i].kind == Kind::String && text(attributes[i]) == "_metadata",
            "BUILD sets an attribute other than _metadata on the OrderedDict");
    }
  }

  TAPEGRAD_COLD void set_items(Value dict, const std::vector<Value>& pairs) {
    check(dict.kind == Kind::Dict, "SETITEM(S) on ", article(dict.kind), " ", kind_name(dict.kind), ", not a dict");
    check(pairs.size() % 2 == 0, "SETITEMS with an odd number of values");
    std::vector<Value>& d = sequences_[dict.index];
    d.insert(d.end(), pairs.begin(), pairs.end());
  }
  TAPEGRAD_COLD void append(Value list, const std::vector<Value>& values) {
    check(list.kind == Kind::List, "APPEND(S) to ", article(list.kind), " ", kind_name(list.kind), ", not a list");
    std::vector<Value>& l = sequences_[list.index];
    l.insert(l.end(), values.begin(), values.end());
  }
  TAPEGRAD_COLD void put(uint64_t key) { memo_[key] = top(); }
  TAPEGRAD_COLD void get(uint64_t key) {
    const auto it = memo_.find(key);
    check(it != memo_.end(), "memo entry ", key, " is read before it is written");
    stack_.push_back(it->second);
  }

  // The opcodes, to STOP: the pickled object.
  TAPEGRAD_COLD Value run() {
    check(size_ >= 1 && data_[0] == 0x80, "does not start with PROTO");
    for (;;) {
      op_offset_ = pos_;
      op_ = take_u8("an opcode");
      switch (op_) {
        case 0x80: {  // PROTO
          const uint8_t protocol = take_u8("PROTO");
          check(op_offset_ == 0 && protocol >= 2 && protocol <= 5, "PROTO ", static_cast<int>(protocol),
                " (torch.save writes protocol 2, tapegrad reads 2 to 5, once, first)");
          break;
        }
        case 0x95: {  // FRAME: a length hint for buffered reading
          const uint64_t n = take_le<uint64_t>("FRAME");
          check(n <= size_ - pos_, "truncated: a FRAME of ", n, " bytes, the pickle has ", size_ - pos_, " left");
          break;
        }
        case '}': stack_.push_back(new_sequence(Kind::Dict)); break;
        case ']': stack_.push_back(new_sequence(Kind::List)); break;
        case ')': stack_.push_back(new_sequence(Kind::Tuple)); break;
        case '(': marks_.push_back(stack_.size()); break;
        case 't': stack_.push_back(new_sequence(Kind::Tuple, pop_mark())); break;
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1, TUPLE2, TUPLE3
          const size_t n = static_cast<size_t>(op_ - 0x84);
          check(stack_.size() >= base() + n, "TUPLE", n, " on a stack of ", stack_.size() - base(), " values");
          std::vector<Value> t(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          stack_.push_back(new_sequence(Kind::Tuple, std::move(t)));
          break;
        }
        case 'X': {  // BINUNICODE
          const uint64_t n = take_le<uint32_t>("BINUNICODE");
          stack_.push_back(new_string(take(n, "BINUNICODE's string"), n));
          break;
        }
        case 0x8c: {  // SHORT_BINUNICODE
          const uint64_t n = take_u8("SHORT_BINUNICODE");
          stack_.push_back(new_string(take(n, "SHORT_BINUNICODE's string"), n));
          break;
        }
        case 0x8d: {  // BINUNICODE8
          const uint64_t n = take_le<uint64_t>("BINUNICODE8");
          stack_.push_back(new_string(take(n, "BINUNICODE8's string"), n));
          break;
        }
        case 'J': stack_.push_back(integer(take_le<int32_t>("BININT"))); break;
        case 'K': stack_.push_back(integer(take_u8("BININT1"))); break;
        case 'M': stack_.push_back(integer(take_le<uint16_t>("BININT2"))); break;
        case 0x8a: {  // LONG1: n bytes of little-endian two's complement
          const uint8_t n = take_u8("LONG1");
          check(n <= 8, "LONG1 of ", static_cast<int>(n), " bytes: the integer does not fit in 64 bits");
          const uint8_t* p = take(n, "LONG1's integer");
          uint64_t u = 0;
          for (int k = n - 1; k >= 0; --k) u = (u << 8) | p[k];
          if (n > 0 && n < 8 && (p[n - 1] & 0x80)) u |= ~uint64_t(0) << (8 * n);  // sign-extend
          int64_t v;
          std::memcpy(&v, &u, 8);
          stack_.push_back(integer(v));
          break;
        }
        case 'G': {  // BINFLOAT: big-endian
          const uint8_t* p = take(8, "BINFLOAT");
          uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = (u << 8) | p[k];
          Value v;
          v.kind = Kind::Float;
          std::memcpy(&v.real, &u, 8);
          stack_.push_back(v);
          break;
        }
        case 0x88: stack_.push_back(integer(1, Kind::Bool)); break;  // NEWTRUE
        case 0x89: stack_.push_back(integer(0, Kind::Bool)); break;  // NEWFALSE
        case 'N': stack_.push_back(Value{}); break;
        case 'q': put(take_u8("BINPUT")); break;
        case 'r': put(take_le<uint32_t>("LONG_BINPUT")); break;
        case 0x94: put(memo_.size()); break;  // MEMOIZE
        case 'h': get(take_u8("BINGET")); break;
        case 'j': get(take_le<uint32_t>("LONG_BINGET")); break;
        case 'c': {  // GLOBAL
          const std::string module = line();
          const std::string name = line();
          stack_.push_back(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const Value name = pop(), module = pop();
          check(name.kind == Kind::String && module.kind == Kind::String, "STACK_GLOBAL of a non-string");
          stack_.push_back(global(text(module), text(name)));
          break;
        }
        case 'R': {
          const Value args = pop(), callable = pop();
          stack_.push_back(reduce(callable, args));
          break;
        }
        case 'b': {
          const Value state = pop();
          build(state, top());
          break;
        }
        case 's': {
          const Value value = pop(), key = pop();
          set_items(top(), {key, value});
          break;
        }
        case 'u': {
          std::vector<Value> pairs = pop_mark();
          set_items(top(), pairs);
          break;
        }
        case 'a': {
          const Value value = pop();
          append(top(), {value});
          break;
        }
        case 'e': {
          std::vector<Value> values = pop_mark();
          append(top(), values);
          break;
        }
        case 'Q': {
          const Value pid = pop();
          stack_.push_back(persistent_load(pid));
          break;
        }
        case '.': {
          check(pos_ == size_, size_ - pos_, " bytes after STOP");
          check(marks_.empty() && stack_.size() == 1, "STOP with ", stack_.size(), " values and ", marks_.size(),
                " marks on the stack (a pickle ends with one value)");
          return stack_.back();
        }
        default: {
          const char* name = pickle_opcode_name(op_);
          if (*name)
            fail("pickle opcode ", pickle_opcode_string(op_), " (", name,
                 ") is not supported: a state dict does not use it");
          fail("byte ", pickle_opcode_string(op_), " is not a pickle opcode");
        }
      }
    }
  }

  // The top-level object as records: a dict (OrderedDict) of str -> tensor, in its order.
  TAPEGRAD_COLD TensorRecords state_dict(const Value& object) {
    errors_.check(object.kind == Kind::Dict, "the pickle holds ", article(object.kind), " ", kind_name(object.kind),
                  ", not a state dict (a dict of str to tensor)");
    const std::vector<Value>& pairs = items(object);
    // Every tensor's packed bytes together: only stride-0 expansions and tensors sharing a
    // storage can make them larger than the file, and never by much in a real state dict.
    const uint64_t budget = file_size_ > UINT64_MAX / kExpansionLimit ? UINT64_MAX : file_size_ * kExpansionLimit;
    uint64_t total = 0;
    std::set<std::string> names;
    TensorRecords records;
    records.reserve(pairs.size() / 2);
    for (size_t i = 0; i < pairs.size(); i += 2) {
      const Value &key = pairs[i], &value = pairs[i + 1];
      errors_.check(key.kind == Kind::String, "the state dict has a key of type ", kind_name(key.kind), ", not str");
      const std::string& name = text(key);
      errors_.check(value.kind == Kind::Tensor, "state dict entry ", detail::quoted(name), " is ", article(value.kind), " ",
                    kind_name(value.kind), ", not a tensor");
      errors_.check(names.insert(name).second, "the state dict has the key ", detail::quoted(name), " twice");
      const TensorView& t = tensors_[value.index];
      const Storage& s = storages_[t.storage];
      const uint64_t element_size = static_cast<uint64_t>(dtype_size(s.dtype));
      errors_.check(static_cast<uint64_t>(t.numel) <= (budget - total) / element_size,
                    "the tensors unpack to more than ", kExpansionLimit, " times the file's ", file_size_,
                    " bytes (at ", detail::quoted(name), ", ", shape_string(t.size), " of ", dtype_name(s.dtype),
                    "): refused as a likely hostile file");
      const uint64_t bytes = static_cast<uint64_t>(t.numel) * element_size;
      total += bytes;
      TensorRecord r;
      r.name = name;
      r.dtype = s.dtype;
      r.shape = t.size;
      r.bytes = pack(t, s, bytes);
      records.push_back(std::move(r));
    }
    return records;
  }

  // The view's elements, row-major and packed (its indices were checked by rebuild_tensor).
  static std::vector<uint8_t> pack(const TensorView& t, const Storage& s, uint64_t bytes) {
    std::vector<uint8_t> out(static_cast<size_t>(bytes));
    if (bytes == 0) return out;
    const size_t es = static_cast<size_t>(dtype_size(s.dtype)), rank = t.size.size();
    const uint8_t* base = s.bytes.data;
    uint8_t* dst = out.data();
    if (rank == 0) {
      std::memcpy(dst, base + static_cast<size_t>(t.offset) * es, es);
      return out;
    }
    const int64_t inner = t.size[rank - 1], inner_stride = t.stride[rank - 1];
    std::vector<int64_t> index(rank, 0);
    int64_t row = t.offset;  // the storage index of the current row's first element
    for (uint8_t* const end = dst + bytes; dst != end;) {
      if (inner_stride == 1) {
        std::memcpy(dst, base + static_cast<size_t>(row) * es, static_cast<size_t>(inner) * es);
        dst += static_cast<size_t>(inner) * es;
      } else {
        for (int64_t j = 0; j < inner; ++j, dst += es)
          std::memcpy(dst, base + static_cast<size_t>(row + j * inner_stride) * es, es);
      }
      for (size_t d = rank - 1; d-- > 0;) {  // the next row: an odometer over the outer dims
        if (++index[d] < t.size[d]) {
          row += t.stride[d];
          break;
        }
        row -= (t.size[d] - 1) * t.stride[d];
        index[d] = 0;
      }
    }
    return out;
  }

  static constexpr uint64_t kExpansionLimit = 16;

  const StoredZip& zip_;
  const std::string& prefix_;
  const uint64_t file_size_;
  LoadErrors errors_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0, pos_ = 0, op_offset_ = 0;
  uint8_t op_ = 0;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
  std::deque<std::string> strings_;
  std::deque<std::vector<Value>> sequences_;
  std::vector<Storage> storages_;
  std::map<std::string, size_t> storage_index_;
  std::vector<TensorView> tensors_;
};

}  // namespace detail

// Whether the bytes start with a zip local file header, as torch.save's files do.
inline bool is_zip(const uint8_t* data, size_t size) {
  return size >= 4 && data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4;
}

// The tensors of a torch.save'd state dict, in the OrderedDict's order. `path` names the file
// in errors.
TAPEGRAD_COLD inline TensorRecords read_torch_file(const uint8_t* data, size_t size, const std::string& path) {
  const detail::LoadErrors errors{path};
  if (!is_zip(data, size)) {
    // The legacy format (torch < 1.6, or _use_new_zipfile_serialization=False) starts with
    // a pickled magic number: PROTO 2, LONG1 of 10 bytes.
    const bool legacy = size >= 4 && data[0] == 0x80 && data[1] == 0x02 && data[2] == 0x8a && data[3] == 0x0a;
    errors.check(!legacy,
                 "torch.save's legacy format (torch < 1.6 or _use_new_zipfile_serialization=False) "
                 "is not supported: re-save the file with a newer torch");
    errors.fail("not a zip archive (torch.save writes one since torch 1.6)");
  }
  const detail::StoredZip zip(data, size, path);
  const std::vector<detail::ZipEntry>& entries = zip.entries();
  errors.check(!entries.empty(), "the zip archive is empty");

  // Every entry is inside one top-level folder, whatever its name (torch uses the file's stem).
  const std::string& first = entries.front().name;
  const size_t slash = first.find('/');
  errors.check(slash != std::string::npos && slash > 0, "zip entry ", detail::quoted(first),
               " is not inside a folder (torch.save puts everything in one)");
  const std::string prefix = first.substr(0, slash);
  for (const detail::ZipEntry& e : entries) {
    errors.check(e.name.size() > slash + 1 && e.name.compare(0, slash + 1, first, 0, slash + 1) == 0, "zip entry ",
                 detail::quoted(e.name), " is outside the archive's folder ", detail::quoted(prefix),
                 " (torch.save puts everything in one)");
  }
  errors.check(!zip.find(prefix + "/constants.pkl"),
               "a TorchScript archive (torch.jit.save), not a torch.save state dict");

  // torch's reader requires a version record (1 to 10 are what it reads).
  const detail::ZipEntry* version = zip.find(prefix + "/version");
  if (!version) version = zip.find(prefix + "/.data/version");
  errors.check(version != nullptr, "no entry ", detail::quoted(prefix + "/version"), ": not a torch.save archive");
  std::string_view v = zip.bytes(*version).text();
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  int number = 0;
  bool valid = !v.empty() && v.size() <= 2;
  for (const char c : v) {
    valid = valid && c >= '0' && c <= '9';
    number = 10 * number + (c - '0');
  }
  errors.check(valid && number >= 1 && number <= 10, "unsupported archive version ", detail::quoted(v),
               " (torch reads 1 to 10)");
  if (const detail::ZipEntry* order = zip.find(prefix + "/byteorder")) {
    const std::string_view byteorder = zip.bytes(*order).text();
    errors.check(byteorder == "little", "the tensors' byte order is ", detail::quoted(byteorder),
                 ": tapegrad reads little-endian files");
  }
  return detail::StateDictUnpickler(zip, prefix, size, path).read();
}

// The tensors of the torch.save'd state dict at `path`.
TAPEGRAD_COLD inline TensorRecords read_torch_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return read_torch_file(bytes.data(), bytes.size(), path);
}

}  // namespace tapegrad::io
