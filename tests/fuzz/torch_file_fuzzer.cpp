// torch_file_fuzzer: runs tapegrad::io::read_torch_file on its input.
//
// An input that starts with a zip local header ("PK\3\4") is the file itself. Any other input
// is the entries of an archive the harness packs, separated by "TGSEP": the first is
// archive/data.pkl, the next archive/data/0, archive/data/1, ...; archive/version is added.
// With the CRCs and offsets right, mutations reach the unpickler, which they would rarely do
// through a file whose every change breaks a CRC-32.
//
// What counts as a bug (the harness aborts, or lets the exception escape):
//   - a crash, a sanitizer report, a hang or an allocation beyond -rss_limit_mb;
//   - any exception other than tapegrad::Error, or an Error that does not start "load: fuzz.pt: ";
//   - records that break the reader's promises: bytes not numel x element size, a name twice,
//     more bytes in all than 16 times the file's size;
//   - two reads of the same bytes differing in any way (an uninitialised read, usually);
//   - a file read but its entries, re-packed as a plain zip (no data descriptors, no zip64),
//     reading differently.
//
// It builds with libFuzzer (clang -fsanitize=fuzzer) and, with replay_main.cpp, with any
// compiler as a corpus replayer. Set TAPEGRAD_FUZZ_VERBOSE=1 to print each input's outcome.
#include <tapegrad/io/torch_file.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace io = tapegrad::io;

namespace {

const std::string kPath = "fuzz.pt";

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "torch_file_fuzzer: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void put(std::vector<uint8_t>& b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A plain zip of stored entries: local headers with sizes and CRC, a central directory, an end record.
std::vector<uint8_t> pack(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& entries) {
  std::vector<uint8_t> out, central;
  for (const auto& [name, data] : entries) {
    const uint64_t offset = out.size();
    const uint32_t crc = io::detail::crc32(data.data(), data.size());
    put(out, 0x04034b50, 4), put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4);
    put(out, crc, 4), put(out, data.size(), 4), put(out, data.size(), 4), put(out, name.size(), 2), put(out, 0, 2);
    out.insert(out.end(), name.begin(), name.end());
    out.insert(out.end(), data.begin(), data.end());
    put(central, 0x02014b50, 4), put(central, 20, 2), put(central, 20, 2), put(central, 0, 2), put(central, 0, 2);
    put(central, 0, 4), put(central, crc, 4), put(central, data.size(), 4), put(central, data.size(), 4);
    put(central, name.size(), 2), put(central, 0, 2), put(central, 0, 2), put(central, 0, 2), put(central, 0, 2);
    put(central, 0, 4), put(central, offset, 4);
    central.insert(central.end(), name.begin(), name.end());
  }
  const uint64_t cd_offset = out.size();
  out.insert(out.end(), central.begin(), central.end());
  put(out, 0x06054b50, 4), put(out, 0, 4), put(out, entries.size(), 2), put(out, entries.size(), 2);
  put(out, central.size(), 4), put(out, cd_offset, 4), put(out, 0, 2);
  return out;
}

// The input split at "TGSEP" into data.pkl and storages 0, 1, ...
std::vector<uint8_t> archive_of(const uint8_t* data, size_t size) {
  static const char kSeparator[] = "TGSEP";
  const size_t n = sizeof kSeparator - 1;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> entries;
  size_t start = 0;
  for (size_t i = 0; i <= size; ++i) {
    if (i == size || (size - i >= n && std::memcmp(data + i, kSeparator, n) == 0)) {
      const std::string name =
          entries.empty() ? "archive/data.pkl" : "archive/data/" + std::to_string(entries.size() - 1);
      entries.push_back({name, std::vector<uint8_t>(data + start, data + i)});
      if (i == size) break;
      i += n - 1;
      start = i + 1;
    }
  }
  entries.push_back({"archive/version", {'3', '\n'}});
  return pack(entries);
}

// The reader's result, or its error message (empty on success).
struct Outcome {
  io::TensorRecords records;
  std::string error;
};
Outcome read(const std::vector<uint8_t>& file) {
  Outcome o;
  try {
    o.records = io::read_torch_file(file.data(), file.size(), kPath);
  } catch (const tapegrad::Error& e) {
    o.error = e.what();
    if (o.error.rfind("load: " + kPath + ": ", 0) != 0) bug("an error that does not name the file: " + o.error);
    if (o.error.size() == std::string("load: " + kPath + ": ").size()) bug("an empty error message");
  }
  return o;
}

bool same(const io::TensorRecords& a, const io::TensorRecords& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].dtype != b[i].dtype || a[i].shape != b[i].shape || a[i].bytes != b[i].bytes) {
      return false;
    }
  }
  return true;
}

void check_records(const io::TensorRecords& records, size_t file_size) {
  std::set<std::string> names;
  uint64_t total = 0;
  for (const io::TensorRecord& r : records) {
    if (!names.insert(r.name).second) bug("the name '" + r.name + "' twice");
    int64_t n = 1;
    for (int64_t s : r.shape) {
      if (s < 0 || __builtin_mul_overflow(n, s, &n)) bug("a bad shape for '" + r.name + "'");
    }
    if (r.bytes.size() != static_cast<uint64_t>(n) * static_cast<uint64_t>(io::dtype_size(r.dtype))) {
      bug("'" + r.name + "' has " + std::to_string(r.bytes.size()) + " bytes for its shape");
    }
    total += r.bytes.size();
  }
  if (total > 16 * static_cast<uint64_t>(file_size)) bug("the records hold more than 16 times the file's size");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> file = io::is_zip(data, size) ? std::vector<uint8_t>(data, data + size) : archive_of(data, size);
  const Outcome first = read(file);
  const Outcome second = read(file);
  if (first.error != second.error || !same(first.records, second.records)) bug("two reads of the same bytes differ");
  if (std::getenv("TAPEGRAD_FUZZ_VERBOSE")) {
    if (first.error.empty()) {
      std::printf("  read %zu tensors\n", first.records.size());
    } else {
      std::printf("  %s\n", first.error.c_str());
    }
  }
  if (!first.error.empty()) return 0;
  check_records(first.records, file.size());

  // The same entries in a plain zip read the same (the zip layer must not change what the
  // pickle sees). Entries the reader did not use may be compressed or corrupt: skip those files.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> entries;
  try {
    const io::detail::StoredZip zip(file.data(), file.size(), kPath);
    for (const io::detail::ZipEntry& e : zip.entries()) {
      const io::detail::ByteSpan s = zip.bytes(e);
      entries.push_back({e.name, std::vector<uint8_t>(s.data, s.data + s.size)});
    }
  } catch (const tapegrad::Error&) {
    return 0;
  }
  const std::vector<uint8_t> plain = pack(entries);
  const Outcome repacked = read(plain);
  // A repacked file is smaller or larger than the original, so only the expansion limit may differ.
  if (!repacked.error.empty() && repacked.error.find("times the file's") == std::string::npos) {
    bug("read, but not once re-packed: " + repacked.error);
  }
  if (repacked.error.empty() && !same(first.records, repacked.records)) bug("re-packed, it reads differently");
  return 0;
}
