// Training curves as a standalone SVG 1.1 file, for the examples (not part of the library).
// A figure is a title over one or more panels stacked on a shared x axis (epoch or step),
// each panel with its own y axis (linear, or logarithmic for a loss that falls by orders of
// magnitude), grid, tick labels at round values and a legend placed in the emptiest corner.
//
//   examples::svg::Figure figure;
//   figure.title = "breast cancer MLP";
//   figure.x_label = "epoch";
//   figure.panels.push_back({"BCE loss", {{"train", epochs, train_loss}, {"test", epochs, test_loss}}});
//   examples::svg::write_file(figure, "curves.svg");
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

namespace examples::svg {

struct Series {
  std::string name;
  std::vector<double> x, y;  // points not finite (or not positive on a log axis) break the line
  std::string color = {};    // empty: the panel's next palette colour
};

struct Panel {
  std::string y_label;
  std::vector<Series> series;
  bool log_y = false;
  std::optional<double> y_min = {}, y_max = {};  // bounds the axis must not pass, e.g. 100 for a percentage
};

struct Figure {
  std::string title;
  std::string x_label;
  std::vector<Panel> panels;
  int width = 800;
  int panel_height = 220;
};

namespace detail {

// Text for an XML attribute value or element content.
inline std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

inline std::string fixed(double value, int decimals) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  std::string s = text;
  // a tick a rounding error below zero prints "-0.0": label it "0.0"
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

// The 1, 2 or 5 times a power of ten nearest to `x` (Heckbert, "Nice numbers for graph
// labels", Graphics Gems, 1990).
inline double nice_number(double x) {
  const double exponent = std::floor(std::log10(x));
  const double fraction = x / std::pow(10.0, exponent);
  const double nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * std::pow(10.0, exponent);
}

struct Tick {
  double value;
  std::string label;  // SVG text content (may hold a <tspan>); empty: a grid line alone
  bool major = true;  // minor: a lighter grid line (2..9 times a decade)
};

struct Axis {
  double low = 0, high = 1;
  bool log = false;
  std::vector<Tick> ticks;

  // 0 at `low`, 1 at `high`
  double fraction(double v) const {
    if (log) return (std::log10(v) - std::log10(low)) / (std::log10(high) - std::log10(low));
    return (v - low) / (high - low);
  }
};

// A linear axis over [low, high] with about `target` ticks at round values. `tight` keeps the
// data's bounds (an x axis starting at epoch 1); otherwise the bounds widen to the ticks
// around them, within the hard limits. `integers`: no tick between whole numbers.
inline Axis linear_axis(double low, double high, int target, bool tight, bool integers,
                        std::optional<double> hard_low = {}, std::optional<double> hard_high = {}) {
  if (!(high > low)) {  // one value, or none: a unit-wide range around it
    const double centre = std::isfinite(low) ? low : 0.0;
    const double half = centre != 0 ? std::abs(centre) * 0.1 : 0.5;
    low = centre - half;
    high = centre + half;
  }
  double step = nice_number((high - low) / (target - 1));
  if (integers) step = std::max(step, 1.0);
  Axis axis;
  axis.low = tight ? low : std::floor(low / step + 1e-9) * step;
  axis.high = tight ? high : std::ceil(high / step - 1e-9) * step;
  if (hard_low) axis.low = std::max(axis.low, *hard_low);
  if (hard_high) axis.high = std::min(axis.high, *hard_high);
  if (!(axis.high > axis.low)) axis.high = axis.low + step;
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  // t = k * step, not a running sum: 0.1 added up drifts off the labels' values
  for (double k = std::ceil(axis.low / step - 1e-9); k * step <= axis.high + step * 1e-9; ++k) {
    axis.ticks.push_back({k * step, fixed(k * step, decimals)});
  }
  return axis;
}

// "10<sup>-4</sup>" as SVG text: the exponent raised with dy, which every renderer supports.
inline std::string power_of_ten(int exponent) {
  if (exponent == 0) return "1";
  if (exponent == 1) return "10";
  std::string digits = std::to_string(std::abs(exponent));
  if (exponent < 0) digits = "\xE2\x88\x92" + digits;  // U+2212 MINUS SIGN
  return "10<tspan dy=\"-0.45em\" font-size=\"0.75em\">" + digits + "</tspan>";
}

// A log axis over whole decades: a grid line per decade, labelled (every second or third
// when there are many), and unlabelled ones at 2..9 times each decade when there are few.
inline Axis log_axis(double low, double high) {
  Axis axis;
  axis.log = true;
  if (!(low > 0) || !std::isfinite(low)) low = 1;
  if (!(high > 0) || !std::isfinite(high)) high = low;
  int first = static_cast<int>(std::floor(std::log10(low) + 1e-9));
  int last = static_cast<int>(std::ceil(std::log10(high) - 1e-9));
  if (last <= first) last = first + 1;
  const int decades = last - first;
  const int every = decades > 12 ? 3 : decades > 6 ? 2 : 1;
  first -= ((first % every) + every) % every;  // labelled decades on multiples of `every`
  axis.low = std::pow(10.0, first);
  axis.high = std::pow(10.0, last);
  for (int e = first; e <= last; ++e) {
    const double decade = std::pow(10.0, e);
    axis.ticks.push_back({decade, (e - first) % every == 0 ? power_of_ten(e) : ""});
    if (decades <= 6 && e < last) {
      for (int m = 2; m <= 9; ++m) axis.ticks.push_back({m * decade, "", false});
    }
  }
  return axis;
}

// Characters, not bytes, of UTF-8 text (for sizing the legend: "π" is one character).
inline size_t characters(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a continuation byte
  }));
}

inline const char* palette(size_t i) {
  static const char* const colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};
  return colours[i % (sizeof colours / sizeof colours[0])];
}

inline bool plottable(double x, double y, bool log_y) { return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0); }

}  // namespace detail

// The figure as an SVG document.
inline std::string render(const Figure& figure) {
  using detail::fixed;
  const double font = 12;                // tick labels and legend
  const double char_width = 0.6 * font;  // a sans-serif character's mean advance, for sizing boxes
  const double margin_left = 80, margin_right = 30, gap = 30;
  const double margin_top = figure.title.empty() ? 16 : 44;
  const double margin_bottom = figure.x_label.empty() ? 34 : 56;
  const double plot_width = figure.width - margin_left - margin_right;
  const double ph = figure.panel_height;
  const auto n_panels = static_cast<double>(figure.panels.size());
  const double height = margin_top + n_panels * ph + std::max(0.0, n_panels - 1) * gap + margin_bottom;

  // The shared x axis, over every panel's points.
  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low;
  bool whole_x = true;
  for (const Panel& panel : figure.panels) {
    for (const Series& s : panel.series) {
      for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
        if (!detail::plottable(s.x[i], s.y[i], panel.log_y)) continue;
        x_low = std::min(x_low, s.x[i]);
        x_high = std::max(x_high, s.x[i]);
        whole_x = whole_x && s.x[i] == std::floor(s.x[i]);
      }
    }
  }
  if (!(x_low <= x_high)) x_low = x_high = 0;
  const detail::Axis x_axis = detail::linear_axis(x_low, x_high, 7, true, whole_x);

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + std::to_string(figure.width) +
         "\" height=\"" + fixed(height, 0) + "\" viewBox=\"0 0 " + std::to_string(figure.width) + " " +
         fixed(height, 0) + "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"" +
         fixed(font, 0) + "\">\n";
  if (!figure.title.empty()) svg += "<title>" + detail::escape(figure.title) + "</title>\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  if (!figure.title.empty()) {
    svg += "<text x=\"" + fixed(margin_left + plot_width / 2, 1) + "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
           "font-weight=\"bold\" fill=\"#222222\">" + detail::escape(figure.title) + "</text>\n";
  }

  for (size_t p = 0; p < figure.panels.size(); ++p) {
    const Panel& panel = figure.panels[p];
    const double top = margin_top + static_cast<double>(p) * (ph + gap);
    const double left = margin_left;
    const bool bottom_panel = p + 1 == figure.panels.size();

    double y_low = std::numeric_limits<double>::infinity(), y_high = -y_low;
    for (const Series& s : panel.series) {
      for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
        if (!detail::plottable(s.x[i], s.y[i], panel.log_y)) continue;
        y_low = std::min(y_low, s.y[i]);
        y_high = std::max(y_high, s.y[i]);
      }
    }
    if (!(y_low <= y_high)) y_low = y_high = panel.log_y ? 1 : 0;
    const detail::Axis y_axis = panel.log_y ? detail::log_axis(y_low, y_high)
                                            : detail::linear_axis(y_low, y_high, 6, false, false, panel.y_min, panel.y_max);
    auto px = [&](double x) { return left + x_axis.fraction(x) * plot_width; };
    auto py = [&](double y) { return top + (1 - y_axis.fraction(y)) * ph; };

    const std::string clip_id = "plot-area-" + std::to_string(p);
    svg += "<clipPath id=\"" + clip_id + "\"><rect x=\"" + fixed(left, 1) + "\" y=\"" + fixed(top, 1) + "\" width=\"" +
           fixed(plot_width, 1) + "\" height=\"" + fixed(ph, 1) + "\"/></clipPath>\n";

    // grid and tick labels
    svg += "<g stroke-width=\"1\">\n";
    for (const detail::Tick& t : y_axis.ticks) {
      const double y = py(t.value);
      if (y < top - 0.5 || y > top + ph + 0.5) continue;
      svg += "<line x1=\"" + fixed(left, 1) + "\" x2=\"" + fixed(left + plot_width, 1) + "\" y1=\"" + fixed(y, 1) +
             "\" y2=\"" + fixed(y, 1) + "\" stroke=\"" + (t.major ? "#dddddd" : "#f0f0f0") + "\"/>\n";
    }
    for (const detail::Tick& t : x_axis.ticks) {
      const double x = px(t.value);
      svg += "<line x1=\"" + fixed(x, 1) + "\" x2=\"" + fixed(x, 1) + "\" y1=\"" + fixed(top, 1) + "\" y2=\"" +
             fixed(top + ph, 1) + "\" stroke=\"#dddddd\"/>\n";
    }
    svg += "</g>\n<g fill=\"#333333\">\n";
    for (const detail::Tick& t : y_axis.ticks) {
      const double y = py(t.value);
      if (t.label.empty() || y < top - 0.5 || y > top + ph + 0.5) continue;
      svg += "<text x=\"" + fixed(left - 8, 1) + "\" y=\"" + fixed(y + font * 0.35, 1) + "\" text-anchor=\"end\">" +
             t.label + "</text>\n";
    }
    if (bottom_panel) {
      for (const detail::Tick& t : x_axis.ticks) {
        svg += "<text x=\"" + fixed(px(t.value), 1) + "\" y=\"" + fixed(top + ph + 8 + font, 1) +
               "\" text-anchor=\"middle\">" + t.label + "</text>\n";
      }
    }
    svg += "</g>\n";
    if (!panel.y_label.empty()) {
      const double cx = 18, cy = top + ph / 2;
      svg += "<text x=\"" + fixed(cx, 1) + "\" y=\"" + fixed(cy, 1) + "\" transform=\"rotate(-90 " + fixed(cx, 1) + " " +
             fixed(cy, 1) + ")\" text-anchor=\"middle\" dominant-baseline=\"central\" font-size=\"13\" fill=\"#222222\">" +
             detail::escape(panel.y_label) + "</text>\n";
    }

    // the curves, clipped to the plot area
    svg += "<g clip-path=\"url(#" + clip_id + ")\" fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\" "
           "stroke-linecap=\"round\">\n";
    std::vector<std::string> colours;
    for (size_t k = 0; k < panel.series.size(); ++k) {
      const Series& s = panel.series[k];
      colours.push_back(s.color.empty() ? detail::palette(k) : s.color);
      std::string points;
      size_t in_segment = 0;
      double lone_x = 0, lone_y = 0;
      auto end_segment = [&] {
        if (in_segment == 1) {  // a single point draws no line: a dot instead
          svg += "<circle cx=\"" + fixed(lone_x, 2) + "\" cy=\"" + fixed(lone_y, 2) + "\" r=\"3\" fill=\"" +
                 colours.back() + "\" stroke=\"none\"/>\n";
        } else if (in_segment > 1) {
          svg += "<polyline stroke=\"" + colours.back() + "\" points=\"" + points + "\"/>\n";
        }
        points.clear();
        in_segment = 0;
      };
      for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
        if (!detail::plottable(s.x[i], s.y[i], panel.log_y)) {
          end_segment();
          continue;
        }
        lone_x = px(s.x[i]);
        lone_y = py(s.y[i]);
        if (in_segment++ > 0) points += ' ';
        points += fixed(lone_x, 2) + "," + fixed(lone_y, 2);
      }
      end_segment();
    }
    svg += "</g>\n";
    svg += "<rect x=\"" + fixed(left, 1) + "\" y=\"" + fixed(top, 1) + "\" width=\"" + fixed(plot_width, 1) +
           "\" height=\"" + fixed(ph, 1) + "\" fill=\"none\" stroke=\"#888888\" stroke-width=\"1\"/>\n";

    // The legend, in whichever corner holds the fewest of the panel's points.
    if (!panel.series.empty()) {
      size_t longest = 0;
      for (const Series& s : panel.series) longest = std::max(longest, detail::characters(s.name));
      const double row = 18, pad = 8, sample = 22;
      const double box_w = pad + sample + 6 + static_cast<double>(longest) * char_width + pad;
      const double box_h = pad + row * static_cast<double>(panel.series.size()) + pad - 6;
      const double inset = 8;
      const double xs[] = {left + plot_width - inset - box_w, left + inset};
      const double ys[] = {top + inset, top + ph - inset - box_h};
      double best_x = xs[0], best_y = ys[0];
      size_t best_count = std::numeric_limits<size_t>::max();
      for (const double by : ys) {
        for (const double bx : xs) {
          // points along the curves (every 4 px of each segment, so a line crossing the box
          // between two far-apart points counts) within a margin round the box
          size_t count = 0;
          auto inside = [&](double x, double y) {
            return x >= bx - 6 && x <= bx + box_w + 6 && y >= by - 6 && y <= by + box_h + 6;
          };
          for (const Series& s : panel.series) {
            bool have_previous = false;
            double x0 = 0, y0 = 0;
            for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
              if (!detail::plottable(s.x[i], s.y[i], panel.log_y)) {
                have_previous = false;
                continue;
              }
              const double x1 = px(s.x[i]), y1 = py(s.y[i]);
              const int samples = have_previous ? 1 + static_cast<int>(std::hypot(x1 - x0, y1 - y0) / 4) : 1;
              for (int j = 1; j <= samples; ++j) {
                const double t = static_cast<double>(j) / samples;
                count += inside(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
              }
              x0 = x1;
              y0 = y1;
              have_previous = true;
            }
          }
          if (count < best_count) {
            best_count = count;
            best_x = bx;
            best_y = by;
          }
        }
      }
      svg += "<g>\n<rect x=\"" + fixed(best_x, 1) + "\" y=\"" + fixed(best_y, 1) + "\" width=\"" + fixed(box_w, 1) +
             "\" height=\"" + fixed(box_h, 1) + "\" rx=\"3\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#bbbbbb\"/>\n";
      for (size_t k = 0; k < panel.series.size(); ++k) {
        const double y = best_y + pad + row * static_cast<double>(k) + row / 2 - 3;
        svg += "<line x1=\"" + fixed(best_x + pad, 1) + "\" x2=\"" + fixed(best_x + pad + sample, 1) + "\" y1=\"" +
               fixed(y, 1) + "\" y2=\"" + fixed(y, 1) + "\" stroke=\"" + colours[k] + "\" stroke-width=\"2.5\"/>\n";
        svg += "<text x=\"" + fixed(best_x + pad + sample + 6, 1) + "\" y=\"" + fixed(y + font * 0.35, 1) +
               "\" fill=\"#222222\">" + detail::escape(panel.series[k].name) + "</text>\n";
      }
      svg += "</g>\n";
    }
  }

  if (!figure.x_label.empty()) {
    svg += "<text x=\"" + fixed(margin_left + plot_width / 2, 1) + "\" y=\"" + fixed(height - 12, 1) +
           "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222222\">" + detail::escape(figure.x_label) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

// Writes the figure to `path` through a temporary file renamed over it, so a reader (or a
// second run writing the same file) never sees half a document. False if it cannot.
inline bool write_file(const Figure& figure, const std::string& path) {
  // the process id in the name: two programs writing the same plot do not share a temporary
#if defined(_WIN32)
  const std::string temporary = path + ".tmp" + std::to_string(_getpid());
#else
  const std::string temporary = path + ".tmp" + std::to_string(getpid());
#endif
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << render(figure);
    if (!out.flush()) {
      out.close();
      std::remove(temporary.c_str());
      return false;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return false;
  }
  return true;
}

}  // namespace examples::svg
