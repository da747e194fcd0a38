// tg::distributed's collectives and nn::parallel::DistributedDataParallel on MPI. ctest runs this
// file twice (tests/CMakeLists.txt): `mpirun -np 2` (distributed.two_ranks), where two ranks
// training on the halves of a batch must end within 1e-12 of one process on the whole batch
// and bitwise equal to each other, and alone without mpirun (distributed.singleton, world size 1),
// where DistributedDataParallel must equal plain training bit for bit. Every test case makes
// collective calls, so every rank runs all of them in the same order; the checks that need two
// ranks are skipped in the singleton run. No BatchNorm or Dropout in the trained model: their
// batch statistics and masks are per rank, so those models differ from one process (as in torch).
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/distributed.hpp>

#include "support/helpers.hpp"

namespace tg = tapegrad;
namespace dist = tapegrad::distributed;
using Td = tg::Tensor<double>;
using tg::nn::parallel::DistributedDataParallel;

namespace {

// Finalises MPI once Catch's main has returned (mpirun wants every rank to finalise).
struct FinaliseAtExit {
  ~FinaliseAtExit() {
    if (dist::is_initialized()) dist::destroy_process_group();
  }
} finalise_at_exit;

// The group, started on first use (a filtered run may skip the test case that starts it).
int world() {
  if (!dist::is_initialized()) dist::init_process_group();
  return dist::get_world_size();
}

std::string rank_text() { return "rank " + std::to_string(dist::get_rank()) + " of " + std::to_string(dist::get_world_size()); }

tg::nn::Sequential<double> mlp() {
  return tg::nn::Sequential<double>(tg::nn::Linear<double>(4, 8), tg::nn::Tanh<double>(), tg::nn::Linear<double>(8, 3));
}

// Every parameter of `m` equal on all ranks, bit for bit.
void check_ranks_equal(const tg::nn::Module<double>& m) {
  for (const auto& [name, p] : m.named_parameters()) {
    INFO("parameter " << name);
    const std::vector<Td> all = dist::all_gather(p);
    for (const Td& other : all) CHECK(other.to_vector() == p.to_vector());
  }
}

// Largest |a - b| over two modules' parameters.
double max_difference(const tg::nn::Module<double>& a, const tg::nn::Module<double>& b) {
  const std::vector<Td> pa = a.parameters(), pb = b.parameters();
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    for (int64_t k = 0; k < pa[i].numel(); ++k) worst = std::max(worst, std::abs(pa[i].data()[k] - pb[i].data()[k]));
  }
  return worst;
}

template <class T>
void check_collectives() {
  INFO((std::is_same_v<T, double> ? "double" : "float"));
  const int w = world(), r = dist::get_rank();
  const auto mine = [r](double scale) {
    return tg::tensor<T>({T(r + 1), T(scale * (r + 1)), T(-r)}, {3});
  };
  double sum1 = 0, max1 = 0;
  for (int k = 0; k < w; ++k) {
    sum1 += k + 1;
    max1 = std::max(max1, double(k + 1));
  }
  tg::Tensor<T> s = mine(2);
  dist::all_reduce(s, dist::ReduceOp::SUM);
  CHECK(s.to_vector() == std::vector<T>{T(sum1), T(2 * sum1), T(-(sum1 - w))});
  tg::Tensor<T> a = mine(2);
  dist::all_reduce(a, dist::ReduceOp::AVG);
  CHECK(a.to_vector() == std::vector<T>{T(sum1 / w), T(2 * sum1 / w), T(-(sum1 - w) / w)});
  tg::Tensor<T> m = mine(2);
  dist::all_reduce(m, dist::ReduceOp::MAX);
  CHECK(m.to_vector() == std::vector<T>{T(max1), T(2 * max1), T(0)});
  tg::Tensor<T> b = mine(3);
  dist::broadcast(b, w - 1);  // the last rank's values everywhere
  CHECK(b.to_vector() == std::vector<T>{T(w), T(3 * w), T(-(w - 1))});
  const std::vector<tg::Tensor<T>> gathered = dist::all_gather(mine(5).reshape({1, 3}));
  REQUIRE(gathered.size() == static_cast<size_t>(w));
  for (int k = 0; k < w; ++k) {
    CHECK(gathered[static_cast<size_t>(k)].shape() == tg::Shape{1, 3});
    CHECK(gathered[static_cast<size_t>(k)].to_vector() == std::vector<T>{T(k + 1), T(5 * (k + 1)), T(-k)});
  }
  dist::barrier();
}

// Trains `model` (through `forward`, DDP or not) for `steps` SGD steps on rows
// [first, first + rows) of x, y with a mean squared error.
template <class M>
void train(M& forward, const std::vector<Td>& params, const Td& x, const Td& y, int64_t first, int64_t rows, int steps) {
  tg::optim::SGD<double> opt(params, tg::optim::SGDOptions(0.1).momentum(0.9));
  const Td xs = x.narrow(0, first, rows), ys = y.narrow(0, first, rows);
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    tg::nn::functional::mse_loss(forward(xs), ys).backward();
    opt.step();
  }
}

// Three heads, of which rank 0 uses a and b, the others only a; c is used by no rank.
struct Heads : tg::nn::Module<double> {
  std::shared_ptr<tg::nn::Linear<double>> a, b, c;
  Heads() {
    a = register_module("a", tg::nn::Linear<double>(2, 2));
    b = register_module("b", tg::nn::Linear<double>(2, 2));
    c = register_module("c", tg::nn::Linear<double>(2, 2));
  }
  Td forward(const Td& x) override { return dist::get_rank() == 0 ? (*a)(x) + (*b)(x) : (*a)(x); }
};

}  // namespace

TEST_CASE("distributed: no collective before init_process_group, and init_process_group only once") {
  if (!dist::is_initialized()) {  // this case runs first in a full run
    Td t = tg::ones<double>({2});
    CHECK_THROWS_WITH(dist::all_reduce(t),
                      "all_reduce: the process group is not initialised; call distributed::init_process_group() first");
    CHECK_THROWS_WITH(dist::get_rank(), "get_rank: the process group is not initialised; call distributed::init_process_group() first");
    tg::nn::Linear<double> lin(2, 2);
    CHECK_THROWS_WITH(DistributedDataParallel(lin),
                      "DistributedDataParallel: the process group is not initialised; call distributed::init_process_group() first");
  }
  const int w = world();
  CHECK(w >= 1);
  CHECK(dist::get_rank() < w);
  CHECK_THROWS_WITH(dist::init_process_group(),
                    "init_process_group: the process group is already initialised (call destroy_process_group() first)");
  CHECK_THROWS_AS(dist::init_process_group(), tg::Error);
  CHECK(dist::is_initialized());
}

TEST_CASE("distributed: all_reduce (SUM, AVG, MAX), broadcast and all_gather in float and double") {
  check_collectives<float>();
  check_collectives<double>();
}

TEST_CASE("distributed: collectives' errors name the op and the shapes, on every rank, and never hang") {
  const int w = world(), r = dist::get_rank();
  const std::string me = rank_text();
  CHECK_THROWS_WITH(dist::all_reduce(Td()), "all_reduce: the tensor is undefined (on " + me + ")");
  CHECK_THROWS_WITH(dist::broadcast(tg::ones<double>({2}), w), "broadcast: source rank " + std::to_string(w) +
                                                                   " is out of range for a group of " + std::to_string(w) + " ranks");
  CHECK_THROWS_WITH(dist::broadcast(tg::ones<double>({2}), -1),
                    "broadcast: source rank -1 is out of range for a group of " + std::to_string(w) + " ranks");
  if (w > 1) {
    CHECK_THROWS_WITH(dist::all_reduce(tg::ones<double>({2 + r})),
                      "all_reduce: the tensors' sizes differ across ranks: " + me + " has shape [" + std::to_string(2 + r) +
                          "] (" + std::to_string(2 + r) + " elements), the ranks have from 2 to " + std::to_string(1 + w) +
                          " elements");
    const tg::Shape shape = r == 0 ? tg::Shape{2, 3} : tg::Shape{3, 2};
    CHECK_THROWS_WITH(dist::all_gather(tg::ones<double>(shape)),
                      "all_gather: the tensors' shapes differ across ranks (the same 6 elements): " + me +
                          " has shape " + (r == 0 ? "[2, 3]" : "[3, 2]"));
    CHECK_THROWS_WITH(dist::all_reduce(r == 1 ? Td() : tg::ones<double>({2})),
                      r == 1 ? "all_reduce: the tensor is undefined (on " + me + ")"
                             : "all_reduce: the tensor is undefined on another rank (" + me + " has shape [2])");
    CHECK_THROWS_WITH(dist::broadcast(tg::ones<double>({2}), r),
                      "broadcast: the ranks name different source ranks, from 0 to " + std::to_string(w - 1) + " (" + me +
                          " names " + std::to_string(r) + ")");
    tg::nn::Linear<double> lin(3, 4 + r);  // parameter shapes that differ: every rank refuses
    CHECK_THROWS_WITH(DistributedDataParallel(lin),
                      "DistributedDataParallel: the module's parameter or buffer shapes differ across ranks; " + me +
                          " has 2 parameters (weight [" + std::to_string(4 + r) + ", 3], bias [" + std::to_string(4 + r) +
                          "]) and 0 buffers");
  }
  // after the refusals the group still works
  Td t = tg::ones<double>({2});
  dist::all_reduce(t);
  CHECK(t.to_vector() == std::vector<double>{double(w), double(w)});
}

TEST_CASE("DistributedDataParallel: the ranks' halves of a batch train as one process on the whole batch") {
  const int w = world(), r = dist::get_rank();
  const int64_t rows = 8;
  REQUIRE(rows % w == 0);
  tg::manual_seed(7);
  const Td x = tg::randn<double>({rows, 4}), y = tg::randn<double>({rows, 3});
  // bucket caps: one bucket for everything (25 MB), and 100 bytes: two buckets of two parameters
  for (const double cap : {25.0, 100.0 / (1024 * 1024)}) {
    INFO("bucket_cap_mb " << cap);
    tg::manual_seed(100);
    auto reference = mlp();
    tg::manual_seed(100 + static_cast<uint64_t>(r));  // differently seeded ranks
    auto model = mlp();
    DistributedDataParallel ddp(model, cap);
    static_assert(std::is_same_v<decltype(ddp), DistributedDataParallel<double>>);
    // construction gave every rank rank 0's parameters
    CHECK(max_difference(model, reference) == 0);
    check_ranks_equal(model);
    // the wrapper's parameters are the module's, under "module."
    const auto named = ddp.named_parameters();
    REQUIRE(named.size() == 4);
    CHECK(named[0].first == "module.0.weight");
    CHECK(named[3].second.impl() == model.parameters()[3].impl());
    const std::vector<std::vector<size_t>> buckets = ddp.bucket_indices();
    if (cap > 1) {
      CHECK(buckets == std::vector<std::vector<size_t>>{{3, 2, 1, 0}});
    } else {
      CHECK(buckets == std::vector<std::vector<size_t>>{{3, 2}, {1, 0}});
    }

    train(ddp, ddp.parameters(), x, y, r * (rows / w), rows / w, 5);
    // every parameter had a gradient: each bucket but the last started from its last parameter's hook
    CHECK(ddp.last_pass().buckets == buckets.size());
    CHECK(ddp.last_pass().started_during_backward == buckets.size() - 1);
    train(reference, reference.parameters(), x, y, 0, rows, 5);
    if (w == 1) {
      CHECK(max_difference(model, reference) == 0);  // a singleton run is plain training, bit for bit
    } else {
      CHECK(max_difference(model, reference) <= 1e-12);
      CHECK(max_difference(model, reference) > 0);  // not trivially: the ranks did average
    }
    check_ranks_equal(model);
  }
}

TEST_CASE("DistributedDataParallel: no_sync accumulates locally, the next synced backward averages the sum") {
  using Guard = DistributedDataParallel<double>::NoSyncGuard;
  static_assert(!std::is_copy_constructible_v<Guard> && !std::is_copy_assignable_v<Guard>);
  const int w = world(), r = dist::get_rank();
  const int64_t rows = 8, local = rows / w;
  tg::manual_seed(8);
  const Td x = tg::randn<double>({rows, 4}), y = tg::randn<double>({rows, 3});
  tg::manual_seed(200);
  auto reference = mlp();
  tg::manual_seed(200);
  auto model = mlp();
  DistributedDataParallel ddp(model);
  // the full batch's gradient of sum((f(x) - y)^2) / rows, in one backward
  ((reference(x) - y).pow(2).sum() / double(rows)).backward();
  // each rank: two micro-batches of its rows; the mean over ranks of (rows / w)-scaled sums is the same
  auto micro = [&](int64_t k) {
    const Td xs = x.narrow(0, r * local + k * (local / 2), local / 2), ys = y.narrow(0, r * local + k * (local / 2), local / 2);
    ((ddp(xs) - ys).pow(2).sum() * (double(w) / double(rows))).backward();
  };
  {
    auto guard = ddp.no_sync();
    CHECK_FALSE(ddp.require_sync());
    micro(0);
    if (w > 1) {  // still local: the ranks' gradients differ
      const std::vector<Td> all = dist::all_gather(model.parameters()[0].grad());
      CHECK(all[0].to_vector() != all[1].to_vector());
    }
  }
  CHECK(ddp.require_sync());
  micro(1);
  const std::vector<Td> got = model.parameters(), want = reference.parameters();
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("parameter " << i);
    tapegrad_test::check_close(got[i].grad(), want[i].grad(), 0, 1e-12);
    const std::vector<Td> all = dist::all_gather(got[i].grad());
    for (const Td& other : all) CHECK(other.to_vector() == got[i].grad().to_vector());
  }
}

TEST_CASE("DistributedDataParallel: buffers follow rank 0 with grad mode on, unused parameters do not hang") {
  const int w = world(), r = dist::get_rank();
  tg::nn::BatchNorm1d<double> bn(2);
  bn.eval();  // eval: the forward reads the running statistics and does not update them
  DistributedDataParallel ddp(bn);
  const Td x = tg::ones<double>({3, 2});
  std::fill(bn.running_mean.data(), bn.running_mean.data() + 2, double(r));
  {
    tg::NoGradGuard no_grad;  // no broadcast: each rank keeps its own
    ddp(x);
    CHECK(bn.running_mean.to_vector() == std::vector<double>{double(r), double(r)});
  }
  ddp(x);
  CHECK(bn.running_mean.to_vector() == std::vector<double>{0.0, 0.0});

  // rank 0 uses a and b, the others only a, nobody c: b's gradient is rank 0's over w; c's stays undefined
  tg::manual_seed(9);
  Heads heads;
  DistributedDataParallel dheads(heads, 40.0 / (1024 * 1024));  // 40 bytes: a bucket per head, c's first
  CHECK(dheads.bucket_indices() == std::vector<std::vector<size_t>>{{5, 4}, {3, 2}, {1, 0}});
  const Td input = tg::tensor<double>({1, 2}, {1, 2});
  dheads(input).sum().backward();
  CHECK_FALSE(heads.c->weight.grad().defined());
  REQUIRE(heads.b->weight.grad().defined());
  REQUIRE(heads.a->weight.grad().defined());
  // d(sum)/d(b.weight) on rank 0 is each row of input: [1, 2]; averaged with w - 1 zeros
  CHECK(heads.b->weight.grad().to_vector() == std::vector<double>{1.0 / w, 2.0 / w, 1.0 / w, 2.0 / w});
  CHECK(heads.a->weight.grad().to_vector() == std::vector<double>{1, 2, 1, 2});
  CHECK(dheads.last_pass().buckets == 3);
  CHECK(dheads.last_pass().started_during_backward == 0);  // c's bucket, the first, never filled: all at the end
}

TEST_CASE("DistributedDataParallel: gradients are views of the buckets, and values a caller holds never change") {
  const int w = world(), r = dist::get_rank();
  const int64_t rows = 8, local = rows / w;
  tg::manual_seed(10);
  const Td x = tg::randn<double>({rows, 4}), y = tg::randn<double>({rows, 3});
  tg::manual_seed(300);
  auto reference = mlp();
  tg::manual_seed(300);
  auto model = mlp();
  DistributedDataParallel ddp(model);  // one bucket: parameters 3, 2, 1, 0, each slot 64-byte aligned
  std::vector<Td> params = model.parameters();
  const std::vector<Td> want = reference.parameters();
  // the whole batch's gradient times `scale`, rank r on the rows of rank (r + k) % w
  auto pass = [&](int k, double scale = 1) {
    const int64_t first = ((r + k) % w) * local;
    ((ddp(x.narrow(0, first, local)) - y.narrow(0, first, local)).pow(2).sum() * (scale * double(w) / double(rows))).backward();
  };
  auto reference_pass = [&] { ((reference(x) - y).pow(2).sum() / double(rows)).backward(); };

  pass(0);
  // no copy back: the averages are the bucket's own values, laid out in reverse registration order
  const double* bias2 = params[3].grad().data();
  CHECK(params[2].grad().data() == bias2 + 8);       // 3 doubles, padded to 64 bytes
  CHECK(params[1].grad().data() == bias2 + 8 + 24);  // then 8 x 3
  CHECK(params[0].grad().data() == bias2 + 8 + 24 + 8);
  for (const Td& p : params) CHECK(reinterpret_cast<uintptr_t>(p.grad().data()) % 64 == 0);  // the kernels' aligned maps
  // a pass after zero_grad reuses the bucket (nobody holds its values any more)
  for (Td& p : params) p.set_grad(Td());
  pass(1);
  CHECK(params[3].grad().data() == bias2);

  // a caller keeps a gradient past zero_grad: the next pass (other values: twice the loss)
  // writes elsewhere, the kept values stay
  const Td kept = params[0].grad();
  const std::vector<double> kept_values = kept.to_vector();
  for (Td& p : params) p.set_grad(Td());
  pass(0, 2);
  CHECK(kept.to_vector() == kept_values);
  CHECK(params[3].grad().data() != bias2);
  CHECK(params[0].grad().to_vector() != kept_values);

  // no zero_grad: a second synced pass adds to the views' averages (not into them, whose
  // values stay), as one process adding three full-batch gradients
  std::vector<Td> views = params;
  for (Td& v : views) v = v.grad();
  std::vector<std::vector<double>> view_values;
  for (const Td& v : views) view_values.push_back(v.to_vector());
  pass(1);
  for (size_t i = 0; i < views.size(); ++i) CHECK(views[i].to_vector() == view_values[i]);
  for (int k = 0; k < 3; ++k) reference_pass();
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i);
    tapegrad_test::check_close(params[i].grad(), want[i].grad(), 0, 1e-12);
  }
  CHECK(kept.to_vector() == kept_values);
}

TEST_CASE("DistributedDataParallel: a backward that failed mid-way does not keep the next one from averaging") {
  world();
  const int r = dist::get_rank();
  tg::manual_seed(11);
  const Td x = tg::randn<double>({4, 4}).requires_grad_(), y = tg::randn<double>({4, 3});
  tg::manual_seed(400);
  auto model = mlp();
  DistributedDataParallel ddp(model, 100.0 / (1024 * 1024));  // two buckets: one starts before the failure
  // x's gradient comes after the last layer's: its hook throws once, on every rank
  bool thrown = false;
  x.register_hook([&thrown](const Td&) -> Td {
    if (!thrown) {
      thrown = true;
      throw std::runtime_error("hook failed");
    }
    return Td();
  });
  const Td loss = ((ddp(x) - y).pow(2).sum() * double(r + 1)).mean();  // the ranks' gradients differ
  CHECK_THROWS_WITH(loss.backward(), "hook failed");
  CHECK_FALSE(model.parameters()[0].grad().defined());  // the failed pass changed nothing
  loss.backward();  // the same graph again, no forward between: still synced
  CHECK(ddp.last_pass().buckets == 2);
  for (const Td& p : model.parameters()) {
    REQUIRE(p.grad().defined());
    const std::vector<Td> all = dist::all_gather(p.grad());
    for (const Td& other : all) CHECK(other.to_vector() == p.grad().to_vector());
  }
}
