// State dicts and safetensors files: PyTorch's keys and order, all-or-nothing loading, every
// dtype a file may hold, and the corrupt files a reader must refuse (each naming the file and
// the problem, nothing changed).
#include <cstdio>
#include <fstream>
#include <sys/stat.h>

#include <tapegrad/io.hpp>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using tapegrad_test::bytes_of;
using tapegrad_test::describe_state;
using tapegrad_test::error_of;
using tapegrad_test::TempFile;
using tapegrad_test::write_bytes;
using tapegrad_test::Watch;

namespace {

// A safetensors file from a header text (padded as given) and data bytes.
std::vector<uint8_t> safetensors_bytes(const std::string& header, const std::vector<uint8_t>& data,
                                       uint64_t header_length) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(header_length >> (8 * i)));  // little-endian
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
std::vector<uint8_t> safetensors_bytes(const std::string& header, const std::vector<uint8_t>& data) {
  return safetensors_bytes(header, data, header.size());
}

tg::nn::Sequential<float> small_model() {
  return tg::nn::Sequential(tg::nn::Linear(4, 8), tg::nn::BatchNorm1d(8), tg::nn::ReLU(), tg::nn::Linear(8, 3));
}

}  // namespace

TEST_CASE("state_dict has PyTorch's keys and order: each module's parameters, then its buffers, then its children") {
  tg::manual_seed(0);
  auto model = small_model();
  std::vector<std::string> keys;
  for (const auto& [key, value] : model.state_dict()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                         "1.num_batches_tracked", "3.weight", "3.bias"});
  CHECK(model.integral_state_keys() == std::vector<std::string>{"1.num_batches_tracked"});
  // The entries are the module's own tensors, not copies.
  CHECK(model.state_dict()[0].second.data() == model.named_parameters()[0].second.data());
}

TEST_CASE("load_state_dict copies into the same tensors, all or nothing") {
  tg::manual_seed(1);
  auto source = small_model();
  source(tg::randn({5, 4}));  // running statistics and the batch count move
  auto target = small_model();
  const float* weight_storage = target.named_parameters()[0].second.data();
  target.load_state_dict(source.state_dict());
  CHECK(describe_state(target) == describe_state(source));
  CHECK(target.named_parameters()[0].second.data() == weight_storage);  // an optimizer's handles still hold

  auto fresh = small_model();
  const Watch watch(fresh);
  auto sd = source.state_dict();
  auto missing = sd;
  missing.erase(missing.begin() + 6);
  CHECK(error_of([&] { fresh.load_state_dict(missing); }) ==
        "load_state_dict: missing key(s): \"1.num_batches_tracked\"");
  auto unexpected = sd;
  unexpected.push_back({"4.weight", tg::zeros({1})});
  CHECK(error_of([&] { fresh.load_state_dict(unexpected); }) == "load_state_dict: unexpected key(s): \"4.weight\"");
  auto reshaped = sd;
  reshaped.back().second = tg::zeros({4});
  CHECK(error_of([&] { fresh.load_state_dict(reshaped, false); }) ==
        "load_state_dict: size mismatch for \"3.bias\": copying a tensor of shape [4], the shape in this module is [3]");
  auto twice = sd;
  twice.push_back(sd.front());
  CHECK(error_of([&] { fresh.load_state_dict(twice); }) == "load_state_dict: the key \"0.weight\" is given twice");
  auto undefined = sd;
  undefined[2].second = tg::Tensor<float>();
  CHECK(error_of([&] { fresh.load_state_dict(undefined); }) == "load_state_dict: \"1.weight\" is an undefined tensor");
  CHECK(watch.state() == Watch(fresh).state());

  // Not strict: what fits is loaded, the rest reported.
  auto partial = unexpected;
  partial.erase(partial.begin() + 6);
  const auto result = fresh.load_state_dict(partial, false);
  CHECK(result.missing_keys == std::vector<std::string>{"1.num_batches_tracked"});
  CHECK(result.unexpected_keys == std::vector<std::string>{"4.weight"});
  CHECK(fresh.state_dict()[0].second.to_vector() == source.state_dict()[0].second.to_vector());
}

TEST_CASE("save and load a module through safetensors, float and double, num_batches_tracked as I64") {
  TempFile file("io_safetensors_test.model.safetensors");
  tg::manual_seed(2);
  auto model = small_model();
  model(tg::randn({6, 4}));
  model(tg::randn({6, 4}));
  tg::save(model, file.path);

  // The header as PyTorch's safetensors would read it.
  const auto bytes = bytes_of(file.path);
  tg::io::Metadata metadata;
  const auto records = tg::io::read_safetensors(bytes.data(), bytes.size(), file.path, &metadata);
  REQUIRE(records.size() == 9);
  CHECK(metadata == tg::io::Metadata{{"format", "pt"}});
  CHECK(records[6].name == "1.num_batches_tracked");
  CHECK(records[6].dtype == tg::io::DType::I64);
  CHECK(records[6].shape.empty());
  int64_t count = 0;
  std::memcpy(&count, records[6].bytes.data(), 8);
  CHECK(count == 2);
  CHECK(records[0].dtype == tg::io::DType::F32);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  CHECK(header_length % 8 == 0);

  auto loaded = small_model();
  tg::load(loaded, file.path);
  CHECK(describe_state(loaded) == describe_state(model));

  // Double modules write F64; a float file loads into a double module and back, exactly.
  tg::nn::Sequential<double> wide(tg::nn::Linear<double>(4, 8), tg::nn::BatchNorm1d<double>(8), tg::nn::ReLU<double>(),
                                  tg::nn::Linear<double>(8, 3));
  tg::load(wide, file.path);
  CHECK(wide.state_dict()[0].second.to_vector() ==
        std::vector<double>(model.state_dict()[0].second.data(), model.state_dict()[0].second.data() + 32));
  TempFile wide_file("io_safetensors_test.wide.safetensors");
  tg::save(wide, wide_file.path);
  const auto wide_bytes = bytes_of(wide_file.path);
  CHECK(tg::io::read_safetensors(wide_bytes.data(), wide_bytes.size(), wide_file.path)[0].dtype == tg::io::DType::F64);
  auto narrowed = small_model();
  tg::load(narrowed, wide_file.path);
  CHECK(describe_state(narrowed) == describe_state(model));

  // save_tensors / load_tensors: any names, the data's order kept.
  TempFile named("io_safetensors_test.named.safetensors");
  tg::NamedTensors<double> tensors = {{"z", tg::tensor<double>({1, 2, 3}, {3})}, {"a", tg::full<double>({2, 2}, 0.5)},
                                      {"empty", tg::zeros<double>({0, 4})}};
  tg::save_tensors(tensors, named.path, {{"note", "hello"}});
  tg::io::Metadata note;
  const auto back = tg::load_tensors<double>(named.path, &note);
  REQUIRE(back.size() == 3);
  CHECK(back[0].first == "z");
  CHECK(back[1].second.to_vector() == std::vector<double>{0.5, 0.5, 0.5, 0.5});
  CHECK(back[2].second.shape() == tg::Shape{0, 4});
  CHECK(note == tg::io::Metadata{{"note", "hello"}});
}

TEST_CASE("safetensors files of every dtype load, F16 and BF16 converted exactly") {
  // F16 [1, -2, 0.5, 65504, 2^-24 (smallest subnormal), inf], BF16 [1, -3.5], I32 [7], U8 [200], BOOL [1, 0]
  const std::vector<uint8_t> data = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c,
                                     0x80, 0x3f, 0x60, 0xc0, 7,    0,    0,    0,    200,  1,    0};
  std::string header =
      R"({"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},)"
      R"("i":{"dtype":"I32","shape":[1],"data_offsets":[16,20]},"u":{"dtype":"U8","shape":[1],"data_offsets":[20,21]},)"
      R"("t":{"dtype":"BOOL","shape":[2],"data_offsets":[21,23]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  TempFile file("io_safetensors_test.dtypes.safetensors");
  write_bytes(file.path, safetensors_bytes(header, data));
  const auto t = tg::load_tensors<float>(file.path);
  REQUIRE(t.size() == 5);
  CHECK(t[0].first == "h");
  CHECK(t[0].second.shape() == tg::Shape{2, 3});
  CHECK(t[0].second.to_vector() == std::vector<float>{1, -2, 0.5f, 65504, 0x1p-24f, INFINITY});
  CHECK(t[1].second.to_vector() == std::vector<float>{1, -3.5f});
  CHECK(t[2].second.item() == 7);
  CHECK(t[3].second.item() == 200);
  CHECK(t[4].second.to_vector() == std::vector<float>{1, 0});
}

TEST_CASE("corrupt safetensors files throw naming the file and the problem, and change nothing") {
  tg::manual_seed(3);
  auto model = small_model();
  TempFile good("io_safetensors_test.good.safetensors");
  tg::save(model, good.path);
  const auto valid = bytes_of(good.path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, valid.data(), 8);
  const std::string header(valid.begin() + 8, valid.begin() + 8 + static_cast<int64_t>(header_length));
  const std::vector<uint8_t> data(valid.begin() + 8 + static_cast<int64_t>(header_length), valid.end());

  auto target = small_model();
  const Watch watch(target);
  TempFile bad("io_safetensors_test.bad.safetensors");
  const std::string& p = bad.path;
  auto refused = [&](const std::vector<uint8_t>& bytes, const std::string& problem) {
    write_bytes(p, bytes);
    const std::string message = error_of([&] { tg::load(target, p); });
    INFO("expected: load: " << p << ": " << problem);
    INFO("got:      " << message);
    CHECK(message.rfind("load: " + p + ": ", 0) == 0);
    CHECK(message.find(problem) != std::string::npos);
    CHECK(watch.state() == Watch(target).state());
  };
  auto with_header = [&](std::string text, const std::string& problem) {
    text.append((8 - text.size() % 8) % 8, ' ');
    refused(safetensors_bytes(text, data), problem);
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = header;
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };

  // Truncated at several points: inside the length, inside the header, inside the data.
  refused({}, "truncated: 0 bytes, not even the 8-byte header length");
  refused(std::vector<uint8_t>(valid.begin(), valid.begin() + 5), "truncated: 5 bytes");
  refused(std::vector<uint8_t>(valid.begin(), valid.begin() + 8 + static_cast<int64_t>(header_length) / 2),
          "truncated: the header needs " + std::to_string(header_length) + " bytes");
  refused(std::vector<uint8_t>(valid.begin(), valid.end() - 3), "lie outside the");
  refused(std::vector<uint8_t>(valid.begin(), valid.begin() + 8 + static_cast<int64_t>(header_length)),
          "lie outside the 0-byte data buffer");
  // A header length beyond any file, and past the limit.
  refused(safetensors_bytes(header, data, uint64_t(1) << 62), "exceeds the limit of 100000000 bytes");
  refused(safetensors_bytes(header, data, header.size() + data.size() + 1), "truncated: the header needs");
  // Not JSON, not an object, a key twice, nested too deep.
  with_header(replaced("\"shape\"", "\"shape"), "the header is not valid JSON");
  with_header("[1, 2]", "the header is not a JSON object");
  with_header(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",
              "the header names \"a\" twice");
  with_header(R"({"a":{"dtype":"F32","shape":[[[[1]]]],"data_offsets":[0,4]}})", "nests deeper than safetensors does");
  with_header(R"({"a":{"dtype":"F64","dtype":"F32","shape":[],"data_offsets":[0,4]}})", "the header names \"dtype\" twice");
  {
    std::string nine = R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})";
    nine.append((8 - nine.size() % 8) % 8, ' ');
    refused(safetensors_bytes(nine, std::vector<uint8_t>(4)), "\"a\": 9 dimensions; tapegrad's tensors have at most 8");
  }
  // Entries: an unknown dtype, a missing field, a bad shape, offsets backwards, outside,
  // overlapping, with a gap, not covering the buffer, and a span that does not fit the shape.
  with_header(replaced("\"F32\"", "\"F8_E4M3\""), "\"0.weight\": unsupported dtype \"F8_E4M3\"");
  with_header(replaced("\"data_offsets\":[0,128]", "\"offsets\":[0,128]"),
              "\"0.weight\" lacks one of \"dtype\", \"shape\", \"data_offsets\"");
  with_header(replaced("\"shape\":[8,4]", "\"shape\":[8,-4]"), "\"0.weight\": \"shape\" holds -4, not a nonnegative integer");
  with_header(replaced("\"data_offsets\":[0,128]", "\"data_offsets\":[128,0]"), "\"0.weight\": data_offsets [128, 0] run backwards");
  with_header(replaced("\"data_offsets\":[0,128]", "\"data_offsets\":[0,100000]"),
              "\"0.weight\": data_offsets [0, 100000] lie outside the");
  with_header(replaced("\"data_offsets\":[128,160]", "\"data_offsets\":[96,128]"), "overlaps the tensor before it");
  with_header(replaced("\"shape\":[8,4]", "\"shape\":[7,4]"),
              "\"0.weight\": shape [7, 4] of F32 needs 28 x 4 bytes, but data_offsets [0, 128] hold 128");
  with_header(replaced("\"shape\":[8,4],\"data_offsets\":[0,128]", "\"shape\":[8,3],\"data_offsets\":[32,128]"),
              "a gap of 32 bytes before \"0.weight\" at offset 32");
  {
    auto longer = valid;
    longer.push_back(0);
    refused(longer, "the tensors cover " + std::to_string(data.size()) + " bytes of the " +
                        std::to_string(data.size() + 1) + "-byte data buffer");
  }
  with_header(replaced("\"format\":\"pt\"", "\"format\":1"), "\"__metadata__\": the value of \"format\" is not a string");
  // A valid file whose keys or shapes do not fit the module.
  with_header(replaced("\"0.weight\"", "\"0.weights\""), "load_state_dict: missing key(s): \"0.weight\"; unexpected key(s): \"0.weights\"");
  with_header(replaced("\"shape\":[8,4],\"data_offsets\":[0,128]", "\"shape\":[4,8],\"data_offsets\":[0,128]"),
              "size mismatch for \"0.weight\": copying a tensor of shape [4, 8], the shape in this module is [8, 4]");
  // Paths that are no file.
  CHECK(error_of([&] { tg::load(target, "io_safetensors_test.no-such-file"); }) ==
        "load: io_safetensors_test.no-such-file: no such file");
  CHECK(error_of([&] { tg::load(target, "."); }) == "load: .: not a regular file");
  CHECK(watch.state() == Watch(target).state());
}

TEST_CASE("a failed save leaves the earlier file whole") {
  tg::manual_seed(4);
  auto model = small_model();
  TempFile file("io_safetensors_test.kept.safetensors");
  tg::save(model, file.path);
  const auto before = bytes_of(file.path);
  CHECK(error_of([&] { tg::save(model, "no-such-directory/x.safetensors"); }) ==
        "save: no-such-directory/x.safetensors: cannot be opened for writing");
  tg::NamedTensors<float> clash = {{"__metadata__", tg::zeros({1})}};
  CHECK(error_of([&] { tg::save_tensors(clash, file.path); }) == "save: a tensor may not be named \"__metadata__\"");
  CHECK(bytes_of(file.path) == before);
}
