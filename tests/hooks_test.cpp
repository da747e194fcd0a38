// Gradient hooks, autograd::grad's semantics beyond the numbers (which higher_order_test checks
// against PyTorch), backward(create_graph) and autograd::functional's shapes.
#include <string>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using tapegrad_test::leaf;
using Td = tg::Tensor<double>;

TEST_CASE("hooks: a tensor's hook runs once per backward, on the sum of every contribution") {
  Td x = leaf<double>({1, 2}, {2});
  int calls = 0;
  std::vector<double> seen;
  x.register_hook([&](const Td& g) {
    ++calls;
    seen = g.to_vector();
  });
  ((x * 3).sum() + (x * x).sum()).backward();  // d/dx = 3 + 2x
  CHECK(calls == 1);
  CHECK(seen == std::vector<double>{5, 7});
  CHECK(x.grad().to_vector() == std::vector<double>{5, 7});
}

TEST_CASE("hooks: a returned tensor replaces the gradient, on leaves and inside the graph") {
  Td x = leaf<double>({1, 2}, {2});
  Td h = x * 2;
  h.register_hook([](const Td& g) { return g * 10; });  // runs before MulBackward sends it on
  const uint64_t leaf_hook = x.register_hook([](const Td& g) { return g + 1; });
  h.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<double>{21, 21});  // (1 * 10) * 2 + 1
  CHECK(x.remove_hook(leaf_hook));
  x.set_grad(Td());
  h.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<double>{20, 20});
}

TEST_CASE("hooks: post-accumulate hooks fire once each grad() is final, last layer first") {
  tg::manual_seed(3);
  tg::nn::Linear<double> first(3, 4), second(4, 2);
  std::vector<std::string> order;
  std::vector<double> seen_sum;
  auto watch = [&](const Td& p, const std::string& name) {
    p.register_post_accumulate_grad_hook([&, name](const Td& leaf) {
      order.push_back(name);
      seen_sum.push_back(leaf.grad().sum().item());
    });
  };
  watch(first.weight, "0.weight");
  watch(first.bias, "0.bias");
  watch(second.weight, "1.weight");
  watch(second.bias, "1.bias");
  Td x = tg::randn<double>({5, 3});
  // first.weight is used twice, so it is final only after the earlier use's gradient arrives
  // (separate statements: C++ leaves the order of a + b's operands unspecified)
  Td fit = second(tg::relu(first(x))).pow(2).sum();
  Td penalty = (first.weight * first.weight).sum();
  Td loss = fit + penalty;
  loss.backward();
  CHECK(order == std::vector<std::string>{"1.weight", "1.bias", "0.weight", "0.bias"});
  CHECK(seen_sum[2] == first.weight.grad().sum().item());  // the hook saw the final sum
  // autograd::grad accumulates into no grad(), so it fires none
  order.clear();
  tg::autograd::grad({loss}, {first.weight});
  CHECK(order.empty());
}

TEST_CASE("autograd::grad: gradients of intermediates and of several outputs, grad() untouched") {
  Td x = leaf<double>({1, 2, 3}, {3});
  Td h = x * x;          // an intermediate input
  Td y = (h * 2).sum();  // dy/dh = 2
  Td z = (h * x).sum();  // dz/dx = 3 x^2 (through h and directly)
  auto g = tg::autograd::grad({y}, {h, x});
  CHECK(g[0].to_vector() == std::vector<double>{2, 2, 2});
  CHECK(g[1].to_vector() == std::vector<double>{4, 8, 12});
  auto gz = tg::autograd::grad({y, z}, {x}, {tg::scalar_tensor(1.0), tg::scalar_tensor(2.0)});
  CHECK(gz[0].to_vector() == std::vector<double>{4 + 6, 8 + 24, 12 + 54});
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(g[1].requires_grad());  // no graph without create_graph
}

TEST_CASE("autograd::grad with create_graph differentiates to any order") {
  Td x = leaf<double>({0.5, -1.5}, {2});
  Td y = x.pow(4).sum();
  Td d1 = tg::autograd::grad({y}, {x}, {}, true, true)[0];        // 4 x^3
  Td d2 = tg::autograd::grad({d1.sum()}, {x}, {}, true, true)[0];  // 12 x^2
  Td d3 = tg::autograd::grad({d2.sum()}, {x}, {}, true, true)[0];  // 24 x
  Td d4 = tg::autograd::grad({d3.sum()}, {x}, {}, true, true)[0];  // 24
  tapegrad_test::check_close(d1, std::vector<double>{0.5, -13.5}, {2}, 1e-15);
  tapegrad_test::check_close(d2, std::vector<double>{3, 27}, {2}, 1e-15);
  tapegrad_test::check_close(d3, std::vector<double>{12, -36}, {2}, 1e-15);
  tapegrad_test::check_close(d4, std::vector<double>{24, 24}, {2}, 1e-15);
}

TEST_CASE("backward(create_graph): grad() carries a graph that can be differentiated") {
  Td x = leaf<double>({2, 3}, {2});
  (x * x * x).sum().backward({}, true, true);  // x.grad() = 3 x^2, differentiable
  Td g = x.grad();
  REQUIRE(g.requires_grad());
  Td second = tg::autograd::grad({g.sum()}, {x})[0];
  CHECK(second.to_vector() == std::vector<double>{12, 18});  // 6 x
  x.set_grad(Td());  // breaks the cycle x -> grad -> graph -> x, as in PyTorch
  // without create_graph the gradient is a plain value
  (x * x).sum().backward({}, true);
  CHECK_FALSE(x.grad().requires_grad());
}

TEST_CASE("autograd::functional: jacobian, hessian, vjp and hvp of x^3") {
  Td x = tg::tensor<double>({1, 2}, {2});  // need not require grad
  auto cube = [](const Td& t) { return t.pow(3); };
  auto cube_sum = [](const Td& t) { return t.pow(3).sum(); };
  namespace fn = tg::autograd::functional;
  CHECK(fn::jacobian(cube, x).to_vector() == std::vector<double>{3, 0, 0, 12});
  CHECK(fn::hessian(cube_sum, x).to_vector() == std::vector<double>{6, 0, 0, 12});
  auto [y, vj] = fn::vjp(cube, x, tg::tensor<double>({1, -1}, {2}));
  CHECK(y.to_vector() == std::vector<double>{1, 8});
  CHECK(vj.to_vector() == std::vector<double>{3, -12});
  auto [s, hv] = fn::hvp(cube_sum, x, tg::tensor<double>({1, 1}, {2}));
  CHECK(s.item() == 9);
  CHECK(hv.to_vector() == std::vector<double>{6, 12});
  CHECK_FALSE(hv.requires_grad());
  CHECK_FALSE(x.requires_grad());
  CHECK(fn::jacobian(cube, tg::ones<double>({2, 3})).shape() == tg::Shape{2, 3, 2, 3});
}

TEST_CASE("autograd::queue_callback: runs once after every gradient of the pass is accumulated") {
  Td a = leaf<double>({1, 2}, {2});
  Td b = leaf<double>({3}, {1});
  std::vector<std::string> events;
  // queued from b's hook, which fires before a's gradient has arrived (b's edge is the first one reached)
  b.register_post_accumulate_grad_hook([&](const Td&) {
    events.push_back("b hook");
    tg::autograd::queue_callback([&] {
      events.push_back("callback: a.grad " + std::to_string(a.grad().defined() ? a.grad().sum().item() : -1.0));
      tg::autograd::queue_callback([&] { events.push_back("queued by the callback"); });
    });
  });
  a.register_post_accumulate_grad_hook([&](const Td&) { events.push_back("a hook"); });
  ((a * 2).sum() * b).backward();  // a.grad = 2 b = {6, 6}
  CHECK(events == std::vector<std::string>{"b hook", "a hook", "callback: a.grad 12.000000", "queued by the callback"});
  events.clear();
  // the next pass starts with an empty queue; outside a pass queueing is refused
  (a * 2).sum().backward();
  CHECK(events == std::vector<std::string>{"a hook"});
  CHECK_THROWS_WITH(tg::autograd::queue_callback([] {}),
                    "autograd::queue_callback: no backward pass is running on this thread; queue callbacks from a "
                    "hook during backward");
  // a pass that fails drops its callbacks unrun
  events.clear();
  Td c = leaf<double>({1}, {1});
  c.register_hook([&](const Td& g) -> Td {
    tg::autograd::queue_callback([&] { events.push_back("must not run"); });
    throw tg::Error("stop");
    return g;
  });
  CHECK_THROWS_WITH((c * 2).sum().backward(), "stop");
  CHECK(events.empty());
}
