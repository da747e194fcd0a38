// idx_fuzzer: runs tapegrad::data::parse_idx_file (read_idx's parser: gunzip when the bytes
// start with 1f 8b, then the IDX checks) on its input.
//
// An input that starts with 'G' is an IDX file the harness gzips first (the rest of the input;
// the second byte's bit 0 splits it into two gzip members, bit 1 appends its first 3 bytes
// after the last member, raw, as junk): mutations then reach the IDX parser through the
// inflater, which they would rarely do through a stream whose every change breaks its CRC-32.
// Any other input is the file itself, raw or (1f 8b ...) gzip. The inflate cap is 1 MB here,
// which a 4 KB deflate stream can exceed.
//
// What counts as a bug (the harness aborts, or lets the exception escape):
//   - a crash, a sanitizer report, a hang or an allocation beyond -rss_limit_mb;
//   - any exception other than tapegrad::Error, or an Error that does not start
//     "read_idx: fuzz.idx: " with something after it;
//   - a file read whose header and values, written back as an IDX file, are not the (inflated)
//     input byte for byte, or whose size disagrees with its shape and type;
//   - two reads of the same bytes differing in any way;
//   - a tensor of another shape than the file's, or values (as double) other than the
//     big-endian numbers of the file; MNIST's image and label checks throwing anything else.
//
// It builds with libFuzzer (clang -fsanitize=fuzzer) and, with replay_main.cpp, with any
// compiler as a corpus replayer. Set TAPEGRAD_FUZZ_VERBOSE=1 to print each input's outcome.
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tapegrad/data/gzip.hpp>
#include <tapegrad/data/idx.hpp>
#include <tapegrad/data/mnist.hpp>
#include <vector>

namespace data = tapegrad::data;

namespace {

const std::string kPath = "fuzz.idx";
constexpr size_t kMaxBytes = size_t(1) << 20;  // the inflate cap: 1 MB

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "idx_fuzzer: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

std::vector<uint8_t> gzip_member(const uint8_t* data, size_t size) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) bug("deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(size)) + 32);
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) bug("deflate failed");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

struct Outcome {
  data::IdxArray array;
  std::string error;
};
Outcome read(const std::vector<uint8_t>& file) {
  Outcome o;
  try {
    o.array = data::parse_idx_file(file, kPath, kMaxBytes);
  } catch (const tapegrad::Error& e) {
    o.error = e.what();
    const std::string prefix = "read_idx: " + kPath + ": ";
    if (o.error.rfind(prefix, 0) != 0) bug("an error that does not name the file: " + o.error);
    if (o.error.size() == prefix.size()) bug("an empty error message");
  }
  return o;
}

bool same(const data::IdxArray& a, const data::IdxArray& b) {
  return a.type == b.type && a.shape == b.shape && a.bytes == b.bytes && a.offset == b.offset;
}

// The array written back as an IDX file.
std::vector<uint8_t> idx_bytes(const data::IdxArray& a) {
  std::vector<uint8_t> out = {0, 0, static_cast<uint8_t>(a.type), static_cast<uint8_t>(a.shape.size())};
  for (int64_t s : a.shape) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(s) >> (8 * i)));
  }
  out.insert(out.end(), a.values(), a.bytes.data() + a.bytes.size());
  return out;
}

// Value i of the array, decoded here independently of the reader, as double.
double value_at(const data::IdxArray& a, int64_t i) {
  const uint8_t* p = a.values();
  uint64_t bits = 0;
  const int size = data::idx_type_size(a.type);
  for (int k = 0; k < size; ++k) bits = bits << 8 | p[i * size + k];
  switch (a.type) {
    case data::IdxType::UInt8: return static_cast<double>(bits);
    case data::IdxType::Int8: return static_cast<double>(static_cast<int8_t>(bits));
    case data::IdxType::Int16: return static_cast<double>(static_cast<int16_t>(bits));
    case data::IdxType::Int32: return static_cast<double>(static_cast<int32_t>(bits));
    case data::IdxType::Float32: {
      const auto b32 = static_cast<uint32_t>(bits);
      float f;
      std::memcpy(&f, &b32, 4);
      return f;
    }
    case data::IdxType::Float64: {
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
  }
  bug("an unknown type was accepted");
}

void check_array(const data::IdxArray& a, const std::vector<uint8_t>& inflated) {
  if (a.shape.empty() || a.shape.size() > 8) bug("a rank outside 1..8 was accepted");
  int64_t n = 1;
  for (int64_t s : a.shape) {
    if (s < 0 || s > 0xFFFFFFFFLL || __builtin_mul_overflow(n, s, &n)) bug("a bad shape was accepted");
  }
  if (a.offset != 4 + 4 * a.shape.size()) bug("the values do not start after the header");
  if (a.bytes.size() - a.offset != static_cast<uint64_t>(n) * data::idx_type_size(a.type)) {
    bug("the data bytes do not fit the shape and type");
  }
  if (idx_bytes(a) != inflated) bug("the array written back is not the file");
  const tapegrad::Tensor<double> t = data::to_tensor<double>(a);
  if (t.shape() != a.shape) bug("the tensor's shape is not the file's");
  for (int64_t i = 0; i < n; ++i) {
    const double want = value_at(a, i), got = t.data()[i];
    if (!(got == want || (std::isnan(got) && std::isnan(want)))) bug("value " + std::to_string(i) + " differs");
  }
  (void)data::to_tensor<float>(a);
  try {  // MNIST's checks on whatever came out: refusals only
    (void)data::detail::mnist_targets<float>(a, kPath);
    (void)data::detail::mnist_images<float>(a, kPath);
  } catch (const tapegrad::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::vector<uint8_t> file(bytes, bytes + size);
  std::vector<uint8_t> plain;  // the IDX bytes the file holds, when the harness knows them
  bool know_plain = false;
  if (size >= 2 && bytes[0] == 'G') {  // the harness gzips the rest, in one or two members
    plain.assign(bytes + 2, bytes + size);
    know_plain = true;
    const size_t cut = (bytes[1] & 1) ? plain.size() / 2 : plain.size();
    file = gzip_member(plain.data(), cut);
    if (cut < plain.size()) {
      const std::vector<uint8_t> second = gzip_member(plain.data() + cut, plain.size() - cut);
      file.insert(file.end(), second.begin(), second.end());
    }
    if (bytes[1] & 2) {
      file.insert(file.end(), plain.begin(),
                  plain.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(3, plain.size())));
    }
  } else if (!data::is_gzip(bytes, size)) {
    plain = file;
    know_plain = true;
  }
  const Outcome first = read(file);
  const Outcome second = read(file);
  if (first.error != second.error || !same(first.array, second.array)) bug("two reads of the same bytes differ");
  if (std::getenv("TAPEGRAD_FUZZ_VERBOSE")) {
    if (first.error.empty()) {
      std::printf("  read %s of %zu dimensions\n", data::idx_type_name(first.array.type), first.array.shape.size());
    } else {
      std::printf("  %s\n", first.error.c_str());
    }
  }
  if (!first.error.empty()) return 0;
  if (!know_plain) {  // a gzip file from the input itself: what it inflates to, once more
    try {
      plain = data::gunzip(file.data(), file.size(), "again", kMaxBytes);
    } catch (const tapegrad::Error&) {
      bug("read, but its gzip stream does not inflate again");
    }
  }
  check_array(first.array, plain);
  return 0;
}
