// SGD and AdamW checkpoints: torch.optim's layout (state.<i>.momentum_buffer; AdamW's as
// Adam's), a resumed run that equals an uninterrupted one to the bit, torch's own
// state_dict() (tests/golden/optim_*_torch.safetensors from tools/gen_optim_golden.py) loading
// and continuing PyTorch's trajectory, and the checkpoints that are refused.
#include <tapegrad/io.hpp>

#include "support/optim_problem.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

template <class T>
std::string describe(const tg::optim::Optimizer<T>& optimizer) {
  const auto state = optimizer.state_dict();
  std::string s;
  for (const auto& [key, t] : state.tensors) s += key + ": " + describe_state(t) + "\n";
  for (const auto& o : state.options) s += o.name + " = " + std::to_string(o.value) + "\n";
  return s;
}

tg::optim::SGDOptions nesterov() { return tg::optim::SGDOptions(0.05).momentum(0.9).nesterov(true); }
tg::optim::AdamWOptions custom() {
  return tg::optim::AdamWOptions(0.05).betas({0.8, 0.99}).eps(1e-6).weight_decay(0.1).amsgrad(true);
}

// 10 steps, save, a fresh optimizer (other options) over a copy of the parameters loads the file;
// both run 10 more steps and agree to the bit, and with PyTorch's step 20.
template <class Opt, class Options>
void check_resume(const std::string& name, const Options& options, const Options& other, const std::string& golden) {
  Bowl<double> run;
  Opt opt(run.params(), options);
  for (int k = 0; k < 10; ++k) opt.step(run.grads());
  TempFile file("io_optim_test." + name + ".safetensors");
  tg::save(opt, file.path);

  Bowl<double> resumed;
  std::copy(run.W.data(), run.W.data() + 20, resumed.W.data());
  std::copy(run.b.data(), run.b.data() + 3, resumed.b.data());
  Opt opt2(resumed.params(), other);
  tg::load(opt2, file.path);
  CHECK(describe(opt2) == describe(opt));
  for (int k = 11; k <= 20; ++k) {
    opt.step(run.grads());
    opt2.step(resumed.grads());
  }
  CHECK(run.W.to_vector() == resumed.W.to_vector());
  CHECK(run.b.to_vector() == resumed.b.to_vector());
  expect_golden(resumed.W, optim_golden(), golden + ".f64.W.20", 1e-13, 1e-14);
  expect_golden(resumed.b, optim_golden(), golden + ".f64.b.20", 1e-13, 1e-14);
}

// torch's state_dict after 10 steps loads over PyTorch's parameters after step 10, and the run
// continues to PyTorch's steps 11..20.
template <class Opt, class Options>
void check_torch_checkpoint(const std::string& file, const Options& other, const std::string& golden) {
  Bowl<double> pb;
  const auto W10 = golden_tensor<double>(optim_golden(), golden + ".f64.W.10");
  const auto b10 = golden_tensor<double>(optim_golden(), golden + ".f64.b.10");
  std::copy(W10.data(), W10.data() + 20, pb.W.data());
  std::copy(b10.data(), b10.data() + 3, pb.b.data());
  Opt opt(pb.params(), other);
  tg::load(opt, std::string(TAPEGRAD_GOLDEN_DIR) + "/" + file);
  check_bowl_trajectory<double>(golden, opt, pb, 1e-13, 1e-14, false, nullptr, 11, 20);
}

}  // namespace

TEST_CASE("an SGD checkpoint holds torch.optim's momentum buffers and resumes exactly") {
  Bowl<double> pb;
  tg::optim::SGD<double> opt(pb.params(), nesterov());
  opt.step(pb.grads());
  TempFile file("io_optim_test.sgd_layout.safetensors");
  tg::save(opt, file.path);
  tg::io::Metadata metadata;
  const auto tensors = tg::load_tensors<double>(file.path, &metadata);
  REQUIRE(tensors.size() == 2);
  CHECK(tensors[0].first == "state.0.momentum_buffer");
  CHECK(tensors[1].first == "state.1.momentum_buffer");
  REQUIRE(metadata.size() == 2);
  CHECK(metadata[0] == std::pair<std::string, std::string>{"optimizer", "SGD"});
  CHECK(metadata[1].second ==
        R"([{"lr":0.05,"momentum":0.9,"dampening":0.0,"weight_decay":0.0,"nesterov":true,"maximize":false,"params":[0,1]}])");
  check_resume<tg::optim::SGD<double>>("sgd", nesterov(), tg::optim::SGDOptions(1.0), "sgd.nesterov");
}

TEST_CASE("an AdamW checkpoint holds Adam's keys under the class AdamW and resumes exactly") {
  Bowl<double> pb;
  tg::optim::AdamW<double> opt(pb.params(), custom());
  opt.step(pb.grads());
  TempFile file("io_optim_test.adamw_layout.safetensors");
  tg::save(opt, file.path);
  tg::io::Metadata metadata;
  const auto tensors = tg::load_tensors<double>(file.path, &metadata);
  REQUIRE(tensors.size() == 8);
  CHECK(tensors[0].first == "state.0.step");
  CHECK(tensors[3].first == "state.0.max_exp_avg_sq");
  REQUIRE(metadata.size() == 2);
  CHECK(metadata[0] == std::pair<std::string, std::string>{"optimizer", "AdamW"});
  CHECK(metadata[1].second ==
        R"([{"lr":0.05,"betas":[0.8,0.99],"eps":1e-06,"weight_decay":0.1,"amsgrad":true,"maximize":false,"params":[0,1]}])");
  check_resume<tg::optim::AdamW<double>>("adamw", custom(), tg::optim::AdamWOptions(1e-4), "adamw.custom");
}

TEST_CASE("torch.optim's own SGD and AdamW state_dicts load and continue PyTorch's runs") {
  check_torch_checkpoint<tg::optim::SGD<double>>("optim_sgd_torch.safetensors", tg::optim::SGDOptions(1.0),
                                                 "sgd.nesterov");
  check_torch_checkpoint<tg::optim::AdamW<double>>("optim_adamw_torch.safetensors", tg::optim::AdamWOptions(),
                                                   "adamw.custom");
}

TEST_CASE("SGD and AdamW checkpoints that do not fit are refused, and change nothing") {
  Bowl<double> pb;
  tg::optim::SGD<double> sgd(pb.params(), nesterov());
  sgd.step(pb.grads());
  TempFile good("io_optim_test.good.safetensors");
  tg::save(sgd, good.path);
  const auto tensors = tg::load_tensors<double>(good.path);
  const std::string groups =
      R"([{"lr":0.05,"momentum":0.9,"dampening":0.0,"weight_decay":0.0,"nesterov":true,"maximize":false,"params":[0,1]}])";

  Bowl<double> other;
  tg::optim::SGD<double> target(other.params(), 0.3);
  target.step(other.grads());
  const std::string before = describe(target);
  TempFile bad("io_optim_test.bad.safetensors");
  auto refused = [&](tg::optim::Optimizer<double>& into, const tg::NamedTensors<double>& t, const std::string& g,
                     const std::string& cls, const std::string& problem) {
    const std::string was = describe(into);
    tg::save_tensors(t, bad.path, {{"optimizer", cls}, {"param_groups", g}});
    const std::string message = error_of([&] { tg::load(into, bad.path); });
    INFO("expected: " << problem);
    INFO("got:      " << message);
    CHECK(message == "load: " + bad.path + ": " + problem);
    CHECK(describe(into) == was);
  };
  auto with = [&](const std::string& from, const std::string& to) {
    std::string g = groups;
    g.replace(g.find(from), from.size(), to);
    return g;
  };
  refused(target, tensors, groups, "Adam", "a checkpoint of Adam, not of SGD");
  refused(target, tensors, with("\"lr\":0.05", "\"lr\":-1"), "SGD", "SGD: invalid learning rate: -1");
  refused(target, tensors, with("\"momentum\":0.9", "\"momentum\":-0.9"), "SGD", "SGD: invalid momentum value: -0.9");
  refused(target, tensors, with("\"dampening\":0.0", "\"dampening\":0.5"), "SGD",
          "SGD: Nesterov momentum requires a momentum and zero dampening (momentum 0.9, dampening 0.5)");
  refused(target, tensors, with("\"lr\":0.05,", ""), "SGD", "SGD: load_state_dict: the option \"lr\" is missing");
  refused(target, tensors, with("\"nesterov\":true", "\"nesterov\":true,\"betas\":[0.9,0.99]"), "SGD",
          "SGD: load_state_dict: unknown option \"betas.0\"");
  refused(target, tensors, with("\"nesterov\":true", "\"nesterov\":1"), "SGD",
          "SGD: load_state_dict: unknown option \"nesterov\"");
  refused(target, tensors, with("\"maximize\":false", "\"maximize\":false,\"differentiable\":true"), "SGD",
          "SGD: load_state_dict: option \"differentiable\" = true is not supported");
  {
    auto t = tensors;
    t[1].second = tg::zeros<double>({4});
    refused(target, t, groups, "SGD", "SGD: load_state_dict: \"1.momentum_buffer\" has shape [4] but parameter 1 has shape [3]");
    t = tensors;
    t[0].first = "state.0.exp_avg";
    refused(target, t, groups, "SGD", "SGD: load_state_dict: unexpected key \"0.exp_avg\"");
    t = tensors;
    t[0].first = "state.2.momentum_buffer";
    refused(target, t, groups, "SGD", "SGD: load_state_dict: \"2.momentum_buffer\" is for parameter 2 but the optimizer has 2");
    t = tensors;
    t[0].first = "state.01.momentum_buffer";
    refused(target, t, groups, "SGD", "SGD: load_state_dict: unexpected key \"01.momentum_buffer\"");
  }
  // An Adam checkpoint does not load into AdamW, nor the reverse: the classes differ.
  tg::optim::AdamW<double> adamw(other.params(), custom());
  tg::optim::Adam<double> adam(Bowl<double>().params(), 0.01);
  adam.step(Bowl<double>().grads());
  TempFile adam_file("io_optim_test.adam.safetensors");
  tg::save(adam, adam_file.path);
  const std::string adamw_before = describe(adamw);
  CHECK(error_of([&] { tg::load(adamw, adam_file.path); }) == "load: " + adam_file.path + ": a checkpoint of Adam, not of AdamW");
  CHECK(describe(adamw) == adamw_before);
  // AdamW's own checks name AdamW
  const auto adam_tensors = tg::load_tensors<double>(adam_file.path);
  refused(adamw, adam_tensors,
          R"([{"lr":0.01,"betas":[0.9,1.5],"eps":1e-08,"weight_decay":0.0,"amsgrad":false,"params":[0,1]}])", "AdamW",
          "AdamW: invalid beta parameter at index 1: 1.5");
  refused(adamw, adam_tensors,
          R"([{"lr":0.01,"betas":[0.9,0.99],"eps":1e-08,"weight_decay":0.0,"amsgrad":true,"params":[0,1]}])", "AdamW",
          "AdamW: load_state_dict: the state of parameter 0 lacks one of step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)");

  // the good checkpoint loads
  tg::load(target, good.path);
  CHECK(describe(target) == describe(sgd));
  CHECK(describe(target) != before);
}
