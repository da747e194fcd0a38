// data::MNIST on small MNIST directories the tests write (raw and gzipped), its checks with
// their exact messages, and on Debian's Fashion-MNIST (dataset-fashion-mnist) against
// tests/golden/fashion_mnist.txt, which tools/gen_data_idx_golden.py reads from the same files
// with Python's gzip and struct (skipped, with a warning, where the package is not installed).
// Also the examples' digits loader (examples/common/digits.hpp) against scikit-learn's
// load_digits (tests/golden/digits.txt).
#include <sys/stat.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "../examples/common/digits.hpp"
#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes idx_file(uint8_t type, const std::vector<uint32_t>& sizes, const Bytes& payload) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(sizes.size())};
  for (uint32_t s : sizes) {
    for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(s >> (8 * i)));
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// A directory of MNIST files: `n` images whose pixel j of image i is (i * 31 + j) % 256, and
// the labels given; `gz` writes name.gz instead of name.
struct MnistDir {
  std::string root;
  std::vector<std::string> files;
  explicit MnistDir(std::string r) : root(std::move(r)) { ::mkdir(root.c_str(), 0755); }
  ~MnistDir() {
    for (const std::string& f : files) std::remove(f.c_str());
    ::rmdir(root.c_str());
  }
  void write(const std::string& name, const Bytes& bytes, bool gz) {
    const std::string path = root + "/" + name + (gz ? ".gz" : "");
    files.push_back(path);
    if (gz) {
      write_gz(path, bytes);
    } else {
      write_bytes(path, bytes);
    }
  }
  void write_set(const std::string& prefix, const Bytes& labels, bool gz, uint32_t rows = 28) {
    Bytes pixels(labels.size() * rows * 28);
    for (size_t i = 0; i < pixels.size(); ++i)
      pixels[i] = static_cast<uint8_t>((i / (rows * 28)) * 31 + i % (rows * 28));
    write(prefix + "-images-idx3-ubyte", idx_file(0x08, {static_cast<uint32_t>(labels.size()), rows, 28}, pixels), gz);
    write(prefix + "-labels-idx1-ubyte", idx_file(0x08, {static_cast<uint32_t>(labels.size())}, labels), gz);
  }
};

template <class T>
void check_synthetic(const tg::data::MNIST<T>& m, const Bytes& labels) {
  const auto n = static_cast<int64_t>(labels.size());
  REQUIRE(m.size() == n);
  REQUIRE(m.images().shape() == tg::Shape{n, 1, 28, 28});
  REQUIRE(m.targets().shape() == tg::Shape{n});
  for (int64_t i = 0; i < n; ++i) {
    CHECK(m.targets().data()[i] == static_cast<T>(labels[static_cast<size_t>(i)]));
    for (int64_t j = 0; j < 784; ++j) {
      const auto byte = static_cast<uint8_t>(i * 31 + j);
      // byte / 255 computed in T, as libtorch's .to(kFloat32).div_(255) and ToTensor's img.float().div(255)
      CHECK(m.images().data()[i * 784 + j] == static_cast<T>(byte) / static_cast<T>(255));
    }
  }
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

TEST_CASE("MNIST reads train and t10k files, raw or gzipped, as libtorch's MNIST") {
  MnistDir dir("mnist_test_dir");
  const Bytes train_labels = {5, 0, 4, 1, 9}, test_labels = {7, 2, 1};
  dir.write_set("train", train_labels, false);
  dir.write_set("t10k", test_labels, true);
  const tg::data::MNIST<float> train(dir.root);
  CHECK(train.is_train());
  check_synthetic(train, train_labels);
  const tg::data::MNIST<double> test(dir.root + "/", tg::data::MNIST<double>::Mode::kTest);
  CHECK(!test.is_train());
  check_synthetic(test, test_labels);
  const tg::data::MNIST<float> test_by_flag(dir.root, /*train=*/false);
  check_synthetic(test_by_flag, test_labels);

  // A TensorDataset: get(i) and a DataLoader's batches.
  const auto [x3, y3] = train.get(3);
  CHECK(x3.shape() == tg::Shape{1, 28, 28});
  CHECK(y3.item() == 1.0f);
  tg::data::DataLoader<float> loader(train, 2);
  std::vector<int64_t> batch_sizes;
  for (const auto& [xb, yb] : loader) {
    CHECK(xb.shape() == tg::Shape{yb.size(0), 1, 28, 28});
    batch_sizes.push_back(yb.size(0));
  }
  CHECK(batch_sizes == std::vector<int64_t>{2, 2, 1});
}

TEST_CASE("MNIST refuses missing files, wrong shapes and types, labels out of range, counts that differ") {
  const auto message = [](const std::string& root, bool train = true) {
    return error_of([&] { tg::data::MNIST<float> m(root, train); });
  };
  CHECK(message("no_such_mnist") ==
        "MNIST: no_such_mnist: has neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz");
  {
    MnistDir dir("mnist_bad_dir");
    dir.write_set("train", {1, 2}, false);
    CHECK(message(dir.root, false) ==
          "MNIST: mnist_bad_dir: has neither t10k-images-idx3-ubyte nor t10k-images-idx3-ubyte.gz");
  }
  {
    MnistDir dir("mnist_bad_dir");
    dir.write_set("train", {1, 2}, true, 27);  // 27 x 28 images
    CHECK(message(dir.root) ==
          "MNIST: mnist_bad_dir/train-images-idx3-ubyte.gz: expected images of unsigned byte, "
          "shape (N, 28, 28), got unsigned byte of shape [2, 27, 28]");
  }
  {
    MnistDir dir("mnist_bad_dir");
    dir.write_set("train", {1, 10, 3}, false);
    CHECK(message(dir.root) ==
          "MNIST: mnist_bad_dir/train-labels-idx1-ubyte: label 10 of example 1 is not a class 0..9");
  }
  {
    MnistDir dir("mnist_bad_dir");
    dir.write("train-images-idx3-ubyte", idx_file(0x08, {2, 28, 28}, Bytes(2 * 784)), false);
    dir.write("train-labels-idx1-ubyte", idx_file(0x08, {3}, {1, 2, 3}), false);
    CHECK(message(dir.root) == "MNIST: mnist_bad_dir: 2 images but 3 labels");
  }
  {
    MnistDir dir("mnist_bad_dir");
    dir.write("train-images-idx3-ubyte", idx_file(0x08, {1, 28, 28}, Bytes(784)), false);
    dir.write("train-labels-idx1-ubyte", idx_file(0x0C, {1}, {0, 0, 0, 1}), false);
    CHECK(message(dir.root) ==
          "MNIST: mnist_bad_dir/train-labels-idx1-ubyte: expected labels of unsigned byte, shape (N), "
          "got int of shape [1]");
  }
  {
    MnistDir dir("mnist_bad_dir");
    dir.write("train-images-idx3-ubyte", idx_file(0x08, {1, 28, 28}, Bytes(783)), false);
    dir.write("train-labels-idx1-ubyte", idx_file(0x08, {1}, {0}), false);
    CHECK(message(dir.root) ==
          "read_idx: mnist_bad_dir/train-images-idx3-ubyte: dimensions [1, 28, 28] of unsigned byte "
          "need 784 data bytes, the file has 783 after its 16-byte header (truncated or corrupt)");
  }
}

TEST_CASE("MNIST reads Debian's Fashion-MNIST as Python's gzip and struct read it") {
  // TAPEGRAD_FASHION_MNIST names another copy (or a missing one, to see the skip).
  const char* env = std::getenv("TAPEGRAD_FASHION_MNIST");
  const std::string root = env ? env : "/usr/share/datasets/fashion-mnist";
  if (!is_directory(root)) {
    WARN("skipped: " << root << " is not installed (Debian/Ubuntu: apt-get install dataset-fashion-mnist)");
    return;
  }
  const Golden& g = golden_file("fashion_mnist.txt");
  for (const bool train : {true, false}) {
    const std::string set = train ? "train" : "t10k";
    INFO("set " << set);
    const tg::data::MNIST<float> m(root, train);
    const auto n = static_cast<int64_t>(golden_entry(g, set + ".count").values[0]);
    REQUIRE(m.images().shape() == tg::Shape{n, 1, 28, 28});
    REQUIRE(m.targets().shape() == tg::Shape{n});
    const float* x = m.images().data();
    const float* y = m.targets().data();
    // Every pixel back to its byte (byte / 255 in float rounds back exactly), and in [0, 1].
    std::vector<int64_t> bytes(static_cast<size_t>(n * 784));
    int64_t inexact = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = std::lround(x[i] * 255.0f);
      inexact += x[i] != static_cast<float>(bytes[i]) / 255.0f || bytes[i] < 0 || bytes[i] > 255;
    }
    CHECK(inexact == 0);
    double pixel_sum = 0;
    for (int64_t b : bytes) pixel_sum += static_cast<double>(b);
    CHECK(pixel_sum == golden_entry(g, set + ".pixel_sum").values[0]);
    const std::vector<double>& sums = golden_entry(g, set + ".image_sums").values;
    for (size_t i = 0; i < 3; ++i) {
      double s = 0;
      for (size_t j = 0; j < 784; ++j) s += static_cast<double>(bytes[i * 784 + j]);
      CHECK(s == sums[i]);
    }
    const std::vector<double>& row0 = golden_entry(g, set + ".image0_row14").values;
    const std::vector<double>& row_last = golden_entry(g, set + ".image_last_row14").values;
    for (size_t j = 0; j < 28; ++j) {
      CHECK(x[14 * 28 + j] == static_cast<float>(row0[j]) / 255.0f);
      CHECK(x[(n - 1) * 784 + 14 * 28 + j] == static_cast<float>(row_last[j]) / 255.0f);
    }
    const std::vector<double>& first = golden_entry(g, set + ".labels_first20").values;
    for (size_t i = 0; i < 20; ++i) CHECK(y[i] == static_cast<float>(first[i]));
    std::vector<double> counts(10);
    for (int64_t i = 0; i < n; ++i) counts[static_cast<size_t>(y[i])] += 1;
    CHECK(counts == golden_entry(g, set + ".label_counts").values);
  }
}

TEST_CASE("load_digits reads examples/data/digits.csv.gz as scikit-learn's load_digits, divided by 16") {
  const Golden& g = golden_file("digits.txt");
  const auto digits = examples::load_digits<double>(std::string(TAPEGRAD_EXAMPLES_DATA_DIR) + "/digits.csv.gz");
  const std::vector<double>& shape = golden_entry(g, "digits.shape").values;
  const auto n = static_cast<int64_t>(shape[0]);
  REQUIRE(digits.images.shape() == tg::Shape{n, 1, 8, 8});
  REQUIRE(digits.targets.shape() == tg::Shape{n});
  const double* x = digits.images.data();
  const std::vector<double>& first = golden_entry(g, "digits.image0").values;
  const std::vector<double>& last = golden_entry(g, "digits.image_last").values;
  for (size_t j = 0; j < 64; ++j) {
    CHECK(x[j] == first[j]);
    CHECK(x[(n - 1) * 64 + static_cast<int64_t>(j)] == last[j]);
  }
  double sum = 0;
  for (int64_t i = 0; i < digits.images.numel(); ++i) sum += x[i];
  CHECK(sum == golden_entry(g, "digits.pixel_sum").values[0]);
  const std::vector<double>& first_targets = golden_entry(g, "digits.targets_first20").values;
  for (size_t i = 0; i < 20; ++i) CHECK(digits.targets.data()[i] == first_targets[i]);
  std::vector<double> counts(10);
  for (int64_t i = 0; i < n; ++i) counts[static_cast<size_t>(digits.targets.data()[i])] += 1;
  CHECK(counts == golden_entry(g, "digits.target_counts").values);
  // float gives the same values (k / 16 is exact in both).
  const auto digits_float = examples::load_digits<float>(std::string(TAPEGRAD_EXAMPLES_DATA_DIR) + "/digits.csv.gz");
  for (size_t j = 0; j < 64; ++j) CHECK(digits_float.images.data()[j] == static_cast<float>(first[j]));
}

TEST_CASE("load_digits refuses a malformed file with its line and value") {
  TempFile f("digits_bad_test.csv.gz");
  const auto refused = [&](const std::string& text) {
    write_gz(f.path, Bytes(text.begin(), text.end()));
    return error_of([&] { examples::load_digits<float>(f.path); });
  };
  std::string row;
  for (int i = 0; i < 64; ++i) row += std::to_string(i % 17) + ",";
  CHECK(refused(row + "3\n" + row + "4\n") == "no error");
  CHECK(refused(row + "3") == "no error");  // no final newline
  const std::string p = "load_digits: " + f.path;
  CHECK(refused("") == p + ": no examples");
  CHECK(refused(row + "3\n" + row + "10\n") == p + ": line 2, value 65 is 10, not a digit 0..9");
  CHECK(refused("17," + row.substr(2) + "3\n") == p + ": line 1, value 1 is 17, not a pixel count 0..16");
  CHECK(refused(row + "3,4\n") == p + ": line 1, value 65 is not a number followed by '\\n'");
  CHECK(refused(row.substr(0, row.size() - 3) + "\n") == p + ": line 1, value 64 is not a number followed by ','");
  CHECK(refused("1.5," + row) == p + ": line 1, value 1 is not a number followed by ','");
  CHECK(refused(row + "3\n\n") == p + ": line 2, value 1 is not a number followed by ','");
  CHECK(error_of([] { examples::load_digits<float>("none.csv.gz"); }) == "load_digits: none.csv.gz: no such file");
}
