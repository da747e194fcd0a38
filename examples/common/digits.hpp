#pragma once
// The UCI hand-written digits (examples/data/digits.csv.gz, scikit-learn's copy) as sklearn's
// load_digits() reads them, for the examples: images X (1797, 1, 8, 8), each pixel's count 0..16
// divided by 16 (so in [0, 1]), and targets y (1797), the digits 0..9 as values of T.
// Needs zlib (link tapegrad::data): the file is gzipped.
#include <cstdint>
#include <string>
#include <tapegrad/core/error.hpp>
#include <tapegrad/core/factories.hpp>
#include <tapegrad/core/tensor.hpp>
#include <tapegrad/data/gzip.hpp>
#include <vector>

namespace examples {

template <class T = float>
struct Digits {
  tapegrad::Tensor<T> images;   // (N, 1, 8, 8), counts / 16
  tapegrad::Tensor<T> targets;  // (N), 0..9
};

// Each line of the file: 64 pixel counts 0..16 (row-major 8 x 8), then the digit; N lines.
template <class T = float>
Digits<T> load_digits(const std::string& path) {
  using tapegrad::detail::check;
  const std::vector<uint8_t> text = tapegrad::data::read_gzip(path, "load_digits", size_t(1) << 26);
  std::vector<T> pixels;
  std::vector<T> labels;
  size_t at = 0;
  int64_t line = 1;
  while (at < text.size()) {
    for (int column = 0; column < 65; ++column) {  // one line: 64 pixels and the label
      int value = 0, digits = 0;
      while (at < text.size() && text[at] >= '0' && text[at] <= '9' && digits < 3) {
        value = value * 10 + (text[at++] - '0');
        ++digits;
      }
      const bool last = column == 64;
      const char end = last ? '\n' : ',';
      check(digits > 0 && (at < text.size() ? text[at] == end : last), "load_digits: ", path, ": line ", line,
            ", value ", column + 1, " is not a number followed by '", last ? "\\n" : ",", "'");
      check(value <= (last ? 9 : 16), "load_digits: ", path, ": line ", line, ", value ", column + 1, " is ", value,
            last ? ", not a digit 0..9" : ", not a pixel count 0..16");
      if (last) {
        labels.push_back(static_cast<T>(value));
      } else {
        pixels.push_back(static_cast<T>(value) / static_cast<T>(16));
      }
      ++at;  // past the ',' or '\n'
    }
    ++line;
  }
  check(!labels.empty(), "load_digits: ", path, ": no examples");
  const auto n = static_cast<int64_t>(labels.size());
  return {tapegrad::tensor<T>(std::move(pixels), {n, 1, 8, 8}), tapegrad::tensor<T>(std::move(labels), {n})};
}

}  // namespace examples
