// examples/char_gpt's model and training against PyTorch: with the example's default seed and
// sizes, its first 20 training losses (same initial weights, same randint batches, AdamW in
// two groups, cosine schedule, clipping) are those of tools/char_gpt_torch.py
// (tests/golden/char_gpt.txt) to 1e-4 in float; and the parameters are listed as PyTorch's.
#include <fstream>
#include <sstream>

#include "support/helpers.hpp"

#include "../examples/common/char_gpt_model.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

TEST_CASE("char_gpt: the first 20 training losses are PyTorch's") {
  std::ifstream file(TAPEGRAD_EXAMPLES_DATA_DIR "/kjv.txt", std::ios::binary);
  REQUIRE(file);
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string text = buffer.str();
  const examples::CharVocab vocab(text);
  REQUIRE(vocab.size() == 72);
  const std::vector<float> ids = vocab.encode(text);
  const std::vector<float> train(ids.begin(), ids.begin() + static_cast<int64_t>(0.9 * static_cast<double>(ids.size())));

  examples::GPTConfig config;
  config.vocab_size = vocab.size();
  tg::manual_seed(1337);
  examples::GPT<float> model(config);
  const auto named = model.named_parameters();
  REQUIRE(named.size() == 2 + 12 * 4 + 2);  // wte, wpe, 12 per block, ln_f; the head is wte
  CHECK(named[2].first == "h.0.ln_1.weight");
  CHECK(named[4].first == "h.0.attn.c_attn.weight");
  CHECK(named.back().first == "ln_f.bias");

  examples::GPTTraining<float> training(model, 1e-3, 3000);
  const auto expected = golden_tensor<double>(golden_file("char_gpt.txt"), "char_gpt.f32.losses");
  REQUIRE(expected.numel() == 20);
  for (int64_t i = 0; i < 20; ++i) {
    auto [x, y] = examples::get_batch<float>(train, 16, config.block_size);
    const float loss = training.step(x, y);
    INFO("step " << i << ": loss " << loss << ", PyTorch's " << expected.data()[i]);
    CHECK(std::abs(loss - expected.data()[i]) <= 1e-4);
  }
}
