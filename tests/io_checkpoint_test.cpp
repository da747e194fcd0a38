// Optimizer checkpoints: Adam's per-parameter state and options under torch.optim's keys, a
// resumed optimizer that continues exactly, and the checkpoints a load must refuse (nothing
// changed). The two-process resume is check_resume.cmake; generator states are rng_state_test.
#include <cstdio>

#include <tapegrad/io.hpp>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using tapegrad_test::error_of;
using tapegrad_test::TempFile;

namespace {

// Everything an optimizer holds, to the last bit.
template <class T>
std::string describe(const tg::optim::Optimizer<T>& optimizer) {
  const auto state = optimizer.state_dict();
  std::string s;
  for (const auto& [key, t] : state.tensors) s += key + ": " + tapegrad_test::describe_state(t) + "\n";
  for (const auto& o : state.options) s += o.name + " = " + std::to_string(o.value) + "\n";
  return s;
}

struct Setup {
  tg::Tensor<double> w = tg::randn<double>({3, 2}).requires_grad_();
  tg::Tensor<double> b = tg::randn<double>({2}).requires_grad_();
  std::vector<tg::Tensor<double>> params() const { return {w, b}; }
  void step(tg::optim::Adam<double>& optimizer, const tg::Tensor<double>& x) const {
    optimizer.zero_grad();
    tg::sum(tg::tanh(tg::matmul(x, w) + b)).backward();
    optimizer.step();
  }
};

}  // namespace

TEST_CASE("an Adam checkpoint holds torch.optim's state and resumes exactly") {
  tg::manual_seed(5);
  Setup a;
  const auto x = tg::randn<double>({4, 3});
  tg::optim::Adam<double> adam(a.params(), tg::optim::AdamOptions(0.05).betas({0.8, 0.99}).weight_decay(0.01).amsgrad(true));
  for (int i = 0; i < 3; ++i) a.step(adam, x);
  TempFile file("io_checkpoint_test.adam.safetensors");
  tg::save(adam, file.path);

  // torch.optim's layout: state.<index>.<name>, step as a float scalar, param_groups as JSON.
  tg::io::Metadata metadata;
  const auto tensors = tg::load_tensors<double>(file.path, &metadata);
  std::vector<std::string> keys;
  for (const auto& [key, t] : tensors) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.max_exp_avg_sq",
                                         "state.1.step", "state.1.exp_avg", "state.1.exp_avg_sq",
                                         "state.1.max_exp_avg_sq"});
  CHECK(tensors[0].second.item() == 3);
  REQUIRE(metadata.size() == 2);
  CHECK(metadata[0] == std::pair<std::string, std::string>{"optimizer", "Adam"});
  CHECK(metadata[1].second ==
        R"([{"lr":0.05,"betas":[0.8,0.99],"eps":1e-08,"weight_decay":0.01,"amsgrad":true,"maximize":false,"params":[0,1]}])");

  // A second optimizer, other options, other parameters with a's values: after loading, both
  // continue to the same numbers.
  Setup b;
  std::copy(a.w.data(), a.w.data() + 6, b.w.data());
  std::copy(a.b.data(), a.b.data() + 2, b.b.data());
  tg::optim::Adam<double> resumed(b.params(), 1e-4);
  tg::load(resumed, file.path);
  CHECK(describe(resumed) == describe(adam));
  CHECK(resumed.lr() == 0.05);
  CHECK(resumed.options().amsgrad());
  for (int i = 0; i < 2; ++i) {
    a.step(adam, x);
    b.step(resumed, x);
  }
  CHECK(a.w.to_vector() == b.w.to_vector());
  CHECK(a.b.to_vector() == b.b.to_vector());
}

TEST_CASE("checkpoints that do not fit the optimizer are refused, and change nothing") {
  tg::manual_seed(6);
  Setup s;
  const auto x = tg::randn<double>({4, 3});
  tg::optim::Adam<double> adam(s.params(), 0.01);
  s.step(adam, x);
  TempFile good("io_checkpoint_test.good.safetensors");
  tg::save(adam, good.path);
  const auto tensors = tg::load_tensors<double>(good.path);
  const std::string groups = R"([{"lr":0.01,"betas":[0.9,0.999],"eps":1e-08,"weight_decay":0.0,"amsgrad":false,"params":[0,1]}])";

  tg::optim::Adam<double> target(Setup().params(), 0.3);
  const std::string before = describe(target);
  TempFile bad("io_checkpoint_test.bad.safetensors");
  auto refused = [&](const tg::NamedTensors<double>& t, const tg::io::Metadata& meta, const std::string& problem) {
    tg::save_tensors(t, bad.path, meta);
    const std::string message = error_of([&] { tg::load(target, bad.path); });
    INFO("expected: " << problem);
    INFO("got:      " << message);
    CHECK(message == "load: " + bad.path + ": " + problem);
    CHECK(describe(target) == before);
  };
  const tg::io::Metadata meta = {{"optimizer", "Adam"}, {"param_groups", groups}};
  auto with = [&](const std::string& from, const std::string& to) {
    std::string g = groups;
    g.replace(g.find(from), from.size(), to);
    return tg::io::Metadata{{"optimizer", "Adam"}, {"param_groups", g}};
  };
  auto without = [&](size_t i) {
    auto t = tensors;
    t.erase(t.begin() + static_cast<int64_t>(i));
    return t;
  };

  refused(tensors, {}, "not an optimizer checkpoint (no \"optimizer\" and \"param_groups\" metadata)");
  refused(tensors, {{"optimizer", "SGD"}, {"param_groups", groups}}, "a checkpoint of SGD, not of Adam");
  refused(tensors, with("[0,1]", "[0,1,2]"), "the checkpoint is of 3 parameters, the optimizer has 2");
  refused(tensors, with("[{", "[{}, {"), "2 param groups; tapegrad's optimizers have one");
  refused(tensors, with("\"params\"", "\"params"), "\"param_groups\" is not a JSON list");
  refused(tensors, with("\"lr\":0.01", "\"lr\":-1"), "Adam: invalid learning rate: -1");
  refused(tensors, with("\"lr\":0.01", "\"lr\":0.01,\"momentum\":0.9"), "Adam: load_state_dict: unknown option \"momentum\"");
  refused(tensors, with("\"lr\":0.01,", ""), "Adam: load_state_dict: the option \"lr\" is missing");
  refused(tensors, with("\"lr\":0.01", "\"lr\":null"), "option \"lr\" holds null");
  refused(tensors, with("\"lr\":0.01", "\"lr\":1e999"), "\"param_groups\" is not a JSON list");
  refused(tensors, with(",\"params\":[0,1]", ""), "the param group has no \"params\"");
  refused(tensors, with("\"amsgrad\":false", "\"amsgrad\":true"),
          "Adam: load_state_dict: the state of parameter 0 lacks one of step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)");
  refused(tensors, with("\"amsgrad\":false", "\"amsgrad\":false,\"maximize\":true"),
          "Adam: load_state_dict: option \"maximize\" = true is not supported");
  refused(without(2), meta, "Adam: load_state_dict: the state of parameter 0 lacks one of step, exp_avg, exp_avg_sq");
  {
    auto t = tensors;
    t[1].second = tg::zeros<double>({2, 3});
    refused(t, meta, "Adam: load_state_dict: \"0.exp_avg\" has shape [2, 3] but parameter 0 has shape [3, 2]");
    t = tensors;
    t[0].second = tg::full<double>({}, 1.5);
    refused(t, meta, "Adam: load_state_dict: \"0.step\" = 1.5 is not a step count");
    t = tensors;
    t[0].first = "state.7.step";
    refused(t, meta, "Adam: load_state_dict: \"7.step\" is for parameter 7 but the optimizer has 2");
    t = tensors;
    t[0].first = "state.0.momentum_buffer";
    refused(t, meta, "Adam: load_state_dict: unexpected key \"0.momentum_buffer\"");
    t = tensors;
    for (const std::string bad : {"state.+0.step", "state. 0.step", "state.00.step", "state.-1.step"}) {
      t = tensors;
      t[0].first = bad;
      refused(t, meta, "Adam: load_state_dict: unexpected key \"" + bad.substr(6) + "\"");
    }
    t = tensors;
    t[0].first = "weights";
    refused(t, meta, "unexpected key \"weights\"");
  }
  // The same checkpoint loads, and then the state is the saved one.
  tg::load(target, good.path);
  CHECK(describe(target) == describe(adam));
}
