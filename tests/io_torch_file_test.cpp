// Reading what torch.save writes: every fixture of tests/golden/io/ (written by
// tools/gen_torch_file_fixtures.py with torch 1.13) to the bit, and the corrupt and hostile
// files a reader must refuse, each with an error naming the file and the problem.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tapegrad/io/torch_file.hpp>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace io = tapegrad::io;

namespace {

using Bytes = std::vector<uint8_t>;

const std::string kFixtures = std::string(TAPEGRAD_GOLDEN_DIR) + "/io/";

Bytes fixture(const std::string& name) { return io::read_file(kFixtures + name); }

// ---- what the fixtures hold (torch_file_expected.txt) -----------------------------------------

struct ExpectedTensor {
  std::string name, dtype;
  tg::Shape shape;
  std::vector<std::string> bits;  // each element's little-endian value in hex
};
struct Expected {
  std::map<std::string, std::vector<ExpectedTensor>> files;  // in the order of the file
  std::vector<std::string> file_order;
  std::map<std::string, std::string> refusals;  // file -> a substring of its error
};

Expected read_expected() {
  std::ifstream in(kFixtures + "torch_file_expected.txt");
  REQUIRE(in.good());
  Expected e;
  std::string line, current;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    if (kind == "file") {
      words >> current;
      e.file_order.push_back(current);
      e.files[current];
    } else if (kind == "tensor") {
      ExpectedTensor t;
      int rank = 0;
      words >> t.name >> t.dtype >> rank;
      int64_t n = 1;
      for (int i = 0; i < rank; ++i) {
        int64_t d = 0;
        words >> d;
        t.shape.push_back(d);
        n *= d;
      }
      t.bits.resize(static_cast<size_t>(n));
      for (auto& b : t.bits) words >> b;
      REQUIRE(!words.fail());
      e.files[current].push_back(t);
    } else {
      REQUIRE(kind == "refuse");
      std::string file;
      words >> file;
      std::string message;
      std::getline(words >> std::ws, message);
      e.refusals[file] = message;
    }
  }
  return e;
}

std::string element_hex(const uint8_t* p, size_t size) {
  uint64_t v = 0;
  std::memcpy(&v, p, size);
  char buf[24];
  std::snprintf(buf, sizeof buf, "%0*llx", static_cast<int>(2 * size), static_cast<unsigned long long>(v));
  return buf;
}

// ---- making files ---------------------------------------------------------------------------

void put16(Bytes& b, uint16_t v) {
  for (int i = 0; i < 2; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void set16(Bytes& b, size_t at, uint16_t v) {
  for (int i = 0; i < 2; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void set32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void set64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const Bytes& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
uint64_t get64(const Bytes& b, size_t at) {
  uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

struct Entry {
  std::string name;
  Bytes data;
};

// A plain zip of stored entries (no data descriptors, no zip64): what the variants start from.
// `comment` goes after the end record.
Bytes write_zip(const std::vector<Entry>& entries, const std::string& comment = "") {
  Bytes out, central;
  for (const Entry& e : entries) {
    const uint32_t offset = static_cast<uint32_t>(out.size());
    const uint32_t crc = io::detail::crc32(e.data.data(), e.data.size());
    const uint32_t size = static_cast<uint32_t>(e.data.size());
    put32(out, 0x04034b50), put16(out, 20), put16(out, 0), put16(out, 0), put16(out, 0), put16(out, 0);
    put32(out, crc), put32(out, size), put32(out, size);
    put16(out, static_cast<uint16_t>(e.name.size())), put16(out, 0);
    out.insert(out.end(), e.name.begin(), e.name.end());
    out.insert(out.end(), e.data.begin(), e.data.end());
    put32(central, 0x02014b50), put16(central, 20), put16(central, 20), put16(central, 0), put16(central, 0);
    put16(central, 0), put16(central, 0), put32(central, crc), put32(central, size), put32(central, size);
    put16(central, static_cast<uint16_t>(e.name.size())), put16(central, 0), put16(central, 0), put16(central, 0);
    put16(central, 0), put32(central, 0), put32(central, offset);
    central.insert(central.end(), e.name.begin(), e.name.end());
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out.insert(out.end(), central.begin(), central.end());
  put32(out, 0x06054b50), put16(out, 0), put16(out, 0), put16(out, static_cast<uint16_t>(entries.size()));
  put16(out, static_cast<uint16_t>(entries.size())), put32(out, static_cast<uint32_t>(central.size()));
  put32(out, cd_offset), put16(out, static_cast<uint16_t>(comment.size()));
  out.insert(out.end(), comment.begin(), comment.end());
  return out;
}

// The entries of a (valid) zip, in central directory order.
std::vector<Entry> entries_of(const Bytes& zip) {
  const io::detail::StoredZip z(zip.data(), zip.size(), "entries_of");
  std::vector<Entry> out;
  for (const io::detail::ZipEntry& e : z.entries()) {
    const io::detail::ByteSpan s = z.bytes(e);
    out.push_back({e.name, Bytes(s.data, s.data + s.size)});
  }
  return out;
}
// Where a zip's structures are.
size_t find(const Bytes& b, const std::string& what, size_t from = 0) {
  for (size_t i = from; i + what.size() <= b.size(); ++i) {
    if (std::memcmp(b.data() + i, what.data(), what.size()) == 0) return i;
  }
  FAIL("not found: " << what);
  return 0;
}
size_t rfind(const Bytes& b, const std::string& what) {
  for (size_t i = b.size() - what.size() + 1; i-- > 0;) {
    if (std::memcmp(b.data() + i, what.data(), what.size()) == 0) return i;
  }
  FAIL("not found: " << what);
  return 0;
}
const std::string kCentral("PK\x01\x02", 4), kLocal("PK\x03\x04", 4), kEnd("PK\x05\x06", 4), kZip64End("PK\x06\x06", 4),
    kDescriptor("PK\x07\x08", 4);
// The offset of the header with signature `sig` whose name (its length at `length_at`, its
// bytes at `name_at`) is `name`.
size_t header_of(const Bytes& zip, const std::string& sig, size_t length_at, size_t name_at, const std::string& name) {
  for (size_t at = find(zip, sig);; at = find(zip, sig, at + 4)) {
    const uint16_t length = static_cast<uint16_t>(zip[at + length_at] | zip[at + length_at + 1] << 8);
    if (length == name.size() && at + name_at + length <= zip.size() &&
        std::memcmp(zip.data() + at + name_at, name.data(), length) == 0) {
      return at;
    }
  }
}
size_t central_header(const Bytes& zip, const std::string& name) { return header_of(zip, kCentral, 28, 46, name); }
size_t local_header(const Bytes& zip, const std::string& name) { return header_of(zip, kLocal, 26, 30, name); }
// Where the entry's data starts.
size_t data_of(const Bytes& zip, const std::string& name) {
  const io::detail::StoredZip z(zip.data(), zip.size(), "data_of");
  const io::detail::ZipEntry* e = z.find(name);
  REQUIRE(e != nullptr);
  return static_cast<size_t>(e->data_offset);
}

// A pickle, opcode by opcode (protocol 2, as torch.save writes).
struct Pickle {
  std::string s = std::string("\x80\x02", 2);
  Pickle& op(const std::string& code) {
    s += code;
    return *this;
  }
  Pickle& str(const std::string& v) {
    s += 'X';
    const uint32_t n = static_cast<uint32_t>(v.size());
    s.append(reinterpret_cast<const char*>(&n), 4);
    s += v;
    return *this;
  }
  Pickle& integer(int64_t v) {
    if (v >= 0 && v < 256) {
      s += 'K';
      s += static_cast<char>(v);
    } else {
      s += "\x8a\x08";
      s.append(reinterpret_cast<const char*>(&v), 8);
    }
    return *this;
  }
  Pickle& global(const std::string& module, const std::string& name) { return op("c" + module + "\n" + name + "\n"); }
  Pickle& ints(const std::vector<int64_t>& v) {
    op("(");
    for (int64_t x : v) integer(x);
    return op("t");
  }
  Pickle& ordered_dict() { return global("collections", "OrderedDict").op(")R"); }
  // _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
  Pickle& tensor(const std::string& cls, const std::string& key, int64_t numel, int64_t offset,
                 const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").op("((").str("storage").global("torch", cls).str(key).str("cpu");
    integer(numel).op("tQ").integer(offset).ints(size).ints(stride).op("\x89").ordered_dict();
    return op("tR");
  }
  Bytes done() { return bytes(s + "."); }
};

// A state dict pickle {name: tensor, ...} from (name, pickle-of-the-tensor) pairs.
struct Tensor {
  std::string name, cls, key;
  int64_t numel, offset;
  std::vector<int64_t> size, stride;
};
Bytes state_dict_pickle(const std::vector<Tensor>& tensors) {
  Pickle p;
  p.ordered_dict().op("(");
  for (const Tensor& t : tensors) p.str(t.name).tensor(t.cls, t.key, t.numel, t.offset, t.size, t.stride);
  return p.op("u").done();
}
Bytes floats(std::initializer_list<float> v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), v.begin(), b.size());
  return b;
}
// An archive holding `pickle` and the storages, as torch lays it out.
Bytes archive(const Bytes& pickle, const std::vector<std::pair<std::string, Bytes>>& storages) {
  std::vector<Entry> entries{{"archive/data.pkl", pickle}};
  for (const auto& [key, data] : storages) entries.push_back({"archive/data/" + key, data});
  entries.push_back({"archive/version", bytes("3\n")});
  return write_zip(entries);
}
// Six floats 0..5 in storage "0".
const Bytes kSix = floats({0, 1, 2, 3, 4, 5});

// ---- checking refusals ----------------------------------------------------------------------

// read_torch_file(bytes, "m.pt") throws a tapegrad::Error "load: m.pt: ..." holding every part.
void require_refused(const Bytes& b, std::initializer_list<std::string> parts) {
  const std::string message = tapegrad_test::error_of([&] { io::read_torch_file(b.data(), b.size(), "m.pt"); });
  INFO("message: " << message);
  CHECK(message.rfind("load: m.pt: ", 0) == 0);
  for (const std::string& p : parts) {
    INFO("expected part: " << p);
    CHECK(message.find(p) != std::string::npos);
  }
}

io::TensorRecords read(const Bytes& b) { return io::read_torch_file(b.data(), b.size(), "m.pt"); }

std::vector<float> floats_of(const io::TensorRecord& r) {
  REQUIRE(r.dtype == io::DType::F32);
  std::vector<float> v(r.bytes.size() / 4);
  std::memcpy(v.data(), r.bytes.data(), r.bytes.size());
  return v;
}

// The fixture's data.pkl with `from` replaced by `to` (once), re-packed.
Bytes with_pickle_edit(const std::string& file, const std::string& from, const std::string& to) {
  std::vector<Entry> entries = entries_of(fixture(file));
  std::string pickle(entries.front().data.begin(), entries.front().data.end());
  const size_t at = pickle.find(from);
  REQUIRE(at != std::string::npos);
  pickle.replace(at, from.size(), to);
  entries.front().data = bytes(pickle);
  return write_zip(entries);
}

}  // namespace

TEST_CASE("torch_file: every fixture reads as torch.save wrote it, to the bit") {
  const Expected expected = read_expected();
  REQUIRE(expected.files.size() >= 12);
  for (const std::string& file : expected.file_order) {
    INFO("fixture " << file);
    const io::TensorRecords records = io::read_torch_file(kFixtures + file);
    const std::vector<ExpectedTensor>& want = expected.files.at(file);
    REQUIRE(records.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const io::TensorRecord& r = records[i];
      INFO("tensor " << want[i].name);
      CHECK(r.name == want[i].name);
      CHECK(io::dtype_name(r.dtype) == want[i].dtype);
      CHECK(r.shape == want[i].shape);
      const size_t size = static_cast<size_t>(io::dtype_size(r.dtype));
      REQUIRE(r.bytes.size() == want[i].bits.size() * size);
      for (size_t k = 0; k < want[i].bits.size(); ++k)
        CHECK(element_hex(r.bytes.data() + k * size, size) == want[i].bits[k]);
    }
  }
}

TEST_CASE("torch_file: the fixtures that are not state dicts are refused, naming the problem") {
  const Expected expected = read_expected();
  REQUIRE(expected.refusals.size() >= 5);
  for (const auto& [file, part] : expected.refusals) {
    INFO("fixture " << file);
    const Bytes b = fixture(file);
    require_refused(b, {part});
  }
}

TEST_CASE("torch_file: the fixtures re-packed as plain zips (no data descriptors, a comment) read the same") {
  for (const char* file : {"linear_batchnorm.pt", "noncontiguous.pt", "shared_storage.pt", "empty.pt"}) {
    INFO("fixture " << file);
    const Bytes original = fixture(file);
    const io::TensorRecords want = read(original);
    for (const std::string& comment : std::vector<std::string>{"", "a zip comment", std::string(300, 'c')}) {
      const io::TensorRecords got = read(write_zip(entries_of(original), comment));
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].name == want[i].name);
        CHECK(got[i].shape == want[i].shape);
        CHECK(got[i].bytes == want[i].bytes);
      }
    }
  }
}

TEST_CASE("torch_file: is_zip, the legacy format and files that are not zips") {
  const Bytes lbn = fixture("linear_batchnorm.pt");
  CHECK(io::is_zip(lbn.data(), lbn.size()));
  CHECK(!io::is_zip(lbn.data(), 3));
  const Bytes legacy = fixture("legacy.pt");
  CHECK(!io::is_zip(legacy.data(), legacy.size()));
  require_refused(legacy, {"legacy format"});
  require_refused({}, {"not a zip archive"});
  require_refused(bytes("PK\x03"), {"not a zip archive"});
  require_refused(bytes("{\"a\": 1}"), {"not a zip archive"});
  require_refused(bytes(std::string("PK\x03\x04", 4)), {"truncated", "22-byte end record"});
}

TEST_CASE("torch_file: hand-made state dicts: views, offsets, shared and expanded storages") {
  // One storage of six floats behind five tensors.
  const Bytes pickle = state_dict_pickle({{"whole", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}},
                                          {"transposed", "FloatStorage", "0", 6, 0, {3, 2}, {1, 3}},
                                          {"tail", "FloatStorage", "0", 6, 4, {2}, {1}},
                                          {"broadcast", "FloatStorage", "0", 6, 2, {2, 2}, {0, 1}},
                                          {"scalar", "FloatStorage", "0", 6, 5, {}, {}},
                                          {"empty", "FloatStorage", "0", 6, 99, {0, 4}, {4, 1}}});
  const io::TensorRecords r = read(archive(pickle, {{"0", kSix}}));
  REQUIRE(r.size() == 6);
  CHECK(floats_of(r[0]) == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK(floats_of(r[1]) == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(floats_of(r[2]) == std::vector<float>{4, 5});
  CHECK(floats_of(r[3]) == std::vector<float>{2, 3, 2, 3});
  CHECK(floats_of(r[4]) == std::vector<float>{5});
  CHECK(r[4].shape.empty());
  CHECK(r[5].bytes.empty());
  CHECK(r[5].shape == tg::Shape{0, 4});
}

TEST_CASE("torch_file: truncated files are refused") {
  const Bytes lbn = fixture("linear_batchnorm.pt");
  const size_t end = rfind(lbn, kEnd), zip64_end = rfind(lbn, kZip64End), cd = find(lbn, kCentral);
  const size_t local1 = local_header(lbn, "linear_batchnorm/data/1"), data0 = data_of(lbn, "linear_batchnorm/data/0");
  // Inside the end record, just before it, inside the zip64 end record, the central directory,
  // a local header, an entry's data, the pickle, and before any end record fits.
  for (size_t cut : {end + 10, end, zip64_end + 20, cd + 10, local1 + 12, data0 + 20, size_t(100), size_t(21)}) {
    INFO("cut at " << cut << " of " << lbn.size());
    require_refused(Bytes(lbn.begin(), lbn.begin() + static_cast<std::ptrdiff_t>(cut)), {"truncated"});
  }
  require_refused(Bytes(lbn.begin(), lbn.begin() + static_cast<std::ptrdiff_t>(end + 10)),
                  {"truncated or not a zip archive: no end of central directory record"});
  // 16 bytes cut out of the data, the end records kept: nothing is where they say.
  Bytes hole = lbn;
  hole.erase(hole.begin() + static_cast<std::ptrdiff_t>(data0), hole.begin() + static_cast<std::ptrdiff_t>(data0 + 16));
  require_refused(hole, {"the zip64 end record locator points to offset"});
  Bytes plain = write_zip(entries_of(lbn));
  const size_t plain_data0 = data_of(plain, "linear_batchnorm/data/0");
  Bytes plain_hole = plain;
  plain_hole.erase(plain_hole.begin() + static_cast<std::ptrdiff_t>(plain_data0),
                   plain_hole.begin() + static_cast<std::ptrdiff_t>(plain_data0 + 16));
  require_refused(plain_hole, {"the central directory (", "does not end where the end records start"});
  // An entry whose data would run past the end of the file.
  const size_t central = central_header(plain, "linear_batchnorm/data/0"),
               local = local_header(plain, "linear_batchnorm/data/0");
  set32(plain, central + 20, 0x10000), set32(plain, central + 24, 0x10000);
  set32(plain, local + 18, 0x10000), set32(plain, local + 22, 0x10000);
  require_refused(plain,
                  {"truncated: zip entry 'linear_batchnorm/data/0' needs 65536 bytes at offset ", ", the file has "});
}

TEST_CASE("torch_file: corrupt end records and central directories are refused") {
  const Bytes lbn = fixture("linear_batchnorm.pt");
  const Bytes plain = write_zip(entries_of(lbn));
  const size_t end = rfind(plain, kEnd);
  {  // the central directory's offset moved back 4 bytes (its size grown to match)
    Bytes b = plain;
    set32(b, end + 16, get32(b, end + 16) - 4), set32(b, end + 12, get32(b, end + 12) + 4);
    require_refused(b, {"central directory entry 0 of 9", "is not a central directory header"});
  }
  {  // one entry more than there are
    Bytes b = plain;
    set16(b, end + 8, 10), set16(b, end + 10, 10);
    require_refused(b, {"central directory entry 9 of 10", "is not a central directory header"});
  }
  {  // more entries than the central directory could hold
    Bytes b = plain;
    set16(b, end + 8, 60000), set16(b, end + 10, 60000);
    require_refused(b, {"60000 entries do not fit in a central directory of"});
  }
  {  // one entry fewer: bytes left over
    Bytes b = plain;
    set16(b, end + 8, 8), set16(b, end + 10, 8);
    require_refused(b, {"the central directory has", "bytes after its 8 entries"});
  }
  {  // zip64 fields without a zip64 end record
    Bytes b = plain;
    set32(b, end + 16, 0xFFFFFFFF);
    require_refused(b, {"points to zip64 fields, but there is no zip64 end record"});
  }
  {
    Bytes b = plain;
    set16(b, end + 4, 1);
    require_refused(b, {"split over several disks"});
  }
  {  // a comment length that does not reach the end of the file, and bytes after the end record
    Bytes b = plain;
    set16(b, end + 20, 5);
    require_refused(b, {"no end of central directory record"});
    Bytes c = plain;
    c.push_back('x');
    require_refused(c, {"no end of central directory record"});
  }
  // torch's own file: the zip64 end record and the plain one must agree.
  const size_t zip64_end = rfind(lbn, kZip64End);
  {
    Bytes b = lbn;
    set64(b, zip64_end + 48, get64(b, zip64_end + 48) + 1);
    require_refused(
        b, {"the end of central directory record (9 entries", "and the zip64 end record (9 entries", "disagree"});
  }
  {
    Bytes b = lbn;
    set64(b, zip64_end + 4, 1000);
    require_refused(b, {"the zip64 end record at offset", "says it has 1000 bytes"});
  }
  {
    Bytes b = lbn;
    const size_t locator = rfind(lbn, std::string("PK\x06\x07", 4));
    set64(b, locator + 8, 3);
    require_refused(b, {"the zip64 end record locator points to offset 3, where there is no zip64 end record"});
  }
}

TEST_CASE("torch_file: corrupt, compressed, encrypted, misplaced and overlapping entries are refused") {
  const Bytes lbn = fixture("linear_batchnorm.pt");
  const std::string data0 = "linear_batchnorm/data/0";
  {  // a flipped bit in a storage, and in the pickle
    Bytes b = lbn;
    b[data_of(b, data0) + 5] ^= 0x10;
    require_refused(b, {"zip entry 'linear_batchnorm/data/0' is corrupt: its CRC-32 is", "the central directory says"});
    Bytes c = lbn;
    c[data_of(c, "linear_batchnorm/data.pkl") + 50] ^= 0x01;
    require_refused(c, {"zip entry 'linear_batchnorm/data.pkl' is corrupt: its CRC-32"});
  }
  const Bytes plain = write_zip(entries_of(lbn));
  const size_t central = central_header(plain, data0), local = local_header(plain, data0);
  {  // deflate, in both headers
    Bytes b = plain;
    set16(b, central + 10, 8), set16(b, local + 8, 8);
    require_refused(b,
                    {"zip entry 'linear_batchnorm/data/0' is compressed (method 8, deflate): tapegrad reads the stored "
                     "entries torch.save writes"});
    Bytes c = plain;  // only the central directory says so
    set16(c, central + 10, 8);
    require_refused(
        c, {"zip entry 'linear_batchnorm/data/0'", "local header (method 0", "disagrees with the central directory"});
  }
  {
    Bytes b = plain;
    set16(b, central + 8, 1), set16(b, local + 6, 1);
    require_refused(b, {"zip entry 'linear_batchnorm/data/0' is encrypted"});
  }
  {  // stored, but its two sizes differ
    Bytes b = plain;
    set32(b, central + 20, get32(b, central + 20) + 1);
    require_refused(b, {"is stored but its compressed size 49 is not its size 48"});
  }
  {  // a local header outside the file, and an offset that points at no local header
    Bytes b = plain;
    set32(b, central + 42, 0x7FFFFFF0);
    require_refused(b, {"'linear_batchnorm/data/0': its local header (offset 2147483632) lies outside"});
    Bytes c = plain;
    set32(c, central + 42, get32(c, central + 42) + 1);
    require_refused(c, {"zip entry 'linear_batchnorm/data/0' has no local header at offset"});
  }
  {  // the local header names another entry, or gives another size
    Bytes b = plain;
    b[local + 30 + data0.size() - 1] = '7';
    require_refused(b, {"the local header at offset",
                        "names 'linear_batchnorm/data/7', the central directory "
                        "'linear_batchnorm/data/0'"});
    Bytes c = plain;
    set32(c, local + 22, 47);
    require_refused(
        c, {"'linear_batchnorm/data/0': its local header (size 47", "disagrees with the central directory (size 48"});
  }
  {  // a size of 0xFFFFFFFF with no zip64 extra field
    Bytes b = plain;
    set32(b, central + 24, 0xFFFFFFFF);
    require_refused(b, {"points to a zip64 extra field it lacks"});
  }
  {  // data.pkl grown by 10 bytes in both headers: it overlaps data/0's local header
    Bytes b = plain;
    const std::string pkl = "linear_batchnorm/data.pkl";
    const size_t c = central_header(b, pkl), l = local_header(b, pkl);
    const uint32_t size = get32(b, c + 24) + 10;
    set32(b, c + 20, size), set32(b, c + 24, size), set32(b, l + 18, size), set32(b, l + 22, size);
    require_refused(
        b, {"zip entries 'linear_batchnorm/data.pkl' (offsets 0 to", "and 'linear_batchnorm/data/0'", "overlap"});
  }
  {  // the same name twice
    std::vector<Entry> entries = entries_of(lbn);
    entries.push_back(entries[1]);
    require_refused(write_zip(entries), {"zip entry 'linear_batchnorm/data/0' appears twice"});
  }
  {  // torch's data descriptor (after the data) disagreeing with the central directory
    Bytes b = lbn;
    const size_t descriptor = find(b, kDescriptor, data_of(b, data0));
    b[descriptor + 4] ^= 0xFF;
    require_refused(
        b, {"zip entry 'linear_batchnorm/data/0': its data descriptor", "disagrees with the central directory"});
  }
}

TEST_CASE("torch_file: archives that are not torch.save's layout are refused") {
  const Bytes pickle = state_dict_pickle({{"w", "FloatStorage", "0", 6, 0, {6}, {1}}});
  const std::vector<Entry> good{
      {"archive/data.pkl", pickle}, {"archive/data/0", kSix}, {"archive/version", bytes("3\n")}};
  REQUIRE(read(write_zip(good)).size() == 1);
  const auto without = [&](const std::string& name) {
    std::vector<Entry> e;
    for (const Entry& x : good) {
      if (x.name != name) e.push_back(x);
    }
    return e;
  };
  const auto with = [&](std::vector<Entry> e, const Entry& extra) {
    e.push_back(extra);
    return e;
  };
  require_refused(write_zip({}), {"not a zip archive"});  // an empty zip starts with its end record
  {
    Bytes empty(kLocal.begin(), kLocal.end());  // a local header, and no entry in the central directory
    empty.resize(30);
    const Bytes end = write_zip({});
    empty.insert(empty.end(), end.begin(), end.end());
    set32(empty, 30 + 16, 30);
    require_refused(empty, {"the zip archive is empty"});
  }
  require_refused(write_zip(without("archive/data.pkl")),
                  {"no entry 'archive/data.pkl' in the archive: not a torch.save file"});
  require_refused(write_zip(without("archive/data/0")), {"storage '0' has no entry 'archive/data/0' in the archive"});
  require_refused(write_zip(without("archive/version")), {"no entry 'archive/version'"});
  require_refused(write_zip(with(without("archive/version"), {"archive/version", bytes("11\n")})),
                  {"unsupported archive version '11'"});
  require_refused(write_zip(with(without("archive/version"), {"archive/version", bytes("three")})),
                  {"unsupported archive version 'three'"});
  require_refused(write_zip(with(good, {"archive/byteorder", bytes("big")})),
                  {"the tensors' byte order is 'big': tapegrad reads little-endian files"});
  require_refused(write_zip(with(good, {"other/thing", bytes("x")})),
                  {"zip entry 'other/thing' is outside the archive's folder 'archive'"});
  require_refused(write_zip({{"data.pkl", pickle}}), {"zip entry 'data.pkl' is not inside a folder"});
  require_refused(write_zip(with(good, {"archive/constants.pkl", bytes("x")})), {"a TorchScript archive"});
  // What newer torch adds is accepted: byteorder "little", .data/serialization_id, .data/version.
  std::vector<Entry> newer =
      with(with(good, {"archive/byteorder", bytes("little")}), {"archive/.data/serialization_id", bytes("1234")});
  CHECK(read(write_zip(newer)).size() == 1);
  std::vector<Entry> data_version = with(without("archive/version"), {"archive/.data/version", bytes("3\n")});
  CHECK(read(write_zip(data_version)).size() == 1);
  // Another folder name (torch uses the file's stem) is fine too.
  std::vector<Entry> renamed = good;
  for (Entry& e : renamed) e.name.replace(0, 7, "my_model");
  CHECK(read(write_zip(renamed)).size() == 1);
}

TEST_CASE("torch_file: storages too small, wrong storage classes and views outside their storage are refused") {
  using T = Tensor;
  const auto refused = [](const std::vector<T>& tensors, const Bytes& storage,
                          std::initializer_list<std::string> parts) {
    require_refused(archive(state_dict_pickle(tensors), {{"0", storage}}), parts);
  };
  refused({{"w", "FloatStorage", "0", 6, 0, {6}, {1}}}, floats({0, 1, 2, 3, 4}),
          {"storage '0' is FloatStorage of 6 elements (6 x 4 bytes), but its entry 'archive/data/0' has 20 bytes"});
  refused({{"w", "DoubleStorage", "0", 6, 0, {6}, {1}}}, kSix,
          {"storage '0' is DoubleStorage of 6 elements (6 x 8 bytes), but its entry 'archive/data/0' has 24 bytes"});
  refused({{"w", "FloatStorage", "0", 6, 0, {6}, {1}}, {"v", "IntStorage", "0", 6, 0, {6}, {1}}}, kSix,
          {"storage '0' is both FloatStorage of 6 elements and IntStorage of 6"});
  refused({{"w", "FloatStorage", "0", 6, 1, {2, 3}, {3, 1}}}, kSix,
          {"tensor of size [2, 3], stride [3, 1], offset 1 in storage '0': reads element 6 of a storage of 6 "
           "FloatStorage elements"});
  refused({{"w", "FloatStorage", "0", 6, 0, {2, 3}, {4, 1}}}, kSix, {"stride [4, 1], offset 0", "reads element 6"});
  refused({{"w", "FloatStorage", "0", 6, 0, {3, 2}, {1, 4}}}, kSix, {"reads element 6"});
  refused({{"w", "FloatStorage", "0", 6, 6, {1}, {1}}}, kSix, {"offset 6", "reads element 6"});
  refused({{"w", "FloatStorage", "0", 6, -1, {1}, {1}}}, kSix, {"negative storage offset"});
  refused({{"w", "FloatStorage", "0", 6, 5, {2}, {-1}}}, kSix, {"negative size or stride"});
  refused({{"w", "FloatStorage", "0", 6, 0, {-2, 0}, {1, 1}}}, kSix, {"negative size or stride"});
  refused({{"w", "FloatStorage", "0", 6, 0, {2, 3}, {3}}}, kSix, {"size and stride differ in length"});
  refused({{"w", "FloatStorage", "0", 6, 0, {int64_t(1) << 40, int64_t(1) << 40}, {0, 0}}}, kSix,
          {"too many elements"});
  refused({{"w", "FloatStorage", "0", 6, 0, {2, 2}, {INT64_MAX, 1}}}, kSix, {"element indices overflow"});
  // A stride-0 view of one element may not unpack to far more than the file holds.
  refused({{"w", "FloatStorage", "0", 1, 0, {int64_t(1) << 20}, {0}}}, floats({1}),
          {"the tensors unpack to more than 16 times the file's", "at 'w', [1048576] of F32", "likely hostile file"});
  refused({{"w", "ComplexFloatStorage", "0", 6, 0, {6}, {1}}}, kSix,
          {"pickle opcode 'c' global 'torch ComplexFloatStorage' is not allowed"});
  // The fixture with its storage class swapped.
  require_refused(with_pickle_edit("linear_batchnorm.pt", "torch\nFloatStorage", "torch\nDoubleStorage"),
                  {"storage '0' is DoubleStorage of 12 elements (12 x 8 bytes), but its entry "
                   "'linear_batchnorm/data/0' has 48 bytes"});
}

// BINUNICODE of s.
std::string X(const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  return "X" + std::string(reinterpret_cast<const char*>(&n), 4) + s;
}
// {'w': _rebuild_tensor_v2(<storage '0' of 6 floats>, 0, (6,), (1,), <rest>)}, `rest` the
// opcodes of the arguments after the stride.
Bytes tensor_with(const std::string& rest) {
  Pickle p;
  p.ordered_dict()
      .str("w")
      .global("torch._utils", "_rebuild_tensor_v2")
      .op("((")
      .str("storage")
      .global("torch", "FloatStorage");
  p.str("0").str("cpu").integer(6).op("tQ").integer(0).ints({6}).ints({1}).op(rest).op("tRs");
  return p.done();
}

TEST_CASE("torch_file: pickles a state dict does not write are refused") {
  const auto refused = [](const std::string& body, std::initializer_list<std::string> parts) {
    require_refused(archive(bytes(body), {{"0", kSix}}), parts);
  };
  const std::string proto("\x80\x02", 2);
  // Bad bytes, unsupported opcodes, truncation.
  refused(proto + "\xff.", {"pickle 'archive/data.pkl' at offset 2: byte 0xff is not a pickle opcode"});
  refused(proto + "i__builtin__\nobject\n.", {"pickle opcode 'i' (INST) is not supported"});
  refused(proto + "S'abc'\n.", {"pickle opcode 'S' (STRING) is not supported"});
  refused(proto + "N", {"truncated: an opcode needs 1 bytes"});
  refused(proto + X("abc").substr(0, 1) + std::string("\x10\0\0\0", 4) + "abc",
          {"truncated: BINUNICODE's string needs 16 bytes, the pickle has 3 left"});
  refused(proto + "ccollections\nOrdered", {"truncated: GLOBAL's name has no end of line"});
  refused(proto + "\x8a\x09" + std::string(9, '\x01') + ".", {"LONG1 of 9 bytes: the integer does not fit in 64 bits"});
  refused(proto + X("\xff") + ".", {"a string that is not UTF-8"});
  refused(proto + X("\xc0\x80") + ".", {"a string that is not UTF-8"});  // an overlong NUL
  refused(std::string("\x80\x01N.", 4), {"PROTO 1"});
  refused("N.", {"does not start with PROTO"});
  refused(proto + "N.N", {"1 bytes after STOP"});
  refused(proto + "NN.", {"STOP with 2 values and 0 marks on the stack"});
  refused(proto + "(N.", {"STOP with 1 values and 1 marks"});
  refused(proto + "h\x63.", {"memo entry 99 is read before it is written"});
  refused(proto + "s.", {"the stack is empty (below the last MARK) for opcode 's'"});
  refused(proto + "N(s.", {"the stack is empty (below the last MARK)"});
  refused(proto + "Nt.", {"opcode 't' (TUPLE) without a MARK"});
  refused(proto + "N\x87.", {"TUPLE3 on a stack of 1 values"});
  // Globals: only the allowed ones, by GLOBAL and by STACK_GLOBAL.
  refused(proto + "cos\nsystem\n" + X("ls") + "\x85R.", {"pickle opcode 'c' global 'os system' is not allowed"});
  refused(proto + "cbuiltins\neval\n.", {"global 'builtins eval' is not allowed"});
  refused(std::string("\x80\x04", 2) + "\x8c\x02os\x8c\x06system\x93.",
          {"pickle opcode 0x93 global 'os system' is not allowed"});
  require_refused(with_pickle_edit("linear_batchnorm.pt", "collections\nOrderedDict", "os\nsystem"),
                  {"pickle opcode 'c' global 'os system' is not allowed"});
  {  // protocol 4's STACK_GLOBAL, its FRAME's length adjusted to the shorter pickle
    const std::string from(
        "\x8c\x0b"
        "collections\x94\x8c\x0bOrderedDict"),
        to("\x8c\x05posix\x94\x8c\x06system");
    std::vector<Entry> entries = entries_of(fixture("protocol4.pt"));
    std::string pickle(entries.front().data.begin(), entries.front().data.end());
    REQUIRE(pickle.compare(2, 1, "\x95") == 0);
    pickle.replace(pickle.find(from), from.size(), to);
    uint64_t frame = 0;
    std::memcpy(&frame, pickle.data() + 3, 8);
    frame -= from.size() - to.size();
    std::memcpy(&pickle[3], &frame, 8);
    entries.front().data = bytes(pickle);
    require_refused(write_zip(entries), {"pickle opcode 0x93 global 'posix system' is not allowed"});
  }
  // What is not a state dict.
  refused(proto + "N.", {"the pickle holds a None, not a state dict"});
  refused(proto +
              "]K\x01"
              "a.",
          {"the pickle holds a list, not a state dict"});
  refused(proto + "}K\x01K\x02s.", {"the state dict has a key of type int, not str"});
  refused(proto + "}" + X("w") + std::string("G\x3f\xf0\0\0\0\0\0\0", 9) + "s.",
          {"state dict entry 'w' is a float, not a tensor"});
  Pickle duplicate;
  duplicate.ordered_dict().op("(").str("w").tensor("FloatStorage", "0", 6, 0, {6}, {1}).str("w");
  duplicate.tensor("FloatStorage", "0", 6, 0, {2}, {1}).op("u");
  require_refused(archive(duplicate.done(), {{"0", kSix}}), {"the state dict has the key 'w' twice"});
  // Calls with the wrong arguments.
  refused(proto + "N)R.", {"REDUCE calls a None"});
  refused(proto + "ccollections\nOrderedDict\nN\x85R.", {"OrderedDict is called with arguments"});
  refused(proto + "ctorch\nFloatStorage\n)R.", {"REDUCE calls the storage class FloatStorage"});
  refused(proto + "ctorch._utils\n_rebuild_tensor_v2\n(NNNNNtR.", {"_rebuild_tensor_v2 takes 6 or 7 arguments, not 5"});
  refused(proto + "ctorch._utils\n_rebuild_tensor_v2\n(NNNNNNtR.",
          {"_rebuild_tensor_v2's storage is a None, not a storage"});
  refused(proto + "ctorch._utils\n_rebuild_parameter\n(NNNtR.",
          {"_rebuild_parameter's arguments are not (tensor, bool, empty OrderedDict)"});
  refused(proto + "(" + X("storage") + "NNNNtQ.",
          {"a persistent id that is not ('storage', <storage class>, <key>, <location>, <numel>)"});
  refused(proto + "NQ.", {"a persistent id that is a None, not a tuple"});
  refused(proto + "]}b.", {"BUILD on a list"});
  refused(proto + "}Nb.", {"BUILD's state is a None, not a dict"});
  refused(proto + "}}" + X("foo") + "Nsb.", {"BUILD sets an attribute other than _metadata"});
  // The arguments after the stride: requires_grad, hooks, metadata.
  CHECK(read(archive(tensor_with("\x89}"), {{"0", kSix}})).size() == 1);   // hooks as a plain dict
  CHECK(read(archive(tensor_with("\x88}}"), {{"0", kSix}})).size() == 1);  // empty metadata
  CHECK(read(archive(tensor_with("\x89}N"), {{"0", kSix}})).size() == 1);  // metadata None
  require_refused(archive(tensor_with("\x89}K\x01K\x02s"), {{"0", kSix}}),
                  {"backward hooks are not an empty OrderedDict"});
  require_refused(archive(tensor_with("K\x01}"), {{"0", kSix}}), {"requires_grad is an int, not a bool"});
  require_refused(archive(tensor_with("\x89}}" + X("conj") + "\x88s"), {{"0", kSix}}), {"metadata is not empty"});
  require_refused(archive(tensor_with("\x89}NN"), {{"0", kSix}}), {"takes 6 or 7 arguments, not 8"});
  // A truncated fixture pickle, cut at many points: always "truncated", never a crash.
  const std::vector<Entry> entries = entries_of(fixture("linear_batchnorm.pt"));
  for (size_t cut = 1; cut < entries.front().data.size(); cut += 37) {
    std::vector<Entry> e = entries;
    e.front().data.resize(cut);
    INFO("pickle cut at " << cut);
    require_refused(write_zip(e), {"pickle 'linear_batchnorm/data.pkl' at offset", "truncated"});
  }
}

TEST_CASE("torch_file: LONG1, BININT, BININT2 and the 4-byte memo read as Python does") {
  // w: numel 6 as LONG1, offset 0 as BININT, size (2, 3) as BININT2 and an 8-byte LONG1, kept in
  // memo 300 (LONG_BINPUT); v: the same storage, its size read back with LONG_BINGET.
  const auto storage = [](Pickle& q) {
    q.op("((")
        .str("storage")
        .global("torch", "FloatStorage")
        .str("0")
        .str("cpu")
        .op(std::string("\x8a\x01\x06", 3))
        .op("tQ");
  };
  Pickle q;
  q.ordered_dict().op("(").str("w").global("torch._utils", "_rebuild_tensor_v2");
  storage(q);
  q.op(std::string("J\0\0\0\0", 5));
  q.op("(").op(std::string("M\x02\0", 3)).op(std::string("\x8a\x08\x03\0\0\0\0\0\0\0", 10)).op("t");
  q.op(std::string("r\x2c\x01\0\0", 5));
  q.ints({3, 1}).op("\x89").ordered_dict().op("tR");
  q.str("v").global("torch._utils", "_rebuild_tensor_v2");
  storage(q);
  q.integer(0).op(std::string("j\x2c\x01\0\0", 5)).ints({1, 2}).op("\x89").ordered_dict().op("tR").op("u");
  const io::TensorRecords r = read(archive(q.done(), {{"0", kSix}}));
  REQUIRE(r.size() == 2);
  CHECK(r[0].shape == tg::Shape{2, 3});
  CHECK(floats_of(r[0]) == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK(r[1].shape == tg::Shape{2, 3});
  CHECK(floats_of(r[1]) == std::vector<float>{0, 2, 4, 1, 3, 5});
  // LONG1 0xff is -1 (sign-extended), so this stride is refused as negative, not read as 255.
  Pickle n;
  n.ordered_dict().str("w").global("torch._utils", "_rebuild_tensor_v2");
  storage(n);
  n.integer(5).ints({2}).op("(").op(std::string("\x8a\x01\xff", 3)).op("t").op("\x89").ordered_dict().op("tRs");
  require_refused(archive(n.done(), {{"0", kSix}}), {"stride [-1]", "negative size or stride"});
}
