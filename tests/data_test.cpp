// data::TensorDataset, data::DataLoader and tg::randperm against PyTorch 1.13's own orders, batches
// and generator positions (tests/golden/data_loader.txt, written by tools/gen_data_golden.py),
// and their shapes, copies and errors.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

namespace {

const Golden& data_golden() { return golden_file("data_loader.txt"); }

const GoldenTensor& golden(const std::string& name) { return golden_entry(data_golden(), name); }

std::vector<int64_t> golden_indices(const std::string& name) {
  const GoldenTensor& g = golden(name);
  return std::vector<int64_t>(g.values.begin(), g.values.end());
}

// Values and shape equal to the last bit (the loader copies; PyTorch's data are float32 values,
// exact in float and in double).
template <class T>
void check_exact(const tg::Tensor<T>& actual, const std::string& name) {
  const GoldenTensor& g = golden(name);
  INFO("golden tensor " << name);
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == g.shape);
  int64_t mismatches = 0;
  for (size_t i = 0; i < g.values.size(); ++i) mismatches += static_cast<double>(actual.data()[i]) != g.values[i];
  CHECK(mismatches == 0);
}

// The next n double uniforms of gen, which show where its stream stands.
std::vector<double> next_doubles(tg::Generator& gen, int64_t n) { return tg::rand<double>({n}, gen).to_vector(); }

// A tensor of shape `shape` whose first-dimension row i holds the value i in every element.
template <class T>
tg::Tensor<T> row_numbers(const tg::Shape& shape) {
  tg::Tensor<T> t = tg::empty<T>(shape);
  const int64_t width = shape[0] == 0 ? 0 : t.numel() / shape[0];
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(i / width);
  return t;
}

struct LoaderCase {
  int64_t n, batch_size;
  bool shuffle, drop_last, explicit_generator;
  uint64_t seed;
  bool body_draws;
  int64_t epochs;
  bool batch_values;
  int64_t first_epoch_batches;  // > 0: epoch 0 stops after that many batches
};

LoaderCase loader_case(const std::string& c) {
  const std::vector<double>& v = golden(c + ".config").values;
  REQUIRE(v.size() == 11);
  auto i64 = [&v](int k) { return static_cast<int64_t>(v[static_cast<size_t>(k)]); };
  LoaderCase lc;
  lc.n = i64(0);
  lc.batch_size = i64(1);
  lc.shuffle = i64(2) != 0;
  lc.drop_last = i64(3) != 0;
  lc.explicit_generator = i64(4) != 0;
  lc.seed = (static_cast<uint64_t>(i64(5)) << 32) | static_cast<uint64_t>(i64(6));
  lc.body_draws = i64(7) != 0;
  lc.epochs = i64(8);
  lc.batch_values = i64(9) != 0;
  lc.first_epoch_batches = i64(10);
  return lc;
}

// One golden loader case: PyTorch's epochs, batch by batch, with the same draws in the loop
// body, then the generator's next numbers.
template <class T>
void check_loader_case(const std::string& c) {
  INFO("loader case " << c);
  const LoaderCase lc = loader_case(c);
  tg::Tensor<T> x, y;
  if (lc.batch_values) {
    x = golden_tensor<T>(data_golden(), c + ".x");
    y = golden_tensor<T>(data_golden(), c + ".y");
  } else {  // the order alone is golden; rows that hold their own number show the gather
    x = row_numbers<T>({lc.n, 2});
    y = row_numbers<T>({lc.n});
  }
  tg::Generator gen(lc.seed);
  if (!lc.explicit_generator) tg::manual_seed(lc.seed);
  tg::Generator& stream = lc.explicit_generator ? gen : tg::default_generator();
  tg::data::TensorDataset<T> dataset(x, y);
  auto loader = lc.explicit_generator ? tg::data::DataLoader<T>(dataset, lc.batch_size, lc.shuffle, lc.drop_last, gen)
                                      : tg::data::DataLoader<T>(dataset, lc.batch_size, lc.shuffle, lc.drop_last);
  CHECK(loader.size() == static_cast<int64_t>(golden(c + ".len").values[0]));

  for (int64_t e = 0; e < lc.epochs; ++e) {
    int64_t k = 0;
    for (auto it = loader.begin(); it != loader.end();) {
      const std::string b = c + ".epoch" + std::to_string(e) + ".batch" + std::to_string(k);
      INFO("batch " << b);
      const std::vector<int64_t> rows = golden_indices(b + ".indices");
      CHECK(it.batch_number() == k);
      CHECK(it.indices() == rows);
      if (lc.batch_values) {
        check_exact(it->x, b + ".x");
        check_exact(it->y, b + ".y");
      } else {
        REQUIRE(it->x.shape() == tg::Shape{static_cast<int64_t>(rows.size()), 2});
        REQUIRE(it->y.shape() == tg::Shape{static_cast<int64_t>(rows.size())});
        for (size_t j = 0; j < rows.size(); ++j) {
          CHECK(it->x.data()[2 * j + 1] == static_cast<T>(rows[j]));
          CHECK(it->y.data()[j] == static_cast<T>(rows[j]));
        }
      }
      if (lc.body_draws) CHECK(next_doubles(stream, 1) == golden(b + ".draw").values);
      ++k;
      if (e == 0 && k == lc.first_epoch_batches) break;  // the iterator is dropped mid-epoch
      ++it;
    }
    CHECK(k == static_cast<int64_t>(golden(c + ".epoch" + std::to_string(e) + ".batches").values[0]));
  }
  CHECK(next_doubles(stream, 4) == golden(c + ".next").values);
}

}  // namespace

// ---- randperm ------------------------------------------------------------------------------

TEST_CASE("randperm is torch.randperm's permutation and takes n - 1 words", "[data][random]") {
  for (uint64_t seed : {0u, 42u}) {
    for (int64_t n : {0, 1, 2, 10, 1000}) {
      const std::string name = "randperm.seed" + std::to_string(seed) + ".n" + std::to_string(n);
      INFO(name);
      tg::Generator gen(seed);
      const std::vector<int64_t> perm = tg::randperm(n, gen);
      CHECK(perm == golden_indices(name));
      CHECK(gen.offset() == static_cast<uint64_t>(n > 1 ? n - 1 : 0));
      CHECK(next_doubles(gen, 2) == golden(name + ".next").values);
    }
  }
}

TEST_CASE("randperm without a generator draws from the default generator", "[data][random]") {
  tg::manual_seed(7);
  CHECK(tg::randperm(10) == golden_indices("randperm.default.seed7.n10"));
  CHECK(next_doubles(tg::default_generator(), 2) == golden("randperm.default.seed7.n10.next").values);
}

TEST_CASE("randperm is a permutation across several chunks of words", "[data][random]") {
  tg::Generator gen(3);
  std::vector<int64_t> perm = tg::randperm(5000, gen);  // 4999 words: ten chunks, eight twists
  CHECK(gen.offset() == 4999);
  std::sort(perm.begin(), perm.end());
  std::vector<int64_t> all(5000);
  std::iota(all.begin(), all.end(), int64_t(0));
  CHECK(perm == all);
}

TEST_CASE("the DataLoader's int64 draw is torch's int64 random_(): two words, the top bit cleared", "[data][random]") {
  for (uint64_t seed : {0u, 42u}) {
    const GoldenTensor& g = golden("random_int64.seed" + std::to_string(seed));
    tg::Generator gen(seed);
    for (size_t i = 0; i < 3; ++i) {
      const auto expected = (static_cast<uint64_t>(g.values[2 * i]) << 32) | static_cast<uint64_t>(g.values[2 * i + 1]);
      CHECK(static_cast<uint64_t>(tg::detail::random_int64(gen)) == expected);
    }
    CHECK(gen.offset() == 6);
  }
}

// ---- DataLoader against PyTorch ------------------------------------------------------------

TEMPLATE_TEST_CASE("every golden DataLoader case: PyTorch's batches over three epochs and its generator position",
                   "[data]", float, double) {
  const std::set<std::string> cases = golden_case_names(data_golden(), ".config", "randperm");
  REQUIRE(cases.size() >= 20);
  for (const std::string& c : cases) check_loader_case<TestType>(c);
}

TEST_CASE("range-for with structured bindings yields PyTorch's batches", "[data]") {
  const std::string c = "loader.generator.shuffle.n10.b3.keep_last.seed0";
  tg::data::TensorDataset dataset(golden_tensor<float>(data_golden(), c + ".x"),
                                  golden_tensor<float>(data_golden(), c + ".y"));
  tg::Generator gen(0);
  tg::data::DataLoader loader(dataset, 3, /*shuffle=*/true, /*drop_last=*/false, gen);
  for (int e = 0; e < 3; ++e) {
    int k = 0;
    for (auto [x, y] : loader) {
      const std::string b = c + ".epoch" + std::to_string(e) + ".batch" + std::to_string(k++);
      check_exact(x, b + ".x");
      check_exact(y, b + ".y");
    }
    CHECK(k == 4);
  }
  CHECK(next_doubles(gen, 4) == golden(c + ".next").values);
}

TEST_CASE("a loader without a generator follows this thread's GeneratorGuard", "[data]") {
  const std::string c = "loader.default.shuffle.n10.b3.keep_last.seed42";
  tg::data::TensorDataset dataset(golden_tensor<double>(data_golden(), c + ".x"),
                                  golden_tensor<double>(data_golden(), c + ".y"));
  tg::data::DataLoader loader(dataset, 3, /*shuffle=*/true);
  tg::manual_seed(1);  // not the stream the loader uses
  const std::string before = describe_default_generator();
  tg::Generator own(42);
  {
    tg::GeneratorGuard use(own);
    for (int e = 0; e < 3; ++e) {
      int k = 0;
      for (auto it = loader.begin(); it != loader.end(); ++it, ++k) {
        CHECK(it.indices() ==
              golden_indices(c + ".epoch" + std::to_string(e) + ".batch" + std::to_string(k) + ".indices"));
      }
    }
  }
  CHECK(describe_default_generator() == before);
  CHECK(next_doubles(own, 4) == golden(c + ".next").values);
}

// ---- batches -------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("batches: shapes, the uneven last batch, drop_last, len(loader)", "[data]", float, double) {
  using T = TestType;
  const auto x = row_numbers<T>({10, 2, 3});
  const auto y = row_numbers<T>({10});
  tg::data::TensorDataset dataset(x, y);
  for (bool drop_last : {false, true}) {
    INFO("drop_last " << drop_last);
    tg::data::DataLoader loader(dataset, 4, /*shuffle=*/false, drop_last);
    CHECK(loader.size() == (drop_last ? 2 : 3));
    std::vector<int64_t> sizes, seen;
    for (const auto& [bx, by] : loader) {
      const int64_t b = bx.size(0);
      sizes.push_back(b);
      CHECK(bx.shape() == tg::Shape{b, 2, 3});
      CHECK(by.shape() == tg::Shape{b});
      CHECK(!bx.requires_grad());
      for (int64_t j = 0; j < b; ++j) {
        seen.push_back(static_cast<int64_t>(by.data()[j]));
        for (int64_t v = 0; v < 6; ++v) CHECK(bx.data()[j * 6 + v] == by.data()[j]);
      }
    }
    CHECK(sizes == (drop_last ? std::vector<int64_t>{4, 4} : std::vector<int64_t>{4, 4, 2}));
    std::vector<int64_t> in_order(drop_last ? 8 : 10);
    std::iota(in_order.begin(), in_order.end(), int64_t(0));
    CHECK(seen == in_order);
  }
  // a batch larger than the dataset: one partial batch, or none with drop_last
  CHECK(tg::data::DataLoader(dataset, 11).size() == 1);
  CHECK(tg::data::DataLoader(dataset, 11, false, true).size() == 0);
  CHECK(tg::data::DataLoader(dataset, 11, false, true).begin() == tg::data::DataLoader(dataset, 11).end());
}

TEST_CASE("batches are new tensors, outside any graph", "[data]") {
  auto x = row_numbers<double>({5, 3}).requires_grad_();
  auto y = row_numbers<double>({5, 1});
  tg::data::TensorDataset dataset(x, y);
  tg::data::DataLoader loader(dataset, 2);
  std::vector<tg::data::Batch<double>> kept(loader.begin(), loader.end());
  REQUIRE(kept.size() == 3);
  for (const auto& b : kept) {
    CHECK(!b.x.requires_grad());
    CHECK(b.x.is_leaf());
    CHECK(b.x.data() != x.data());
  }
  kept[0].x.fill_(-1);  // a batch's values are its own
  CHECK(x.data()[0] == 0);
  CHECK(kept[1].x.to_vector() == std::vector<double>{2, 2, 2, 3, 3, 3});
  CHECK(kept[2].y.to_vector() == std::vector<double>{4});
}

TEST_CASE("each pass over a loader is a new epoch with new draws, a sequential one still draws its base seed",
          "[data]") {
  auto x = row_numbers<float>({20, 1});
  tg::data::TensorDataset dataset(x, x.reshape({20}));
  tg::Generator gen(5);
  tg::data::DataLoader shuffled(dataset, 20, true, false, gen);
  const auto first = shuffled.begin().indices();  // an epoch left after its first batch
  const auto second = shuffled.begin().indices();
  CHECK(first != second);
  CHECK(gen.offset() == 2 * (2 + 19));  // base seed and one randperm each: left early, no second randperm

  tg::Generator seq_gen(5);
  tg::data::DataLoader sequential(dataset, 7, false, false, seq_gen);
  for (int e = 0; e < 3; ++e) {
    int64_t next = 0;
    for (auto it = sequential.begin(); it != sequential.end(); ++it) {
      for (int64_t i : it.indices()) CHECK(i == next++);
    }
    CHECK(next == 20);
  }
  CHECK(seq_gen.offset() == 3 * 2);
}

TEST_CASE("the iterator: postfix increment, equality with the end, batch numbers", "[data]") {
  auto x = row_numbers<float>({5});
  tg::data::DataLoader loader(tg::data::TensorDataset(x, x), 2);
  auto it = loader.begin();
  CHECK(it != loader.end());
  const auto was = it++;
  CHECK(was.batch_number() == 0);
  CHECK(was->x.to_vector() == std::vector<float>{0, 1});
  CHECK(it.batch_number() == 1);
  CHECK((*it).x.to_vector() == std::vector<float>{2, 3});
  ++it;
  CHECK(it->x.to_vector() == std::vector<float>{4});
  ++it;
  CHECK(it == loader.end());
  CHECK(loader.end() == tg::data::DataLoader<float>::iterator());
}

// ---- TensorDataset -------------------------------------------------------------------------

TEMPLATE_TEST_CASE("TensorDataset: size and get(i), copies of x(i) and y(i)", "[data]", float, double) {
  using T = TestType;
  auto x = row_numbers<T>({4, 2, 3});
  auto y = row_numbers<T>({4});
  tg::data::TensorDataset dataset(x, y);
  CHECK(dataset.size() == 4);
  CHECK(dataset.x().data() == x.data());  // holds the tensors, does not copy them
  auto [x2, y2] = dataset.get(2);
  CHECK(x2.shape() == tg::Shape{2, 3});
  CHECK(y2.shape() == tg::Shape{});  // y[i] of a 1-D y is 0-d, as in PyTorch
  CHECK(x2.to_vector() == std::vector<T>(6, T(2)));
  CHECK(y2.item() == T(2));
  CHECK(dataset.get(-1).y.item() == T(3));  // negative indices count from the end
  x2.fill_(T(-5));
  CHECK(x.data()[12] == T(2));

  const auto batch = dataset.get_batch({3, 0, 3});
  CHECK(batch.x.shape() == tg::Shape{3, 2, 3});
  CHECK(batch.y.to_vector() == std::vector<T>{3, 0, 3});
  CHECK(dataset.get_batch({}).x.shape() == tg::Shape{0, 2, 3});
}

TEST_CASE("datasets of size 1 and 0", "[data]") {
  auto one = row_numbers<float>({1, 3});
  tg::data::TensorDataset single(one, one);
  tg::Generator gen(9);
  tg::data::DataLoader loader(single, 4, /*shuffle=*/true, false, gen);
  CHECK(loader.size() == 1);
  int batches = 0;
  for (const auto& [x, y] : loader) {
    CHECK(x.shape() == tg::Shape{1, 3});
    ++batches;
  }
  CHECK(batches == 1);
  CHECK(gen.offset() == 2);  // the base seed; randperm(1) takes no word

  auto none = tg::empty<float>({0, 3});
  tg::data::TensorDataset empty(none, tg::empty<float>({0}));
  CHECK(empty.size() == 0);
  tg::data::DataLoader sequential(empty, 2);
  CHECK(sequential.size() == 0);
  CHECK(sequential.begin() == sequential.end());
  CHECK(tg::data::DataLoader(empty, 2, false, true).size() == 0);
}

// ---- errors --------------------------------------------------------------------------------

TEST_CASE("TensorDataset and DataLoader refuse bad arguments, naming the op and the values", "[data][errors]") {
  auto x = row_numbers<float>({4, 3});
  auto y = row_numbers<float>({5});
  const Watch watch(x, y);
  check_refused([&] { static_cast<void>(tg::data::TensorDataset<float>(x, y)); },
                "TensorDataset: x and y must have the same size in dimension 0 (one row per example), got x of shape "
                "[4, 3] and y of shape [5]",
                watch);
  check_refused([&] { static_cast<void>(tg::data::TensorDataset<float>(tg::scalar_tensor(1.0f), y)); },
                "TensorDataset: x must have a first dimension to index the examples, got a 0-d tensor", watch);
  check_refused([&] { static_cast<void>(tg::data::TensorDataset<float>(y, tg::scalar_tensor(1.0f))); },
                "TensorDataset: y must have a first dimension to index the examples, got a 0-d tensor", watch);
  check_refused([&] { static_cast<void>(tg::data::TensorDataset<float>(tg::Tensor<float>(), y)); },
                "TensorDataset: expected a defined tensor x, got an undefined one", watch);
  check_refused([&] { static_cast<void>(tg::data::TensorDataset<float>(x, tg::Tensor<float>())); },
                "TensorDataset: expected a defined tensor y, got an undefined one", watch);

  tg::data::TensorDataset dataset(x, x);
  check_refused([&] { dataset.get(4); }, "TensorDataset::get: index 4 is out of range for a dataset of size 4", watch);
  check_refused([&] { dataset.get(-5); }, "TensorDataset::get: index -5 is out of range for a dataset of size 4",
                watch);
  check_refused([&] { dataset.get_batch({0, 7}); },
                "TensorDataset::get_batch: index 7 is out of range for a dataset of size 4", watch);

  tg::Generator gen(1);
  check_refused([&] { static_cast<void>(tg::data::DataLoader(dataset, 0)); },
                "DataLoader: batch_size should be a positive integer value, but got batch_size=0", watch);
  check_refused([&] { static_cast<void>(tg::data::DataLoader(dataset, -3, true, false, gen)); },
                "DataLoader: batch_size should be a positive integer value, but got batch_size=-3", watch);
  tg::data::TensorDataset empty(tg::empty<float>({0, 2}), tg::empty<float>({0}));
  check_refused([&] { static_cast<void>(tg::data::DataLoader(empty, 2, /*shuffle=*/true)); },
                "DataLoader: shuffle=true needs at least one example (torch's RandomSampler refuses num_samples=0), "
                "got a dataset of size 0",
                watch);
  CHECK(gen.offset() == 0);  // construction draws nothing

  check_refused([&] { tg::randperm(-1); }, "randperm: n must be non-negative, got n=-1", watch);
  tg::data::DataLoader loader(dataset, 2);
  check_refused([&] { loader.end().indices(); }, "DataLoader::iterator::indices: the end iterator has no batch", watch);
}

TEST_CASE("data::DistributedSampler: torch's indices for every rank and epoch") {
  const Golden& file = golden_file("distributed_sampler.txt");
  const char* cases[] = {"even", "uneven", "uneven_drop_last", "seed_large", "wraps",
                         "no_shuffle", "no_shuffle_drop_last", "single", "long"};
  for (const std::string c : cases) {
    INFO("case " << c);
    const std::vector<double>& config = golden_entry(file, c + ".config").values;
    const auto n = static_cast<int64_t>(config[0]), replicas = static_cast<int64_t>(config[1]);
    std::vector<int64_t> seen(static_cast<size_t>(n), 0);
    for (int64_t r = 0; r < replicas; ++r) {
      tg::data::DistributedSampler sampler(n, replicas, r, config[2] != 0, static_cast<uint64_t>(config[3]), config[4] != 0);
      CHECK(sampler.size() == static_cast<int64_t>(golden_entry(file, c + ".len").values[0]));
      for (int64_t e = 0; e < 3; ++e) {
        INFO("rank " << r << " epoch " << e);
        sampler.set_epoch(e);
        std::vector<int64_t> got;
        for (int64_t i : sampler) got.push_back(i);  // range-for of int64_t
        const std::vector<double>& want = golden_entry(file, c + ".rank" + std::to_string(r) + ".epoch" + std::to_string(e)).values;
        CHECK(got == std::vector<int64_t>(want.begin(), want.end()));
        if (e == 0) {
          for (int64_t i : got) ++seen[static_cast<size_t>(i)];
        }
      }
    }
    // together the ranks cover every index (without drop_last), each the same number of times
    if (config[4] == 0) CHECK(std::count(seen.begin(), seen.end(), 0) == 0);
  }
}

TEST_CASE("data::DistributedSampler: bad arguments name the value") {
  CHECK_THROWS_WITH(tg::data::DistributedSampler(10, 2, 2), "DistributedSampler: invalid rank 2, rank should be in the interval [0, 1]");
  CHECK_THROWS_WITH(tg::data::DistributedSampler(10, 2, -1), "DistributedSampler: invalid rank -1, rank should be in the interval [0, 1]");
  CHECK_THROWS_WITH(tg::data::DistributedSampler(10, 0, 0), "DistributedSampler: num_replicas must be positive, got 0");
  CHECK_THROWS_WITH(tg::data::DistributedSampler(-1, 2, 0), "DistributedSampler: the data set size must be non-negative, got -1");
  CHECK_THROWS_AS(tg::data::DistributedSampler(10, 2, 5), tg::Error);
  tg::data::DistributedSampler empty(0, 3, 1);
  CHECK(empty.size() == 0);
  CHECK(empty.begin() == empty.end());
}
