// Checks of the examples' helpers: the progress line in both modes, written to a temporary
// file, and the SVG writer's document. Not an example itself (examples/*.cpp are; this is in
// common/ and built only with the tests).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "progress.hpp"
#include "svg_plot.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what.c_str());
    ++failures;
  }
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> split(const std::string& text, const std::string& separators) {
  std::vector<std::string> parts(1);
  for (const char c : text) {
    if (separators.find(c) != std::string::npos) {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  return parts;
}

// Runs `train` against a progress line writing to a temporary file; returns what it wrote.
template <typename Train>
std::string captured(examples::ProgressLine::Options options, int epochs, int64_t steps, Train train) {
  std::FILE* file = std::tmpfile();
  if (!file) {
    check(false, "tmpfile");
    return {};
  }
  options.out = file;
  {
    examples::ProgressLine progress(epochs, steps, options);
    train(progress);
  }  // the destructor ends an open line
  std::string text;
  std::rewind(file);
  for (int c; (c = std::fgetc(file)) != EOF;) text += static_cast<char>(c);
  std::fclose(file);
  return text;
}

// 25 epochs of 4 steps of loss 0.5, 3 of each batch of 8 right.
void train_25_epochs(examples::ProgressLine& progress) {
  for (int epoch = 1; epoch <= 25; ++epoch) {
    progress.start_epoch(epoch);
    for (int step = 0; step < 4; ++step) progress.step(0.5, 8, 3);
    progress.end_epoch("note " + std::to_string(epoch));
  }
}

void plain_mode() {
  examples::ProgressLine::Options options;
  options.mode = examples::ProgressLine::Mode::plain;
  options.report_every_epochs = 10;
  const std::string text = captured(options, 25, 4, train_25_epochs);
  check(!contains(text, "\r") && !contains(text, "\x1b"), "plain output has no '\\r' or escape: " + text);
  check(!text.empty() && text.back() == '\n', "plain output ends with a newline");
  const auto lines = split(text.substr(0, text.size() - 1), "\n");
  // kept: the first epoch, every tenth, the last
  check(lines.size() == 4, "plain output has 4 lines, has " + std::to_string(lines.size()) + ":\n" + text);
  if (lines.size() == 4) {
    check(lines[0].rfind("epoch  1/25  4/4  loss 0.5  acc  37.50%  note 1  ", 0) == 0, "first line: " + lines[0]);
    check(lines[1].rfind("epoch 10/25", 0) == 0 && contains(lines[1], "note 10"), "second line: " + lines[1]);
    check(lines[2].rfind("epoch 20/25", 0) == 0, "third line: " + lines[2]);
    check(lines[3].rfind("epoch 25/25", 0) == 0 && contains(lines[3], "eta 0.0s"), "last line: " + lines[3]);
    check(contains(lines[3], "samples/s") && !contains(lines[3], "["), "a rate, no bar: " + lines[3]);
  }

  // one long epoch: a line every 100 steps, the loss an average of the recent steps
  options.report_every_steps = 100;
  options.loss_window = 10;
  const std::string steps = captured(options, 1, 250, [](examples::ProgressLine& progress) {
    progress.start_epoch(1);
    for (int step = 1; step <= 250; ++step) progress.step(step <= 200 ? 1.0 : 0.25);
    progress.end_epoch();
  });
  const auto step_lines = split(steps.substr(0, steps.size() - 1), "\n");
  check(step_lines.size() == 3, "3 lines for 250 steps every 100:\n" + steps);
  if (step_lines.size() == 3) {
    check(step_lines[0].rfind("step 100/250  loss 1  ", 0) == 0 && contains(step_lines[0], "steps/s"),
          "step line: " + step_lines[0]);
    check(step_lines[2].rfind("step 250/250  loss 0.25  ", 0) == 0, "the average follows the last steps: " + step_lines[2]);
  }
}

void terminal_mode() {
  setenv("COLUMNS", "70", 1);  // a tmpfile has no window size: the width comes from $COLUMNS
  examples::ProgressLine::Options options;
  options.mode = examples::ProgressLine::Mode::terminal;
  options.report_every_epochs = 10;
  const std::string text = captured(options, 25, 4, train_25_epochs);
  check(contains(text, "\r"), "terminal output redraws with '\\r'");
  check(!contains(text, "\x1b"), "terminal output has no escape sequence");
  check(!text.empty() && text.back() == '\n', "terminal output ends with a newline");
  for (const std::string& drawn : split(text, "\r\n")) {
    check(drawn.size() < 70, "a drawn line fits in 70 columns: '" + drawn + "'");
  }
  // the kept lines, as the terminal's scrollback shows them: what follows each line's last '\r'
  const auto lines = split(text.substr(0, text.size() - 1), "\n");
  check(lines.size() == 4, "4 kept lines in the terminal, has " + std::to_string(lines.size()));
  for (const std::string& line : lines) {
    const std::string shown = line.substr(line.rfind('\r') + 1);
    check(shown.rfind("epoch ", 0) == 0, "a kept line starts with the epoch: '" + shown + "'");
  }
  // the bar is on the live line only
  for (const std::string& line : lines) {
    check(!contains(line.substr(line.rfind('\r') + 1), "["), "a kept line has no bar: '" + line + "'");
  }

  // at 40 columns the least needed parts go, whole: the time left stays, readable
  setenv("COLUMNS", "40", 1);
  const std::string narrow = captured(options, 25, 4, train_25_epochs);
  const auto narrow_lines = split(narrow.substr(0, narrow.size() - 1), "\n");
  const std::string narrow_last = narrow_lines.back().substr(narrow_lines.back().rfind('\r') + 1);
  check(narrow_last.rfind("epoch 25/25  4/4  loss 0.5", 0) == 0 && contains(narrow_last, "eta 0.0s") &&
            !contains(narrow_last, "samples/s") && narrow_last.size() < 40,
        "at 40 columns: '" + narrow_last + "'");

  setenv("COLUMNS", "200", 1);
  const std::string wide = captured(options, 25, 4, train_25_epochs);
  check(contains(wide, "epoch  1/25 [>                             ] 1/4  loss 0.5"),
        "a 30-column bar on the live line at 200 columns:\n" + wide);
  unsetenv("COLUMNS");
}

void intervals() {
  using examples::ProgressLine;
  check(ProgressLine::round_interval(60, 6) == 10, "60 epochs -> every 10");
  check(ProgressLine::round_interval(3000, 6) == 500, "3000 steps -> every 500");
  check(ProgressLine::round_interval(15, 6) == 5, "15 epochs -> every 5");
  check(ProgressLine::round_interval(3, 6) == 1, "3 epochs -> every one");
}

void svg_document() {
  namespace svg = examples::svg;
  svg::Figure figure;
  figure.title = "loss <&> \"accuracy\"";
  figure.x_label = "epoch";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  figure.panels.push_back({"loss", {{"train", {1, 2, 3, 4, 5}, {0.7, 0.4, nan, 0.2, 0.1}}, {"test", {1, 2, 3, 4, 5}, {0.6, 0.5, 0.4, 0.35, 0.3}}}});
  svg::Panel accuracy{"accuracy (%)", {{"test", {1, 2, 3, 4, 5}, {80, 90, 95, 97, 99}}}};
  accuracy.y_max = 100;
  figure.panels.push_back(accuracy);
  figure.panels.push_back({"residual", {{"loss", {1, 2, 3, 4, 5}, {40, 1, 1e-2, -1, 1e-5}}}, true});
  const std::string document = svg::render(figure);
  check(document.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"", 0) == 0, "an XML declaration first");
  check(contains(document, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\""), "an SVG 1.1 root");
  check(document.size() >= 7 && document.compare(document.size() - 7, 7, "</svg>\n") == 0, "ends with </svg>");
  check(contains(document, "loss &lt;&amp;&gt; &quot;accuracy&quot;"), "the title escaped");
  // no "nan" or "inf" among the coordinates: every points="..." holds numbers alone
  for (size_t at = 0; (at = document.find("points=\"", at)) != std::string::npos;) {
    at += 8;
    const std::string points = document.substr(at, document.find('"', at) - at);
    check(points.find_first_not_of("0123456789., -") == std::string::npos, "coordinates are numbers: " + points);
  }
  // the NaN splits train in two polylines, (0.7, 0.4) and (0.2, 0.1); on the log axis -1 cuts
  // off the last point, drawn as a dot
  auto count = [&](const std::string& element) {
    size_t n = 0;
    for (size_t at = 0; (at = document.find(element, at)) != std::string::npos; ++at) ++n;
    return n;
  };
  check(count("<polyline") == 5, "5 polylines, has " + std::to_string(count("<polyline")));
  check(count("<circle") == 1, "1 dot, has " + std::to_string(count("<circle")));
  check(contains(document, ">100</text>") && !contains(document, ">105</text>"), "the accuracy axis stops at 100");
  // 40 down to 1e-5: seven decades, labelled every second one, 1e-6 to 1e2
  check(contains(document, "10<tspan") && contains(document, "\xE2\x88\x92" "6</tspan>"), "log ticks as powers of ten");
  check(contains(document, ">0.1</text>") || contains(document, ">0.10</text>"), "linear ticks at round values");

  // written whole, through a temporary renamed over the file
  const std::string path = "helpers_test_plot.svg";
  check(svg::write_file(figure, path), "write_file succeeds");
  std::FILE* file = std::fopen(path.c_str(), "rb");
  std::string read;
  if (file) {
    for (int c; (c = std::fgetc(file)) != EOF;) read += static_cast<char>(c);
    std::fclose(file);
  }
  check(read == document, "the file holds the rendered document");
  std::remove(path.c_str());
  check(!svg::write_file(figure, "no/such/directory/plot.svg"), "write_file reports a path it cannot write");
}

}  // namespace

int main() {
  plain_mode();
  terminal_mode();
  intervals();
  svg_document();
  if (failures == 0) std::printf("progress line and SVG writer: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
