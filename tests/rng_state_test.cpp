// Generator::get_state and set_state against torch.get_rng_state()'s bytes and the draws that
// follow them (tests/golden/rng_state.txt, written by tools/gen_rng_state_golden.py, whose
// docstring describes each case).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

using Bytes = std::vector<uint8_t>;

// Byte offsets in the state (the layout is in include/tapegrad/core/generator.hpp).
constexpr size_t kLeft = 8, kSeeded = 12, kNext = 16, kWords = 24, kNormalX = 5016, kNormalY = 5024,
                 kNormalRho = 5032, kNormalIsValid = 5040, kLegacySize = 5048, kFloatNormal = 5048,
                 kFloatNormalIsValid = 5052, kSize = 5056;

struct RngStateGolden {
  std::map<std::string, Bytes> states;
  std::map<std::string, std::map<std::string, std::vector<double>>> draws;  // case -> call -> values
};

Bytes from_hex(const std::string& hex) {
  REQUIRE(hex.size() % 2 == 0);
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

const RngStateGolden& golden() {
  static const RngStateGolden g = [] {
    const std::string path = std::string(TAPEGRAD_GOLDEN_DIR) + "/rng_state.txt";
    std::ifstream in(path);
    INFO("golden file " << path);
    REQUIRE(in.good());
    RngStateGolden parsed;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string kind, name;
      fields >> kind >> name;
      INFO("line: " << line.substr(0, 80));
      if (kind == "state") {
        std::string hex;
        fields >> hex;
        parsed.states[name] = from_hex(hex);
      } else {
        REQUIRE(kind == "draw");
        std::string call;
        size_t n = 0;
        fields >> call >> n;
        std::vector<double>& values = parsed.draws[name][call];
        for (size_t i = 0; i < n; ++i) {
          std::string token;
          fields >> token;
          values.push_back(std::strtod(token.c_str(), nullptr));
        }
        REQUIRE(!fields.fail());
      }
    }
    REQUIRE(!parsed.states.empty());
    return parsed;
  }();
  return g;
}

const Bytes& golden_state(const std::string& name) {
  const auto it = golden().states.find(name);
  INFO("golden state " << name);
  REQUIRE(it != golden().states.end());
  return it->second;
}

// Each situation tapegrad reaches by itself, starting from a new Generator (default seed).
const std::map<std::string, std::function<void(tg::Generator&)>>& recipes() {
  static const std::map<std::string, std::function<void(tg::Generator&)>> r = {
      {"seed0", [](tg::Generator& gen) { gen.manual_seed(0); }},
      {"seed42_randn5_x10",
       [](tg::Generator& gen) {
         gen.manual_seed(42);
         for (int i = 0; i < 10; ++i) tg::randn<float>({5}, gen);
       }},
      {"seed42_randn5_x11",
       [](tg::Generator& gen) {
         gen.manual_seed(42);
         for (int i = 0; i < 11; ++i) tg::randn<float>({5}, gen);
       }},
      {"seed7_rand1000",
       [](tg::Generator& gen) {
         gen.manual_seed(7);
         tg::rand<float>({1000}, gen);
       }},
      {"seed1_rand624",
       [](tg::Generator& gen) {
         gen.manual_seed(1);
         tg::rand<float>({624}, gen);
       }},
      {"seed42_randn3_f64",
       [](tg::Generator& gen) {
         gen.manual_seed(42);
         tg::randn<double>({3}, gen);
       }},
      {"seed_2pow40_plus5", [](tg::Generator& gen) { gen.manual_seed((uint64_t(1) << 40) + 5); }},
      {"default_seed", [](tg::Generator&) {}},
  };
  return r;
}

// Which field of the state a byte belongs to, for failure messages.
std::string field_of(size_t offset) {
  if (offset < kLeft) return "the_initial_seed";
  if (offset < kSeeded) return "left";
  if (offset < kNext) return "seeded";
  if (offset < kWords) return "next";
  if (offset < kNormalX) return "state word " + std::to_string((offset - kWords) / 8);
  if (offset < kNormalY) return "normal_x";
  if (offset < kNormalRho) return "normal_y";
  if (offset < kNormalIsValid) return "normal_rho";
  if (offset < kNormalIsValid + 4) return "normal_is_valid";
  if (offset < kFloatNormal) return "padding";
  if (offset < kFloatNormalIsValid) return "next_float_normal_sample";
  if (offset == kFloatNormalIsValid) return "is_next_float_normal_sample_valid";
  return "padding";
}

// actual == expected byte for byte, naming the first differing byte's field.
void check_same_bytes(const Bytes& actual, const Bytes& expected) {
  REQUIRE(actual.size() == expected.size());
  size_t first = actual.size();
  for (size_t i = 0; i < actual.size() && first == actual.size(); ++i) {
    if (actual[i] != expected[i]) first = i;
  }
  INFO("first difference at byte " << first << " (" << (first < actual.size() ? field_of(first) : "none") << ")");
  CHECK(first == actual.size());
}

template <class T>
std::vector<double> as_doubles(const tg::Tensor<T>& t) {
  const std::vector<T> v = t.to_vector();
  return {v.begin(), v.end()};
}

// The draws of the golden `call` from gen's current state.
std::vector<double> draw(const std::string& call, tg::Generator& gen) {
  if (call == "rand.f32") return as_doubles(tg::rand<float>({5}, gen));
  if (call == "rand.f64") return as_doubles(tg::rand<double>({5}, gen));
  if (call == "randn.f32") return as_doubles(tg::randn<float>({3}, gen));
  if (call == "randn.f64") return as_doubles(tg::randn<double>({3}, gen));
  if (call == "randn17.f32") return as_doubles(tg::randn<float>({17}, gen));
  FAIL("unknown golden call " << call);
  return {};
}

// Uniforms are exact; normals agree to 1e-6 (float) and 1e-12 (double), scaled by max(1, |x|),
// as in tests/random_test.cpp (docs/RANDOM_STREAMS.md says why).
double tolerance(const std::string& call) {
  if (call.rfind("rand.", 0) == 0) return 0;
  return call.find(".f32") != std::string::npos ? 1e-6 : 1e-12;
}

void check_draws(const std::vector<double>& actual, const std::vector<double>& expected, double tol) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i << ": tapegrad " << actual[i] << ", PyTorch " << expected[i]);
    CHECK(std::abs(actual[i] - expected[i]) <= tol * std::max(1.0, std::abs(expected[i])));
  }
}

template <class V>
void put(Bytes& b, size_t offset, V value) {
  std::memcpy(b.data() + offset, &value, sizeof value);  // the tests run on little-endian hosts
}

}  // namespace

TEST_CASE("the golden file holds every recipe's state", "[rng_state]") {
  for (const auto& [name, recipe] : recipes()) {
    INFO("case " << name);
    CHECK(golden().states.count(name) == 1);
  }
  for (const auto& [name, bytes] : golden().states) {
    INFO("golden state " << name);
    CHECK((recipes().count(name) == 1 || name.rfind("import_", 0) == 0));
  }
}

TEST_CASE("get_state gives torch.get_rng_state()'s bytes", "[rng_state]") {
  for (const auto& [name, recipe] : recipes()) {
    INFO("case " << name);
    tg::Generator gen;
    recipe(gen);
    const Bytes state = gen.get_state();
    CHECK(state.size() == kSize);
    check_same_bytes(state, golden_state(name));
  }
}

TEST_CASE("get_state after a seed and after a spent block: torch's next 0 and next 624", "[rng_state]") {
  tg::Generator gen(1);
  Bytes state = gen.get_state();
  CHECK(state[kLeft] == 1);
  CHECK(state[kNext] == 0);
  tg::rand<float>({1}, gen);  // the first draw twists: left 624, next 1
  state = gen.get_state();
  CHECK((state[kLeft] | state[kLeft + 1] << 8) == 624);
  CHECK(state[kNext] == 1);
  tg::rand<float>({623}, gen);  // the block spent: left 1, next 624
  state = gen.get_state();
  CHECK(state[kLeft] == 1);
  CHECK((state[kNext] | state[kNext + 1] << 8) == 624);
}

TEST_CASE("set_state(torch's bytes) continues torch's stream", "[rng_state]") {
  for (const auto& [name, calls] : golden().draws) {
    for (const auto& [call, expected] : calls) {
      INFO("case " << name << ", " << call);
      tg::Generator gen(123);
      tg::rand<float>({7}, gen);  // something to overwrite, mid-block
      gen.set_state(golden_state(name));
      check_draws(draw(call, gen), expected, tolerance(call));
    }
  }
}

TEST_CASE("set_state then get_state gives torch's bytes back", "[rng_state]") {
  for (const auto& [name, bytes] : golden().states) {
    if (bytes.size() != kSize) continue;  // import_legacy: below
    INFO("case " << name);
    tg::Generator gen;
    gen.set_state(bytes);
    check_same_bytes(gen.get_state(), bytes);
  }
}

TEST_CASE("set_state keeps the initial seed, and offset() restarts", "[rng_state]") {
  tg::Generator gen;
  CHECK(gen.initial_seed() == tg::Generator::kDefaultSeed);
  gen.manual_seed((uint64_t(1) << 40) + 5);
  CHECK(gen.initial_seed() == (uint64_t(1) << 40) + 5);
  tg::rand<float>({10}, gen);
  CHECK(gen.offset() == 10);
  gen.set_state(golden_state("seed42_randn3_f64"));
  CHECK(gen.initial_seed() == 42);
  CHECK(gen.offset() == 0);
}

TEST_CASE("set_state takes the legacy 5048-byte layout as torch does", "[rng_state]") {
  const Bytes& legacy = golden_state("import_legacy");
  REQUIRE(legacy.size() == kLegacySize);
  tg::Generator gen;
  gen.set_state(legacy);
  // torch's state after loading it: the cached normal is normal_rho * sin(2 pi normal_x), from
  // libm's sin, so within an ulp of torch's (the same with glibc); every other byte exact
  Bytes expected = golden_state("import_legacy.after"), actual = gen.get_state();
  double expected_normal, actual_normal;
  std::memcpy(&expected_normal, expected.data() + kNormalY, 8);
  std::memcpy(&actual_normal, actual.data() + kNormalY, 8);
  CHECK(std::abs(actual_normal - expected_normal) <= 1e-15 * std::abs(expected_normal));
  put(expected, kNormalY, 0.0);
  put(actual, kNormalY, 0.0);
  check_same_bytes(actual, expected);
}

TEST_CASE("the float normal torch may cache survives draws and clears on a seed", "[rng_state]") {
  const Bytes& with_float = golden_state("import_float_cached");
  REQUIRE(with_float[kFloatNormalIsValid] == 1);
  tg::Generator gen;
  gen.set_state(with_float);
  tg::randn<float>({3}, gen);  // torch 1.13's CPU normals cache in double only
  tg::randn<float>({20}, gen);
  Bytes state = gen.get_state();
  CHECK(state[kFloatNormalIsValid] == 1);
  float cached;
  std::memcpy(&cached, state.data() + kFloatNormal, 4);
  CHECK(cached == 0.5f);
  gen.manual_seed(0);
  check_same_bytes(gen.get_state(), golden_state("seed0"));
}

TEST_CASE("a state taken mid-stream and restored gives the same continuation", "[rng_state]") {
  tg::Generator gen(42);
  tg::randn<float>({5}, gen);  // leaves a normal cached
  tg::rand<double>({300}, gen);
  const Bytes saved = gen.get_state();
  const auto continuation = [](tg::Generator& g) {
    std::vector<double> out;
    for (const auto& part : {as_doubles(tg::randn<float>({3}, g)), as_doubles(tg::rand<float>({700}, g)),
                             as_doubles(tg::randn<double>({20}, g)), as_doubles(tg::rand<double>({3}, g))}) {
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  };
  const std::vector<double> first = continuation(gen);

  tg::Generator other(0);
  other.set_state(saved);
  CHECK(other.get_state() == saved);
  CHECK(continuation(other) == first);  // bit for bit
  gen.set_state(saved);                 // and the same generator, rewound
  CHECK(continuation(gen) == first);
  CHECK(gen.get_state() == other.get_state());
}

TEST_CASE("tg::get_rng_state and tg::set_rng_state use the default generator", "[rng_state]") {
  tg::Generator gen;
  tg::GeneratorGuard use(gen);
  tg::manual_seed(0);
  check_same_bytes(tg::get_rng_state(), golden_state("seed0"));
  tg::set_rng_state(golden_state("seed7_rand1000"));
  check_draws(as_doubles(tg::rand<float>({5})), golden().draws.at("seed7_rand1000").at("rand.f32"), 0);
  CHECK(&tg::default_generator() == &gen);
}

TEST_CASE("set_state refuses bytes torch never writes and changes nothing", "[rng_state]") {
  const Bytes& base = golden_state("seed7_rand1000");  // left 249, next 376
  struct Refusal {
    std::string what;
    Bytes bytes;
    std::string message;
  };
  const auto edited = [&base](auto edit) {
    Bytes b = base;
    edit(b);
    return b;
  };
  const std::string size_message = "Generator::set_state: expected 5056 bytes (torch.get_rng_state()) or 5048 (its legacy layout), got ";
  const std::vector<Refusal> refusals = {
      {"empty", Bytes{}, size_message + "0"},
      {"too short", Bytes(base.begin(), base.begin() + 100), size_message + "100"},
      {"one byte too many", edited([](Bytes& b) { b.push_back(0); }), size_message + "5057"},
      {"seeded 0", edited([](Bytes& b) { put(b, kSeeded, int32_t{0}); }), "Generator::set_state: seeded is 0, expected 1"},
      {"seeded 2", edited([](Bytes& b) { put(b, kSeeded, int32_t{2}); }), "Generator::set_state: seeded is 2, expected 1"},
      {"left 0", edited([](Bytes& b) { put(b, kLeft, int32_t{0}); }), "Generator::set_state: left is 0, expected 1 to 624"},
      {"left 625", edited([](Bytes& b) { put(b, kLeft, int32_t{625}); }),
       "Generator::set_state: left is 625, expected 1 to 624"},
      {"left -1", edited([](Bytes& b) { put(b, kLeft, int32_t{-1}); }), "Generator::set_state: left is -1, expected 1 to 624"},
      {"next 625", edited([](Bytes& b) { put(b, kNext, uint64_t{625}); }),
       "Generator::set_state: next is 625, expected 0 to 624"},
      {"next 2^32 (torch would truncate it to 0)", edited([](Bytes& b) { put(b, kNext, uint64_t{1} << 32); }),
       "Generator::set_state: next is 4294967296, expected 0 to 624"},
      {"left 249 with next 0", edited([](Bytes& b) { put(b, kNext, uint64_t{0}); }),
       "Generator::set_state: left 249 and next 0 do not fit together (torch's states have left + next = 625, or left 1 "
       "and next 0 after a seed)"},
      {"left 249 with next 377", edited([](Bytes& b) { put(b, kNext, uint64_t{377}); }),
       "Generator::set_state: left 249 and next 377 do not fit together (torch's states have left + next = 625, or left "
       "1 and next 0 after a seed)"},
      {"a state word of 2^32", edited([](Bytes& b) { put(b, kWords + 8 * 623, uint64_t{1} << 32); }),
       "Generator::set_state: state word 623 is 4294967296, expected below 2^32"},
      {"normal_is_valid 2", edited([](Bytes& b) { put(b, kNormalIsValid, int32_t{2}); }),
       "Generator::set_state: normal_is_valid is 2, expected 0 or 1"},
      {"the float sample's bool byte 2", edited([](Bytes& b) { b[kFloatNormalIsValid] = 2; }),
       "Generator::set_state: is_next_float_normal_sample_valid is 2, expected 0 or 1"},
      {"a legacy state with seeded 0",
       edited([](Bytes& b) {
         b.resize(kLegacySize);
         put(b, kSeeded, int32_t{0});
       }),
       "Generator::set_state: seeded is 0, expected 1"},
  };
  tg::Generator gen(42);
  tg::randn<float>({5}, gen);  // a cached normal, mid-block: something a partial write would spoil
  tg::GeneratorGuard use(gen);
  const Watch watch;  // the default generator's next draws, cached normal included
  for (const Refusal& r : refusals) {
    INFO("refused: " << r.what);
    const Bytes before = gen.get_state();
    const uint64_t offset_before = gen.offset();
    check_refused([&] { gen.set_state(r.bytes); }, r.message, watch);
    CHECK(gen.get_state() == before);
    CHECK(gen.offset() == offset_before);
  }
}

TEST_CASE("get_state and set_state lock the generator: a state is never caught mid-fill", "[rng_state]") {
  // Another thread draws 100 words at a time; every state get_state sees must then be the
  // state after a whole number of fills.
  constexpr int kFills = 300;
  std::set<Bytes> between_fills;
  {
    tg::Generator reference(9);
    for (int i = 0; i <= kFills; ++i) {
      between_fills.insert(reference.get_state());
      tg::rand<float>({100}, reference);
    }
  }
  tg::Generator gen(9);
  std::thread drawer([&gen] {
    for (int i = 0; i < kFills; ++i) tg::rand<float>({100}, gen);
  });
  std::vector<Bytes> seen;
  for (int i = 0; i < 200; ++i) seen.push_back(gen.get_state());
  drawer.join();
  int torn = 0;
  for (const Bytes& s : seen) torn += between_fills.count(s) == 0;
  CHECK(torn == 0);

  // set_state while the drawer runs: the fills before it went to the old stream, those after
  // continue the new one, so the generator ends as the new stream after some whole fills.
  tg::Generator replacement(10);
  const Bytes replacement_state = replacement.get_state();
  std::set<Bytes> replacement_after_fills;
  for (int i = 0; i <= kFills; ++i) {
    replacement_after_fills.insert(replacement.get_state());
    tg::rand<float>({100}, replacement);
  }
  std::thread drawer2([&gen] {
    for (int i = 0; i < kFills; ++i) tg::rand<float>({100}, gen);
  });
  gen.set_state(replacement_state);
  drawer2.join();
  CHECK(replacement_after_fills.count(gen.get_state()) == 1);
}
