// safetensors_fuzzer: runs tapegrad::io::read_safetensors on its input (the file itself).
//
// What counts as a bug (the harness aborts, or lets the exception escape):
//   - a crash, a sanitizer report, a hang or an allocation beyond -rss_limit_mb;
//   - any exception other than tapegrad::Error (nlohmann's included), or an Error that does
//     not start "load: fuzz.safetensors: ";
//   - records that break the reader's promises: bytes not numel x element size, a name twice
//     or named "__metadata__", more bytes in all than the file has;
//   - two reads of the same bytes differing in any way;
//   - a file read but not read back the same after write_safetensors (records and metadata).
//
// It builds with libFuzzer (clang -fsanitize=fuzzer) and, with replay_main.cpp, with any
// compiler as a corpus replayer. Set TAPEGRAD_FUZZ_VERBOSE=1 to print each input's outcome.
#include <tapegrad/io/safetensors.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

namespace io = tapegrad::io;

namespace {

const std::string kPath = "fuzz.safetensors";

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "safetensors_fuzzer: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

struct Outcome {
  io::TensorRecords records;
  io::Metadata metadata;
  std::string error;
};
Outcome read(const uint8_t* data, size_t size) {
  Outcome o;
  try {
    o.records = io::read_safetensors(data, size, kPath, &o.metadata);
  } catch (const tapegrad::Error& e) {
    o.error = e.what();
    if (o.error.rfind("load: " + kPath + ": ", 0) != 0) bug("an error that does not name the file: " + o.error);
  }
  return o;
}

bool same(const Outcome& a, const Outcome& b) {
  if (a.error != b.error || a.metadata != b.metadata || a.records.size() != b.records.size()) return false;
  for (size_t i = 0; i < a.records.size(); ++i) {
    const io::TensorRecord &x = a.records[i], &y = b.records[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape || x.bytes != y.bytes) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Outcome first = read(data, size);
  if (!same(first, read(data, size))) bug("two reads of the same bytes differ");
  if (std::getenv("TAPEGRAD_FUZZ_VERBOSE")) {
    if (first.error.empty()) {
      std::printf("  read %zu tensors\n", first.records.size());
    } else {
      std::printf("  %s\n", first.error.c_str());
    }
  }
  if (!first.error.empty()) return 0;

  std::set<std::string> names;
  uint64_t total = 0;
  for (const io::TensorRecord& r : first.records) {
    if (r.name == "__metadata__" || !names.insert(r.name).second) bug("the name '" + r.name + "' twice or reserved");
    int64_t n = 1;
    for (int64_t s : r.shape) {
      if (s < 0 || __builtin_mul_overflow(n, s, &n)) bug("a bad shape for '" + r.name + "'");
    }
    if (r.bytes.size() != static_cast<uint64_t>(n) * static_cast<uint64_t>(io::dtype_size(r.dtype))) {
      bug("'" + r.name + "' has " + std::to_string(r.bytes.size()) + " bytes for its shape");
    }
    total += r.bytes.size();
  }
  if (total > size) bug("the records hold more bytes than the file");

  std::vector<uint8_t> written;
  try {
    written = io::write_safetensors(first.records, first.metadata);
  } catch (const tapegrad::Error& e) {
    bug(std::string("a file read cannot be written back: ") + e.what());
  }
  const Outcome again = read(written.data(), written.size());
  if (!again.error.empty()) bug("written back, it does not read: " + again.error);
  if (!same(first, again)) bug("written back, it reads differently");
  return 0;
}
