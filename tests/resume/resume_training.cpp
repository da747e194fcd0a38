// Training that stops and resumes in another process. One program, three runs:
//   resume_training full <steps> <out>           trains <steps> steps, saves the model to <out>
//   resume_training first <steps> <checkpoint>   trains <steps> steps, saves model, optimizer
//                                                and generator as <checkpoint>.{model,optim,rng}
//   resume_training resume <checkpoint> <from> <to> <out>
//                                                loads the checkpoint (into a model built from
//                                                another seed), trains steps [from, to), saves
//                                                to <out>
// check_resume.cmake runs full 20, first 10 and resume 20, and compares the two model files
// byte for byte. Every step draws its batch, its dropout mask and nothing else from the
// default generator, so the generator's state is part of what must resume.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <tapegrad/tapegrad.hpp>
#include <tapegrad/io.hpp>

namespace tg = tapegrad;

namespace {

tg::nn::Sequential<float> make_model() {
  return tg::nn::Sequential(tg::nn::Linear(6, 16), tg::nn::BatchNorm1d(16), tg::nn::ReLU(), tg::nn::Dropout(0.3),
                            tg::nn::Linear(16, 1), tg::nn::Sigmoid());
}

// Steps [from, to): a fresh batch from the generator, BCE, Adam (amsgrad and weight decay, so
// every piece of its state matters).
void train(tg::nn::Sequential<float>& model, tg::optim::Adam<float>& optimizer, int from, int to) {
  model.train();
  for (int step = from; step < to; ++step) {
    const auto x = tg::randn({32, 6});
    const auto y = (x.sum(1) > 0).unsqueeze(1);
    const auto p = model(x);
    const auto loss = -tg::mean(y * tg::log(p + 1e-8) + (1 - y) * tg::log(1 - p + 1e-8));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
}

tg::optim::AdamOptions options() { return tg::optim::AdamOptions(0.02).weight_decay(1e-3).amsgrad(true); }

int usage() {
  std::fprintf(stderr, "usage: resume_training full <steps> <out> | first <steps> <checkpoint> | resume <checkpoint> <from> <to> <out>\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string mode = argv[1];
  try {
    if (mode == "full" || mode == "first") {
      tg::manual_seed(7);
      auto model = make_model();
      tg::optim::Adam<float> optimizer(model.parameters(), options());
      train(model, optimizer, 0, std::atoi(argv[2]));
      const std::string out = argv[3];
      if (mode == "full") {
        tg::save(model, out);
      } else {
        tg::save(model, out + ".model");
        tg::save(optimizer, out + ".optim");
        tg::save(tg::default_generator(), out + ".rng");
      }
    } else if (mode == "resume" && argc == 6) {
      tg::manual_seed(12345);  // other initial weights and another stream: all must come from the files
      auto model = make_model();
      tg::optim::Adam<float> optimizer(model.parameters(), tg::optim::AdamOptions(0.5));
      const std::string checkpoint = argv[2];
      tg::load(model, checkpoint + ".model");
      tg::load(optimizer, checkpoint + ".optim");
      tg::load(tg::default_generator(), checkpoint + ".rng");
      train(model, optimizer, std::atoi(argv[3]), std::atoi(argv[4]));
      tg::save(model, argv[5]);
    } else {
      return usage();
    }
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "resume_training: %s\n", e.what());
    return 1;
  }
  return 0;
}
