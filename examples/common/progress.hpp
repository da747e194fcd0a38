// A training progress line for the examples (not part of the library):
//
//   epoch 12/60 [====>          ] 5/8  loss 0.05118  acc  98.02%  1.86M samples/s  elapsed 0.0s  eta 0.0s
//
// On a terminal the line is redrawn in place ('\r', padded over the previous text), at most
// ten times a second and always at the last step, and fitted to the width (the bar goes
// first, then the least needed parts); the lines it keeps have no bar. Where stdout is a pipe or a file (CI logs, `| tee`)
// it prints plain complete lines instead: no bar, no control character. Either way a line is
// kept (ended with '\n') at the report points: the end of the first, every
// `report_every_epochs`-th and the last epoch, and every `report_every_steps` steps inside an
// epoch, so a log holds the same lines a terminal's scrollback does.
//
//   examples::ProgressLine progress(epochs, batches_per_epoch);
//   for (int epoch = 1; epoch <= epochs; ++epoch) {
//     progress.start_epoch(epoch);
//     for (...) { ...; progress.step(loss.item(), batch_size, correct); }
//     progress.end_epoch("test acc 97.37%");   // an optional note for the kept line
//   }
//   progress.finish();                          // also run by the destructor
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include <io.h>
#else
#include <sys/ioctl.h>
#include <unistd.h>
#endif

namespace examples {

class ProgressLine {
 public:
  enum class Mode { automatic, terminal, plain };  // automatic: terminal when the stream is a tty

  struct Options {
    int report_every_epochs = 1;   // keep a line at the end of every n-th epoch (and the first and last)
    int report_every_steps = 0;    // keep a line every n steps inside an epoch; 0: only at its end
    int loss_window = 0;           // 0: the loss shown is the epoch's running mean; n: an
                                   // exponential moving average over about n steps, for runs
                                   // whose loss falls by orders of magnitude in one epoch
    Mode mode = Mode::automatic;
    std::FILE* out = stdout;
  };

  ProgressLine(int epochs, int64_t steps_per_epoch) : ProgressLine(epochs, steps_per_epoch, Options()) {}
  ProgressLine(int epochs, int64_t steps_per_epoch, Options options)
      : epochs_(std::max(epochs, 1)), steps_per_epoch_(std::max<int64_t>(steps_per_epoch, 1)), options_(options),
        terminal_(options.mode == Mode::terminal || (options.mode == Mode::automatic && is_terminal(options.out))),
        start_(Clock::now()) {}
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() { finish(); }

  bool terminal() const { return terminal_; }

  // An interval for report_every_*: the smallest 1, 2 or 5 times a power of ten that keeps
  // at most about `lines` lines out of `total` epochs or steps (60 -> 10, 3000 -> 500).
  static int round_interval(int64_t total, int lines) {
    const double wanted = static_cast<double>(total) / std::max(lines, 1);
    for (int64_t power = 1;; power *= 10) {
      for (const int64_t m : {1, 2, 5}) {
        if (static_cast<double>(m * power) >= wanted || m * power >= (int64_t{1} << 30)) {
          return static_cast<int>(m * power);
        }
      }
    }
  }

  void start_epoch(int epoch) {
    epoch_ = epoch;
    step_ = 0;
    loss_sum_ = loss_weight_ = 0;
    loss_average_ = 0;
    loss_decay_power_ = 1;
    samples_ = 0;
    correct_ = 0;
    counted_accuracy_ = false;
    note_.clear();
  }

  // One optimisation step: its loss, the batch's size (0: the rate is in steps, the loss mean
  // unweighted) and, when known, how many of the batch were classified right.
  void step(double loss, int64_t batch_size = 0, std::optional<int64_t> correct = std::nullopt) {
    ++step_;
    ++steps_done_;
    const double weight = batch_size > 0 ? static_cast<double>(batch_size) : 1.0;
    loss_sum_ += loss * weight;
    loss_weight_ += weight;
    if (options_.loss_window > 0) {
      // Adam's bias correction: the average of the first steps is not pulled towards zero
      const double decay = 1.0 - 2.0 / (options_.loss_window + 1.0);
      loss_average_ = decay * loss_average_ + (1 - decay) * loss;
      loss_decay_power_ *= decay;
    }
    samples_ += batch_size;
    samples_done_ += batch_size;
    if (correct) {
      correct_ += *correct;
      counted_accuracy_ = true;
    }
    const bool report = options_.report_every_steps > 0 && step_ % options_.report_every_steps == 0 &&
                        step_ != steps_per_epoch_;  // the epoch's end reports that one
    if (report) {
      keep_line();
    } else if (terminal_) {
      // at most ten redraws a second: drawing costs more than a small model's step
      const auto now = Clock::now();
      const bool last_step = epoch_ >= epochs_ && step_ >= steps_per_epoch_;
      if (now - last_draw_ >= std::chrono::milliseconds(100) || last_step) redraw(now);
    }
  }

  // Ends the epoch; `note` (e.g. the test loss) is shown on its kept line.
  void end_epoch(std::string note = {}) {
    note_ = std::move(note);
    const bool report = epoch_ == 1 || epoch_ == epochs_ ||
                        (options_.report_every_epochs > 0 && epoch_ % options_.report_every_epochs == 0);
    if (report) keep_line();
  }

  // Ends a line left open by the in-place redraws, so what the program prints next starts on
  // a line of its own. Idempotent.
  void finish() {
    if (open_line_) {
      std::fputc('\n', options_.out);
      std::fflush(options_.out);
      open_line_ = false;
      drawn_width_ = 0;
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  static bool is_terminal(std::FILE* out) {
#if defined(_WIN32)
    return _isatty(_fileno(out)) != 0;
#else
    return isatty(fileno(out)) != 0;
#endif
  }

  // The terminal's width: the window's size, else $COLUMNS, else 80.
  int columns() const {
#if !defined(_WIN32)
    winsize size{};
    if (ioctl(fileno(options_.out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
#endif
    if (const char* env = std::getenv("COLUMNS")) {
      const int n = std::atoi(env);
      if (n > 0) return n;
    }
    return 80;
  }

  int64_t total_steps() const { return static_cast<int64_t>(epochs_) * steps_per_epoch_; }
  int64_t steps_into_run() const { return static_cast<int64_t>(epoch_ - 1) * steps_per_epoch_ + step_; }

  double shown_loss() const {
    if (options_.loss_window > 0) return step_ > 0 ? loss_average_ / (1 - loss_decay_power_) : 0.0;
    return loss_weight_ > 0 ? loss_sum_ / loss_weight_ : 0.0;
  }

  // "1.2s", "42s", "3:07", "1:02:09"
  static std::string duration(double seconds) {
    char text[32];
    if (!(seconds >= 0) || seconds > 1e8) return "?";
    if (seconds < 9.95) {
      std::snprintf(text, sizeof text, "%.1fs", seconds);
    } else if (seconds < 59.5) {
      std::snprintf(text, sizeof text, "%.0fs", seconds);
    } else {
      const auto s = static_cast<long>(std::lround(seconds));
      if (s < 3600) {
        std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
      } else {
        std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
      }
    }
    return text;
  }

  // Four significant digits: "0.6696", "0.009101", then "1.317e-05" (and "1.295e+04").
  static std::string number(double value) {
    char text[32];
    const double magnitude = std::abs(value);
    std::snprintf(text, sizeof text, value == 0 || (magnitude >= 1e-3 && magnitude < 1e4) ? "%.4g" : "%.3e", value);
    return text;
  }

  // "87.3", "873", "41.3k", "2.10M"
  static std::string rate(double per_second) {
    char text[32];
    if (per_second >= 1e6) {
      std::snprintf(text, sizeof text, "%.2fM", per_second / 1e6);
    } else if (per_second >= 1e4) {
      std::snprintf(text, sizeof text, "%.1fk", per_second / 1e3);
    } else {
      std::snprintf(text, sizeof text, per_second >= 100 ? "%.0f" : "%.1f", per_second);
    }
    return text;
  }

  // A part of the line; on a narrow terminal the parts with the lowest `keep` go first.
  struct Field {
    std::string text;
    int keep;
  };

  // The line's parts in order, the epoch (or, in a run of one epoch, the step) first.
  std::vector<Field> fields(Clock::time_point now) const {
    char text[96];
    std::vector<Field> parts;
    const int epoch_digits = static_cast<int>(std::to_string(epochs_).size());
    const int step_digits = static_cast<int>(std::to_string(steps_per_epoch_).size());
    if (epochs_ > 1) {
      std::snprintf(text, sizeof text, "epoch %*d/%d", epoch_digits, epoch_, epochs_);
      parts.push_back({text, 9});
    }
    std::snprintf(text, sizeof text, "%s%*lld/%lld", epochs_ > 1 ? "" : "step ", step_digits,
                  static_cast<long long>(step_), static_cast<long long>(steps_per_epoch_));
    parts.push_back({text, 8});
    parts.push_back({"loss " + number(shown_loss()), 7});
    if (counted_accuracy_ && samples_ > 0) {
      std::snprintf(text, sizeof text, "acc %6.2f%%", 100.0 * static_cast<double>(correct_) / static_cast<double>(samples_));
      parts.push_back({text, 5});
    }
    if (!note_.empty()) parts.push_back({note_, 4});
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (elapsed > 0) {
      const bool per_sample = samples_done_ > 0;
      const double count = static_cast<double>(per_sample ? samples_done_ : steps_done_);
      parts.push_back({rate(count / elapsed) + (per_sample ? " samples/s" : " steps/s"), 2});
    }
    parts.push_back({"elapsed " + duration(elapsed), 3});
    const int64_t done = steps_into_run();
    const double left = done > 0 ? elapsed * static_cast<double>(total_steps() - done) / static_cast<double>(done) : -1;
    parts.push_back({"eta " + duration(left), 6});
    return parts;
  }

  static std::string join(const std::vector<Field>& parts, size_t first) {
    std::string line;
    for (size_t i = first; i < parts.size(); ++i) line += (i > first ? "  " : "") + parts[i].text;
    return line;
  }

  // The line as a terminal shows it, within the width: a wrapped line cannot be redrawn with
  // '\r'. When it is too wide the least needed parts go (the rate, then elapsed, the note,
  // ...); a bar of the run's progress goes after the first part where 10 columns are left,
  // on the live line only (a kept line's would be full, or a snapshot, and only uneven).
  std::string terminal_line(Clock::time_point now, bool with_bar) const {
    std::vector<Field> parts = fields(now);
    const int width = columns() - 1;  // the last column would wrap on some terminals
    while (parts.size() > 1 && static_cast<int>(join(parts, 0).size()) > width) {
      const auto least = std::min_element(parts.begin() + 1, parts.end(),
                                          [](const Field& a, const Field& b) { return a.keep < b.keep; });
      parts.erase(least);
    }
    std::string line = parts[0].text;
    const std::string rest = join(parts, 1);
    const int room = width - static_cast<int>(line.size() + rest.size()) - 4;  // " [" and "] "
    if (with_bar && room >= 10) {
      const int bar = std::min(room, 30);
      // the whole run's progress, as the time left is: short epochs would only flicker it
      const double fraction = static_cast<double>(steps_into_run()) / static_cast<double>(total_steps());
      const int filled = std::clamp(static_cast<int>(fraction * bar), 0, bar);
      line += " [" + std::string(static_cast<size_t>(filled), '=');
      if (filled < bar) line += '>' + std::string(static_cast<size_t>(bar - filled - 1), ' ');
      line += "] ";
    } else if (!rest.empty()) {
      line += "  ";
    }
    line += rest;
    if (static_cast<int>(line.size()) > width) line.resize(static_cast<size_t>(std::max(width, 0)));
    return line;
  }

  void redraw(Clock::time_point now, bool with_bar = true) {
    const std::string line = terminal_line(now, with_bar);
    // '\r', then spaces over whatever the previous, longer line left behind (no escape
    // sequences: '\r' and spaces work on every terminal, dumb ones included)
    const size_t pad = drawn_width_ > line.size() ? drawn_width_ - line.size() : 0;
    std::fprintf(options_.out, "\r%s%*s", line.c_str(), static_cast<int>(pad), "");
    std::fflush(options_.out);
    drawn_width_ = line.size();
    open_line_ = true;
    last_draw_ = now;
  }

  void keep_line() {
    const auto now = Clock::now();
    if (terminal_) {
      redraw(now, false);
      finish();
    } else {
      std::fprintf(options_.out, "%s\n", join(fields(now), 0).c_str());
      std::fflush(options_.out);  // a CI log shows each line as it comes
    }
  }

  int epochs_;
  int64_t steps_per_epoch_;
  Options options_;
  bool terminal_;
  Clock::time_point start_;
  Clock::time_point last_draw_{};
  int epoch_ = 1;
  int64_t step_ = 0, steps_done_ = 0;
  double loss_sum_ = 0, loss_weight_ = 0;
  double loss_average_ = 0, loss_decay_power_ = 1;
  int64_t samples_ = 0, samples_done_ = 0, correct_ = 0;
  bool counted_accuracy_ = false;
  std::string note_;
  size_t drawn_width_ = 0;
  bool open_line_ = false;
};

}  // namespace examples
