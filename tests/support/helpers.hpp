#pragma once
// Shared test helpers: value comparison, golden-file reading, gradcheck wrappers.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/tapegrad.hpp>
#include <tapegrad/testing/gradcheck.hpp>

#include "catch.hpp"

namespace tapegrad_test {

namespace tg = tapegrad;

// A leaf that requires grad, from row-major values (double unless T is given).
template <class T = double>
tg::Tensor<T> leaf(std::vector<T> values, const tg::Shape& shape) {
  return tg::tensor<T>(std::move(values), shape).requires_grad_();
}

// Every element of `actual` within atol + rtol * |expected| of `expected`, shapes equal.
template <class T>
void check_close(const tg::Tensor<T>& actual, const std::vector<double>& expected, const tg::Shape& shape,
                 double rtol, double atol = 0) {
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == shape);
  REQUIRE(static_cast<size_t>(actual.numel()) == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << " of shape " << actual.sizes());
    const double a = actual.data()[i], e = expected[i];
    if (std::isnan(e)) {
      CHECK(std::isnan(a));
    } else if (std::isinf(e)) {  // inf - inf is NaN: an infinity must be matched exactly
      CHECK(a == e);
    } else {
      CHECK(std::abs(a - e) <= atol + rtol * std::abs(e));
    }
  }
}

template <class T>
void check_close(const tg::Tensor<T>& actual, const tg::Tensor<T>& expected, double rtol, double atol = 0) {
  REQUIRE(expected.defined());
  std::vector<double> e(expected.data(), expected.data() + expected.numel());
  check_close(actual, e, expected.shape(), rtol, atol);
}

// Runs tg::testing::gradcheck and gradgradcheck and reports their messages on failure. Not a
// template: compiled once per test file, not once per checked function.
inline void require_gradcheck(const std::function<tg::Tensor<double>(const std::vector<tg::Tensor<double>>&)>& f,
                              const std::vector<tg::Tensor<double>>& inputs,
                              const tg::testing::GradcheckOptions& opts = {}) {
  const auto result = tg::testing::gradcheck(f, inputs, opts);
  INFO(result.message);
  CHECK(result.ok);
  const auto second = tg::testing::gradgradcheck(f, inputs, opts);
  INFO(second.message);
  CHECK(second.ok);
}

// A golden file (tools/ writes them from PyTorch): blocks of
//   name <rank> <d0> <d1> ...
//   v0 v1 v2 ...
// one value per whitespace-separated token, in row-major order, printed with 17 digits. A line
// whose first token starts with # is a comment (tests/golden/interop/outputs.txt has a header).
struct GoldenTensor {
  tg::Shape shape;
  std::vector<double> values;
};

inline std::map<std::string, GoldenTensor> read_golden(const std::string& file) {
  const std::string path = std::string(TAPEGRAD_GOLDEN_DIR) + "/" + file;
  std::ifstream in(path);
  REQUIRE(in.good());
  std::map<std::string, GoldenTensor> out;
  std::string name;
  while (in >> name) {
    if (name[0] == '#') {
      std::string comment;
      std::getline(in, comment);
      continue;
    }
    GoldenTensor g;
    int rank = 0;
    in >> rank;
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) {
      int64_t d = 0;
      in >> d;
      g.shape.push_back(d);
      n *= d;
    }
    g.values.resize(static_cast<size_t>(n));
    for (auto& v : g.values) {
      std::string token;
      in >> token;
      char* end = nullptr;
      v = std::strtod(token.c_str(), &end);  // reads nan, inf and denormals (stod throws on those)
      if (token.empty() || end != token.c_str() + token.size()) {
        FAIL("golden file " << file << ", tensor " << name << ": bad value '" << token << "'");
      }
    }
    REQUIRE(in.good());
    out[name] = std::move(g);
  }
  REQUIRE(!out.empty());
  return out;
}

template <class T>
tg::Tensor<T> to_tensor(const GoldenTensor& g) {
  return tg::tensor<T>(std::vector<T>(g.values.begin(), g.values.end()), g.shape);
}

using Golden = std::map<std::string, GoldenTensor>;

// A golden file by name (under tests/golden/), read once per process.
inline const Golden& golden_file(const std::string& file) {
  static std::map<std::string, Golden> cache;
  auto it = cache.find(file);
  if (it == cache.end()) it = cache.emplace(file, read_golden(file)).first;
  return it->second;
}

// The case names of a golden file: every name "<case><suffix>", less those starting with
// `skip_prefix` (a file's composite cases, tested on their own).
inline std::set<std::string> golden_case_names(const Golden& g, const std::string& suffix, const std::string& skip_prefix) {
  std::set<std::string> cases;
  for (const auto& entry : g) {
    const std::string& n = entry.first;
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        n.rfind(skip_prefix, 0) != 0) {
      cases.insert(n.substr(0, n.size() - suffix.size()));
    }
  }
  return cases;
}

// The tensor `name` of a golden file; fails the test when there is none.
inline const GoldenTensor& golden_entry(const Golden& g, const std::string& name) {
  const auto it = g.find(name);
  INFO("golden tensor " << name);
  REQUIRE(it != g.end());
  return it->second;
}

template <class T>
tg::Tensor<T> golden_tensor(const Golden& g, const std::string& name) {
  return to_tensor<T>(golden_entry(g, name));
}

// Tolerances of T for results against PyTorch's own results in that type: float's within a
// few ulps of PyTorch's float kernels, double's to 1e-12.
template <class T>
double rtol_of() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}
template <class T>
double atol_of() {
  return std::is_same_v<T, float> ? 1e-6 : 1e-13;
}

// A double leaf of shape s drawn from randn on the default generator, requiring grad.
inline tg::Tensor<double> leaf_randn(const tg::Shape& s) { return tg::randn<double>(s).requires_grad_(); }

// The part of a golden name that tells the dtype: "f32" for float, "f64" for double.
template <class T>
std::string dtype_tag() {
  return std::is_same_v<T, float> ? "f32" : "f64";
}

// check_close against a golden tensor; with TAPEGRAD_REPORT_ERRORS set in the environment it
// also prints the largest error, in absolute terms and relative to the tolerance.
template <class T>
void expect_golden(const tg::Tensor<T>& actual, const Golden& g, const std::string& name, double rtol, double atol) {
  const GoldenTensor& e = golden_entry(g, name);
  INFO("golden tensor " << name);
  if (std::getenv("TAPEGRAD_REPORT_ERRORS") && actual.defined() && actual.numel() == static_cast<int64_t>(e.values.size())) {
    double max_abs = 0, max_ratio = 0;
    for (size_t i = 0; i < e.values.size(); ++i) {
      const double err = std::abs(static_cast<double>(actual.data()[i]) - e.values[i]);
      max_abs = std::max(max_abs, err);
      max_ratio = std::max(max_ratio, err / (atol + rtol * std::abs(e.values[i])));
    }
    std::cout << "error " << name << ": max abs " << max_abs << ", max err/tol " << max_ratio << "\n";
  }
  check_close(actual, e.values, e.shape, rtol, atol);
}

// ---- files and refusals -----------------------------------------------------------------------

// A scratch file under the test's working directory, removed when the test ends.
struct TempFile {
  explicit TempFile(std::string p) : path(std::move(p)) {}
  ~TempFile() { std::remove(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  std::string path;
};

inline std::vector<uint8_t> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// What `f` threw (a tapegrad::Error), or "no error".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "no error";
}

// ---- "a failed call changes nothing" ---------------------------------------------------------

// Everything observable about a tensor: shape, requires_grad, leafness, its values to the last
// bit (hex floats) and its gradient's.
template <class T>
std::string describe_state(const tg::Tensor<T>& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream out;
  out << std::hexfloat << "shape " << t.sizes() << (t.requires_grad() ? " requires_grad" : "")
      << (t.is_leaf() ? " leaf" : " non-leaf") << " values";
  for (int64_t i = 0; i < t.numel(); ++i) out << ' ' << t.data()[i];
  if (t.is_leaf()) out << " grad " << describe_state(t.grad());
  return out.str();
}

template <class T>
std::string describe_state(const tg::nn::Module<T>& m) {
  std::string s = m.is_training() ? "training" : "eval";
  for (const auto& [name, p] : m.named_parameters()) s += "\n" + name + ": " + describe_state(p);
  for (const auto& [name, b] : m.named_buffers()) s += "\n" + name + ": " + describe_state(b);
  return s;
}

// The next draws of the default generator, without consuming them.
inline std::string describe_default_generator() {
  auto& gen = tg::default_generator();
  const auto saved = gen.snapshot();
  const auto next = tg::rand<double>({3}).to_vector();
  const auto next_normal = tg::randn<float>({1}).item();  // includes the cached Box-Muller value
  gen.restore(saved);
  std::ostringstream out;
  out << std::hexfloat << next[0] << ' ' << next[1] << ' ' << next[2] << ' ' << next_normal;
  return out.str();
}

// A record of the watched objects (tensors and modules, held by reference) and the default
// generator's stream, to compare before and after a call.
class Watch {
 public:
  template <class... Things>
  explicit Watch(const Things&... things) {
    (probes_.push_back([&things] { return describe_state(things); }), ...);
    probes_.push_back(describe_default_generator);
  }
  std::vector<std::string> state() const {
    std::vector<std::string> s;
    for (const auto& probe : probes_) s.push_back(probe());
    return s;
  }

 private:
  std::vector<std::function<std::string()>> probes_;
};

// `call` must throw tapegrad::Error with exactly `message` and leave everything `watch` sees as
// it was.
template <class F>
void check_refused(F&& call, const std::string& message, const Watch& watch) {
  const auto before = watch.state();
  CHECK_THROWS_WITH(call(), message);
  CHECK_THROWS_AS(call(), tg::Error);
  const auto after = watch.state();
  REQUIRE(before.size() == after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    INFO("watched object " << i << " changed");
    CHECK(before[i] == after[i]);
  }
}

}  // namespace tapegrad_test

// Seeds the global generator and reports the seed with every failure below it, so it replays.
#define SEED(value)               \
  const uint64_t seed_ = (value); \
  tg::manual_seed(seed_);         \
  INFO("tg::manual_seed(" << seed_ << ")")
