#pragma once
// Shared test helpers: value comparison, golden-file reading, gradcheck wrappers.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/tapegrad.hpp>
#include <tapegrad/testing/gradcheck.hpp>

#include "catch.hpp"

namespace tapegrad_test {

namespace tg = tapegrad;

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

// Runs tg::testing::gradcheck and reports its message on failure.
template <class F>
void require_gradcheck(F&& f, const std::vector<tg::Tensor<double>>& inputs,
                       const tg::testing::GradcheckOptions& opts = {}) {
  const auto result = tg::testing::gradcheck(std::forward<F>(f), inputs, opts);
  INFO(result.message);
  CHECK(result.ok);
}

// A golden file (tools/ writes them from PyTorch): blocks of
//   name <rank> <d0> <d1> ...
//   v0 v1 v2 ...
// one value per whitespace-separated token, in row-major order, printed with 17 digits.
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

}  // namespace tapegrad_test
