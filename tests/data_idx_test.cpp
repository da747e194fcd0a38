// data::read_idx and data::gunzip on IDX files the tests write themselves, raw and gzipped
// (with zlib's gzwrite, or a gzip stream built by deflate and then broken on purpose): every
// type of the format, big-endian, into float and double; and every corrupt file refused with
// its exact message, returning nothing.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

using Bytes = std::vector<uint8_t>;

void put_be(Bytes& b, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// An IDX file: 0, 0, type, rank, the sizes as big-endian uint32, then `payload`.
Bytes idx_file(uint8_t type, const std::vector<uint32_t>& sizes, const Bytes& payload) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(sizes.size())};
  for (uint32_t s : sizes) put_be(b, s, 4);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// `bytes` as one gzip member, in memory (deflate with a gzip wrapper: windowBits 15 + 16).
Bytes gzip_bytes(const Bytes& bytes) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  Bytes out(deflateBound(&zs, static_cast<uLong>(bytes.size())) + 32);
  zs.next_in = const_cast<Bytef*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// `bytes` written to `path` through zlib's gzopen/gzwrite, as gzip(1) would.
void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// Element i of a tensor of T compared with `expected`, bit for bit (NaN with NaN).
template <class T>
void check_values(const tg::Tensor<T>& t, const std::vector<double>& expected, const tg::Shape& shape) {
  REQUIRE(t.defined());
  REQUIRE(t.shape() == shape);
  REQUIRE(static_cast<size_t>(t.numel()) == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    const T want = static_cast<T>(expected[i]);
    CHECK(std::memcmp(&t.data()[i], &want, sizeof(T)) == 0);
  }
}

// A case: a type's file bytes and the values they hold (as the C++ value converted to double).
struct TypeCase {
  const char* name;
  uint8_t code;
  Bytes payload;
  std::vector<double> values;
};

std::vector<TypeCase> type_cases() {
  std::vector<TypeCase> cases;
  {
    TypeCase c{"unsigned byte", 0x08, {}, {}};
    for (int v : {0, 1, 127, 128, 200, 255}) c.payload.push_back(static_cast<uint8_t>(v)), c.values.push_back(v);
    cases.push_back(c);
  }
  {
    TypeCase c{"signed byte", 0x09, {}, {}};
    for (int v : {-128, -1, 0, 1, 100, 127}) c.payload.push_back(static_cast<uint8_t>(v)), c.values.push_back(v);
    cases.push_back(c);
  }
  {
    TypeCase c{"short", 0x0B, {}, {}};
    for (int v : {-32768, -2, 0, 258, 1000, 32767})
      put_be(c.payload, static_cast<uint16_t>(v), 2), c.values.push_back(v);
    cases.push_back(c);
  }
  {
    TypeCase c{"int", 0x0C, {}, {}};
    for (int64_t v :
         {int64_t(INT32_MIN), int64_t(-1), int64_t(0), int64_t(16909060), int64_t(16777217), int64_t(INT32_MAX)}) {
      put_be(c.payload, static_cast<uint32_t>(v), 4), c.values.push_back(static_cast<double>(v));
    }
    cases.push_back(c);
  }
  {
    TypeCase c{"float", 0x0D, {}, {}};
    for (float v : {1.5f, -0.0f, 3.4e38f, 1e-45f, -std::numeric_limits<float>::infinity(), 0.1f}) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      put_be(c.payload, bits, 4), c.values.push_back(v);
    }
    cases.push_back(c);
  }
  {
    TypeCase c{"double", 0x0E, {}, {}};
    for (double v : {0.1, -2.5, 1e300, 5e-324, std::numeric_limits<double>::quiet_NaN(), 1.0 / 3}) {
      uint64_t bits;
      std::memcpy(&bits, &v, 8);
      put_be(c.payload, bits, 8), c.values.push_back(v);
    }
    cases.push_back(c);
  }
  return cases;
}

}  // namespace

TEST_CASE("read_idx reads every IDX type, big-endian, raw and gzipped, into float and double") {
  for (const TypeCase& c : type_cases()) {
    INFO("type " << c.name);
    const Bytes file = idx_file(c.code, {2, 3}, c.payload);
    TempFile raw("idx_type_test.idx"), gz("idx_type_test.idx.gz");
    write_bytes(raw.path, file);
    write_gz(gz.path, file);
    for (const std::string& path : {raw.path, gz.path}) {
      INFO("file " << path);
      check_values(tg::data::read_idx<double>(path), c.values, {2, 3});
      check_values(tg::data::read_idx<float>(path), c.values, {2, 3});
      const tg::data::IdxArray a = tg::data::read_idx_array(path);
      CHECK(static_cast<int>(a.type) == c.code);
      CHECK(tg::data::idx_type_name(a.type) == std::string(c.name));
      CHECK(a.shape == tg::Shape{2, 3});
    }
  }
}

TEST_CASE("read_idx keeps the file's shape: 1 to 8 dimensions, and sizes of 0") {
  TempFile f("idx_shape_test.idx");
  Bytes payload(24);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i);
  write_bytes(f.path, idx_file(0x08, {2, 3, 4}, payload));
  const tg::Tensor<float> t = tg::data::read_idx<float>(f.path);
  REQUIRE(t.shape() == tg::Shape{2, 3, 4});
  for (int64_t i = 0; i < 24; ++i) CHECK(t.data()[i] == static_cast<float>(i));

  write_bytes(f.path, idx_file(0x08, {24}, payload));
  CHECK(tg::data::read_idx<double>(f.path).shape() == tg::Shape{24});
  write_bytes(f.path, idx_file(0x08, {1, 2, 1, 3, 1, 4, 1, 1}, payload));
  CHECK(tg::data::read_idx<double>(f.path).shape() == tg::Shape{1, 2, 1, 3, 1, 4, 1, 1});
  // A size of 0 holds no values, however large the sizes after it.
  write_bytes(f.path, idx_file(0x0C, {3, 0}, {}));
  CHECK(tg::data::read_idx<float>(f.path).shape() == tg::Shape{3, 0});
  write_bytes(f.path, idx_file(0x0E, {0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
  CHECK(tg::data::read_idx<float>(f.path).shape() == tg::Shape{0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF});
}

TEST_CASE("gunzip reads concatenated gzip members as gzip -d does, and large outputs") {
  Bytes a = idx_file(0x08, {4}, {1, 2, 3, 4});
  const Bytes first(a.begin(), a.begin() + 7), second(a.begin() + 7, a.end());
  Bytes both = gzip_bytes(first);
  const Bytes tail = gzip_bytes(second);
  both.insert(both.end(), tail.begin(), tail.end());
  CHECK(tg::data::gunzip(both.data(), both.size(), "test") == a);
  TempFile f("idx_members_test.idx.gz");
  write_bytes(f.path, both);
  check_values(tg::data::read_idx<float>(f.path), {1, 2, 3, 4}, {4});

  // 3 MB of zeros and a counter: the output grows past its first guess many times.
  Bytes big(3 << 20);
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<uint8_t>(i >> 12);
  const Bytes packed = gzip_bytes(big);
  CHECK(packed.size() < big.size() / 100);
  CHECK(tg::data::gunzip(packed.data(), packed.size(), "test") == big);
  // Exactly at the cap is allowed; a byte over is not.
  CHECK(tg::data::gunzip(packed.data(), packed.size(), "test", big.size()).size() == big.size());
  CHECK_THROWS_WITH(tg::data::gunzip(packed.data(), packed.size(), "test", big.size() - 1),
                    "test: the gzip stream inflates to more than 3145727 bytes");
}

TEST_CASE("read_idx refuses a missing, short or inconsistent file with its exact message") {
  TempFile f("idx_bad_test.idx");
  const auto refused = [&](const Bytes& bytes) {
    write_bytes(f.path, bytes);
    tg::Tensor<float> kept = tg::ones<float>({2});
    const std::string message = error_of([&] { kept = tg::data::read_idx<float>(f.path); });
    CHECK(kept.shape() == tg::Shape{2});  // nothing returned: the old value is untouched
    CHECK(kept.data()[0] == 1.0f);
    return message;
  };
  const std::string p = "read_idx: " + f.path;
  CHECK(error_of([] { tg::data::read_idx<float>("no_such_dir/none.idx"); }) ==
        "read_idx: no_such_dir/none.idx: no such file");
  CHECK(error_of([] { tg::data::read_idx<float>("."); }) == "read_idx: .: not a regular file");
  CHECK(refused({}) == p + ": 0 bytes, too short for an IDX header (0, 0, type, dimension count)");
  CHECK(refused({0, 0, 8}) == p + ": 3 bytes, too short for an IDX header (0, 0, type, dimension count)");
  CHECK(refused({'P', 'K', 3, 4, 0, 0}) == p + ": not an IDX file (it starts 0x50 0x4B, not 0x00 0x00)");
  CHECK(refused({0, 1, 8, 1, 0, 0, 0, 0}) == p + ": not an IDX file (it starts 0x00 0x01, not 0x00 0x00)");
  CHECK(refused(idx_file(0x0A, {1}, {7})) == p + ": unknown IDX type 0x0A (known: 0x08 0x09 0x0B 0x0C 0x0D 0x0E)");
  CHECK(refused(idx_file(0x08, {}, {7})) == p + ": 0 dimensions (an IDX file has at least one)");
  CHECK(refused(idx_file(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {7})) == p + ": 9 dimensions; tensors have at most 8");
  CHECK(refused({0, 0, 8, 3, 0, 0, 0, 2, 0, 0}) == p + ": the header of 3 dimensions is 16 bytes, the file has 10");
  CHECK(refused(idx_file(0x08, {2, 3}, {1, 2, 3, 4, 5})) ==
        p + ": dimensions [2, 3] of unsigned byte need 6 data bytes, the file has 5 after its 12-byte header "
            "(truncated or corrupt)");
  CHECK(refused(idx_file(0x0D, {2}, {0, 0, 0, 0, 0, 0, 0, 0, 9, 9})) ==
        p + ": dimensions [2] of float need 8 data bytes, the file has 10 after its 8-byte header (2 trailing bytes)");
  CHECK(refused(idx_file(0x08, {65536, 65536}, {1, 2, 3, 4})) ==
        p + ": dimensions [65536, 65536] of unsigned byte need 4294967296 data bytes, the file has 4 after its "
            "12-byte header (truncated or corrupt)");
  CHECK(refused(idx_file(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {1})) ==
        p + ": dimensions [4294967295, 4294967295, 4294967295] hold more values than an int64 can count");
  // As a tensor's shape: counted left to right, so a 0 after an overflowing prefix is refused too.
  CHECK(refused(idx_file(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0}, {})) ==
        p + ": dimensions [4294967295, 4294967295, 0] hold more values than an int64 can count");
  // Values an int64 counts whose bytes a uint64 would not: refused, the count never wrapped.
  CHECK(refused(idx_file(0x0E, {0x80000000, 0x80000000}, {1})) ==
        p + ": dimensions [2147483648, 2147483648] of double need more than 2^64 data bytes, the file has 1 after "
            "its 12-byte header (truncated or corrupt)");
}

TEST_CASE("read_idx refuses a corrupt, truncated or padded gzip stream with its exact message") {
  TempFile f("idx_bad_test.idx.gz");
  const auto refused = [&](const Bytes& bytes) {
    write_bytes(f.path, bytes);
    return error_of([&] { tg::data::read_idx<double>(f.path); });
  };
  const std::string p = "read_idx: " + f.path;
  Bytes payload(600);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 % 251);
  const Bytes good = gzip_bytes(idx_file(0x08, {20, 30}, payload));
  REQUIRE(refused(good) == "no error");

  Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
  CHECK(refused(cut) == p + ": truncated gzip stream (the file ends after " + std::to_string(cut.size()) +
                            " bytes, inside the compressed data)");
  cut.assign(good.begin(), good.end() - 8);  // the CRC-32 and length trailer lost
  CHECK(refused(cut) == p + ": truncated gzip stream (the file ends after " + std::to_string(cut.size()) +
                            " bytes, inside the compressed data)");
  CHECK(refused({0x1f, 0x8b}) ==
        p + ": truncated gzip stream (the file ends after 2 bytes, inside the compressed data)");
  Bytes bad = good;
  bad[bad.size() - 6] ^= 0x55;  // the CRC-32
  CHECK(refused(bad) == p + ": corrupt gzip stream (incorrect data check)");
  bad = good;
  bad[bad.size() - 2] ^= 0x01;  // ISIZE, the length mod 2^32 (also the first allocation's hint)
  CHECK(refused(bad) == p + ": corrupt gzip stream (incorrect length check)");
  bad = good;
  bad[2] = 9;  // compression method 9 is not deflate
  CHECK(refused(bad) == p + ": corrupt gzip stream (unknown compression method)");
  bad = good;
  bad[10] = 0xFF;  // the first deflate block: type 3 is reserved
  CHECK(refused(bad) == p + ": corrupt gzip stream (invalid block type)");
  bad = good;
  bad.insert(bad.end(), {0, 0, 0});
  CHECK(refused(bad) == p + ": 3 bytes after the end of the gzip stream");
  // A well-formed stream of a bad IDX file: the IDX checks, same prefix.
  CHECK(refused(gzip_bytes(idx_file(0x08, {2}, {1, 2, 3}))) ==
        p + ": dimensions [2] of unsigned byte need 2 data bytes, the file has 3 after its 8-byte header "
            "(1 trailing bytes)");
  CHECK(refused(gzip_bytes({})) == p + ": 0 bytes, too short for an IDX header (0, 0, type, dimension count)");
}

TEST_CASE("gunzip refuses what is not gzip, and read_gzip names the file") {
  const Bytes plain = {0, 0, 8, 1};
  CHECK_THROWS_WITH(tg::data::gunzip(plain.data(), plain.size(), "x"),
                    "x: not a gzip stream (it does not start with 1f 8b)");
  CHECK_THROWS_WITH(tg::data::gunzip(nullptr, 0, "x"), "x: not a gzip stream (it does not start with 1f 8b)");
  CHECK_THROWS_WITH(tg::data::read_gzip("none.gz"), "read_gzip: none.gz: no such file");
  TempFile f("gzip_test.gz");
  write_gz(f.path, {'h', 'i'});
  CHECK(tg::data::read_gzip(f.path) == Bytes{'h', 'i'});
  CHECK_THROWS_WITH(tg::data::read_gzip(f.path, "load_digits", 1),
                    "load_digits: gzip_test.gz: the gzip stream inflates to more than 1 bytes");
}
