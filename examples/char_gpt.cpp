// A character-level GPT (nanoGPT's shape: examples/common/char_gpt_model.hpp) trained on the
// first seven books of the King James Bible (examples/data/kjv.txt, tools/extract_kjv.py).
// 90% of the text trains, 10% validates. Shows the progress line, the validation loss every
// eval_interval steps, writes the loss curves as SVG and the weights as a checkpoint
// (safetensors, where tapegrad::io is there), and at the end samples text with temperature and
// top-k. Its first 20 losses are PyTorch's for the same script (tools/char_gpt_torch.py;
// tests/char_gpt_test.cpp checks them).
// Run: ./build/examples/char_gpt [iterations=3000] [seed=1337] [text=examples/data/kjv.txt]
//                                [curves.svg] [checkpoint.safetensors] [characters to sample=600]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "common/char_gpt_model.hpp"
#include "common/progress.hpp"
#include "common/svg_plot.hpp"

namespace tg = tapegrad;

#ifndef TAPEGRAD_EXAMPLES_DATA_DIR
#define TAPEGRAD_EXAMPLES_DATA_DIR "examples/data"
#endif

namespace {

// The mean loss over `batches` batches of `data`, in eval mode, without a graph.
float estimate_loss(examples::GPT<float>& model, const std::vector<float>& data, int batches) {
  tg::NoGradGuard no_grad;
  model.eval();
  const int64_t L = model.config.block_size;
  double total = 0;
  for (int i = 0; i < batches; ++i) {
    auto [x, y] = examples::get_batch<float>(data, 16, L);
    const tg::Tensor<float> logits = model(x);
    total += tg::nn::functional::cross_entropy(logits.view({-1, logits.size(-1)}), y.view({-1})).item();
  }
  model.train();
  return static_cast<float>(total / batches);
}

// `count` characters after `prompt`: each drawn from softmax(logits / temperature) over the
// top_k most likely characters (multinomial on the default generator).
std::string sample(examples::GPT<float>& model, const examples::CharVocab& vocab, const std::string& prompt, int count,
                   double temperature, int64_t top_k) {
  tg::NoGradGuard no_grad;
  model.eval();
  std::vector<float> ids = vocab.encode(prompt);
  std::string out;
  const int64_t L = model.config.block_size;
  for (int i = 0; i < count; ++i) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(ids.size()), L);
    const tg::Tensor<float> context = tg::tensor<float>(std::vector<float>(ids.end() - n, ids.end()), {1, n});
    tg::Tensor<float> logits = model(context).narrow(1, n - 1, 1).reshape({1, -1}) / temperature;  // (1, V): the last position's
    const auto [top, top_index] = logits.topk(top_k);
    logits = logits.masked_fill(logits < top.narrow(1, top_k - 1, 1), -std::numeric_limits<float>::infinity());
    const float next = tg::multinomial(logits.softmax(-1), 1).item();
    ids.push_back(next);
    out.push_back(vocab.chars[static_cast<size_t>(next)]);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 3000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1337;
  const std::string text_path = argc > 3 ? argv[3] : TAPEGRAD_EXAMPLES_DATA_DIR "/kjv.txt";
  const std::string plot_path = argc > 4 ? argv[4] : "char_gpt_curves.svg";
  const std::string checkpoint_path = argc > 5 ? argv[5] : "char_gpt.safetensors";
  const int sample_chars = argc > 6 ? std::atoi(argv[6]) : 600;
  if (iterations < 1) {
    std::fprintf(stderr, "char_gpt: iterations must be at least 1, got %d\n", iterations);
    return 2;
  }

  std::ifstream file(text_path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "char_gpt: cannot read %s\n", text_path.c_str());
    return 1;
  }
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string text = buffer.str();
  const examples::CharVocab vocab(text);
  const std::vector<float> ids = vocab.encode(text);
  const auto n_train = static_cast<int64_t>(0.9 * static_cast<double>(ids.size()));
  const std::vector<float> train(ids.begin(), ids.begin() + n_train), val(ids.begin() + n_train, ids.end());

  examples::GPTConfig config;
  config.vocab_size = vocab.size();
  tg::manual_seed(seed);
  examples::GPT<float> model(config);
  int64_t n_params = 0;
  for (const auto& p : model.parameters()) n_params += p.numel();
  const int eval_interval = std::min(250, iterations), eval_batches = std::min(20, iterations);
  examples::GPTTraining<float> training(model, 1e-3, iterations);
  std::printf("char_gpt: %ld characters of %s (%ld distinct), %ld parameters: %ld layers, %ld heads, width %ld, "
              "context %ld, batch 16, %d iterations\n",
              static_cast<long>(ids.size()), text_path.c_str(), static_cast<long>(vocab.size()), static_cast<long>(n_params),
              static_cast<long>(config.n_layer), static_cast<long>(config.n_head), static_cast<long>(config.n_embd),
              static_cast<long>(config.block_size), iterations);

  std::vector<double> train_at, train_loss, val_at, val_loss;
  examples::ProgressLine::Options progress_options;
  progress_options.loss_window = 50;
  const int stretches = (iterations + eval_interval - 1) / eval_interval;
  examples::ProgressLine progress(stretches, eval_interval, progress_options);
  int it = 0;
  for (int stretch = 1; stretch <= stretches; ++stretch) {
    progress.start_epoch(stretch);
    double stretch_loss = 0;
    int stretch_steps = 0;
    for (; stretch_steps < eval_interval && it < iterations; ++stretch_steps, ++it) {
      auto [x, y] = examples::get_batch<float>(train, 16, config.block_size);
      const float loss = training.step(x, y);
      progress.step(loss);
      stretch_loss += loss;
    }
    train_at.push_back(it);
    train_loss.push_back(stretch_loss / stretch_steps);
    val_at.push_back(it);
    val_loss.push_back(estimate_loss(model, val, eval_batches));
    char note[64];
    std::snprintf(note, sizeof note, "step %d  val loss %.4f", it, val_loss.back());
    progress.end_epoch(note);
  }
  progress.finish();
  std::printf("train loss %.4f, val loss %.4f\n", train_loss.back(), val_loss.back());

  examples::svg::Figure figure;
  figure.title = "char_gpt on the King James Bible: cross-entropy (nats per character)";
  figure.x_label = "iteration";
  figure.panels.push_back({"cross-entropy", {{"train", train_at, train_loss}, {"validation", val_at, val_loss}}});
  if (!examples::svg::write_file(figure, plot_path)) {
    std::fprintf(stderr, "cannot write %s\n", plot_path.c_str());
    return 1;
  }
  std::printf("Curves written to %s\n", plot_path.c_str());
#if __has_include(<nlohmann/json.hpp>) && !defined(TAPEGRAD_NO_IO)  // as tapegrad.hpp includes io.hpp
  tg::save(model, checkpoint_path);
  std::printf("Checkpoint written to %s\n", checkpoint_path.c_str());
#endif
  if (sample_chars > 0) {
    std::printf("Sample (temperature 0.8, top-k 20):\n%s\n", sample(model, vocab, "\n", sample_chars, 0.8, 20).c_str());
  }
}
