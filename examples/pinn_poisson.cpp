// A physics-informed network: u''(x) = -pi^2 sin(pi x) on [0, 1] with u(0) = u(1) = 0, whose
// solution is sin(pi x). The network never sees the solution: it is trained so that the
// equation's residual vanishes at collocation points, u'' taken through two nested
// autograd::grad calls with create_graph. u(x) = x (1 - x) N(x) meets the boundary conditions
// by construction (Lagaris' trial function), so the loss is the residual alone.
// Shows a progress line, prints the final error and writes the loss and error curves to an
// SVG file.
// Build and run: cmake -S . -B build && cmake --build build --target pinn_poisson
//                ./build/examples/pinn_poisson [steps] [curves.svg]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "common/progress.hpp"
#include "common/svg_plot.hpp"

namespace tg = tapegrad;
using Td = tg::Tensor<double>;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 3000;
  const std::string plot_path = argc > 2 ? argv[2] : "pinn_poisson_curves.svg";
  const double pi = std::acos(-1.0);
  tg::manual_seed(0);
  tg::nn::Sequential<double> net(tg::nn::Linear<double>(1, 32), tg::nn::Tanh<double>(), tg::nn::Linear<double>(32, 32),
                                 tg::nn::Tanh<double>(), tg::nn::Linear<double>(32, 1));
  auto u = [&](const Td& x) { return x * (1 - x) * net(x); };  // x: (N, 1)

  // 64 collocation points, the midpoints of a uniform grid on (0, 1)
  const int64_t n = 64;
  Td x = tg::empty<double>({n, 1});
  for (int64_t i = 0; i < n; ++i) x.data()[i] = (static_cast<double>(i) + 0.5) / static_cast<double>(n);
  Td forcing = tg::empty<double>({n, 1});  // -u'' of the solution: pi^2 sin(pi x)
  for (int64_t i = 0; i < n; ++i) forcing.data()[i] = pi * pi * std::sin(pi * x.data()[i]);
  x.requires_grad_();

  // The largest error against sin(pi x) on a grid that includes the boundary.
  Td grid = tg::empty<double>({101, 1});
  for (int64_t i = 0; i <= 100; ++i) grid.data()[i] = static_cast<double>(i) / 100.0;
  auto max_error_on_grid = [&] {
    tg::NoGradGuard no_grad;
    const Td prediction = u(grid);
    double max_error = 0;
    for (int64_t i = 0; i <= 100; ++i) {
      max_error = std::max(max_error, std::abs(prediction.data()[i] - std::sin(pi * grid.data()[i])));
    }
    return max_error;
  };

  tg::optim::Adam optimizer(net.parameters(), tg::optim::AdamOptions(3e-3));
  std::vector<double> loss_steps, losses, error_steps, errors;  // for the plot
  examples::ProgressLine::Options progress_options;
  progress_options.report_every_steps = examples::ProgressLine::round_interval(steps, 6);
  progress_options.loss_window = 20;  // the loss falls by orders of magnitude: a mean since step 1 would hide that
  examples::ProgressLine progress(1, steps, progress_options);
  progress.start_epoch(1);
  double first_loss = 0, loss_value = 0;
  for (int step = 1; step <= steps; ++step) {
    Td ux = u(x);
    // each u(x_i) depends on x_i alone, so the gradient of the sum is the pointwise derivative
    Td du = tg::autograd::grad({ux.sum()}, {x}, {}, true, true)[0];   // u'(x), differentiable
    Td d2u = tg::autograd::grad({du.sum()}, {x}, {}, true, true)[0];  // u''(x), differentiable
    Td loss = (d2u + forcing).pow(2).mean();
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    loss_value = loss.item();
    if (step == 1) first_loss = loss_value;
    loss_steps.push_back(step);
    losses.push_back(loss_value);
    if (step == 1 || step % 25 == 0 || step == steps) {
      error_steps.push_back(step);
      errors.push_back(max_error_on_grid());
    }
    progress.step(loss_value);
  }
  progress.end_epoch();
  progress.finish();

  const double max_error = max_error_on_grid();
  std::printf("loss fell from %.6e to %.6e\n", first_loss, loss_value);
  std::printf("max |u - sin(pi x)| on 101 points: %.3e\n", max_error);

  examples::svg::Figure figure;
  figure.title = "Physics-informed network for u'' = \u2212\u03c0\u00b2 sin(\u03c0x)";
  figure.x_label = "step";
  figure.panels.push_back({"residual loss", {{"mean (u'' + \u03c0\u00b2 sin \u03c0x)\u00b2 at 64 points", loss_steps, losses}}, true});
  figure.panels.push_back({"error", {{"max |u \u2212 sin \u03c0x| on 101 points", error_steps, errors, "#d62728"}}, true});
  if (examples::svg::write_file(figure, plot_path)) {
    std::printf("Curves written to %s\n", plot_path.c_str());
  } else {
    std::fprintf(stderr, "cannot write %s\n", plot_path.c_str());
    return 1;
  }
}
