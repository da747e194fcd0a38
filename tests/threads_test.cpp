// Threads: grad mode and the memory pools are per thread, and a GeneratorGuard gives a thread
// its own random stream, so threads that each train their own model get exactly the numbers
// one thread alone gets. The process-wide generator may be shared; its draws stay whole.
#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

#include "support/demo_training.hpp"
#include "support/helpers.hpp"

namespace tg = tapegrad;
using tapegrad_test::DemoTraining;

namespace {

struct Run {
  std::vector<float> losses;
  std::vector<float> state;
};

// The demo's training, from manual_seed(seed) on whatever the default generator is.
Run train(uint64_t seed, int steps) {
  tg::manual_seed(seed);
  DemoTraining<float> demo;
  Run run;
  for (int i = 0; i < steps; ++i) run.losses.push_back(demo.step());
  run.state = demo.state();
  return run;
}

// The same on this thread's own generator.
Run train_on_own_generator(uint64_t seed, int steps) {
  tg::Generator gen;
  tg::GeneratorGuard use(gen);
  return train(seed, steps);
}

}  // namespace

TEST_CASE("two threads training their own models match one thread alone, bit for bit") {
  constexpr int kSteps = 200;
  // The references: one thread, the process-wide generator, PyTorch's streams.
  const Run alone_1 = train(1, kSteps);
  const Run alone_2 = train(2, kSteps);
  REQUIRE(alone_1.losses != alone_2.losses);

  for (int round = 0; round < 3; ++round) {
    Run run_1, run_2;
    std::thread t1([&] { run_1 = train_on_own_generator(1, kSteps); });
    std::thread t2([&] { run_2 = train_on_own_generator(2, kSteps); });
    // meanwhile this thread draws from the process-wide generator: no effect on theirs
    for (int i = 0; i < 100; ++i) tg::rand({1000});
    t1.join();
    t2.join();
    INFO("round " << round);
    CHECK(run_1.losses == alone_1.losses);
    CHECK(run_1.state == alone_1.state);
    CHECK(run_2.losses == alone_2.losses);
    CHECK(run_2.state == alone_2.state);
  }
}

TEST_CASE("GeneratorGuard nests and restores the previous default generator") {
  tg::manual_seed(5);
  const auto expected = tg::rand<double>({4}).to_vector();
  tg::manual_seed(5);
  tg::Generator a(123), b(456);
  {
    tg::GeneratorGuard use_a(a);
    CHECK(&tg::default_generator() == &a);
    {
      tg::GeneratorGuard use_b(b);
      CHECK(&tg::default_generator() == &b);
      tg::manual_seed(9);  // seeds b, not the process-wide generator
    }
    CHECK(&tg::default_generator() == &a);
    tg::randn({16});  // draws from a
  }
  CHECK(tg::rand<double>({4}).to_vector() == expected);  // the process-wide stream did not move
  CHECK(b.offset() == 0);
  CHECK(a.offset() > 0);
  // another thread starts on the process-wide generator whatever this one uses
  tg::GeneratorGuard use_a(a);
  tg::Generator* seen = nullptr;
  std::thread([&] { seen = &tg::default_generator(); }).join();
  CHECK(seen != &a);
}

TEST_CASE("threads sharing the process-wide generator draw whole fills, none lost or repeated") {
  tg::manual_seed(11);
  constexpr int kFills = 200, kSize = 1000;
  std::vector<std::vector<float>> fills_1, fills_2;
  auto draw = [&](std::vector<std::vector<float>>& out) {
    for (int i = 0; i < kFills; ++i) out.push_back(tg::rand({kSize}).to_vector());
  };
  std::thread t1(draw, std::ref(fills_1));
  std::thread t2(draw, std::ref(fills_2));
  t1.join();
  t2.join();
  // every fill is one contiguous stretch of the single-threaded stream
  CHECK(tg::default_generator().offset() == uint64_t(2) * kFills * kSize);
  tg::manual_seed(11);
  std::vector<std::vector<float>> serial;
  for (int i = 0; i < 2 * kFills; ++i) serial.push_back(tg::rand({kSize}).to_vector());
  std::vector<std::vector<float>> both = fills_1;
  both.insert(both.end(), fills_2.begin(), fills_2.end());
  std::sort(both.begin(), both.end());
  std::sort(serial.begin(), serial.end());
  CHECK(both == serial);
}
