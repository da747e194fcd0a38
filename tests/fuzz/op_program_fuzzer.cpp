// op_program_fuzzer: reads its input bytes as a small program of tensor ops and runs it.
//
// The bytes decode (a pure function, see decode()) into 1-3 input tensors with small shapes
// (0-4 dims of sizes 0..5) whose values come from a table of tame and nasty numbers (0, -0,
// huge, tiny, denormal, inf, NaN), up to 12 steps drawn from the whole public op set, and a
// final stage that calls backward() in one of several ways, some of them wrong on purpose.
//
// What counts as a bug (the harness aborts, or lets the exception escape):
//   - a crash or a sanitizer report;
//   - any exception other than tapegrad::Error, or an Error whose message is not "op: ...";
//   - a misuse the library should refuse (wrong-shaped gradient, backward of a tensor that
//     does not require grad, ...) that does not throw;
//   - a tensor whose shape does not fit its storage, a gradient whose shape is not its leaf's;
//   - backward changing a value it must not touch;
//   - two runs of the same program giving different bits (an uninitialised read, usually);
//   - two backward passes not giving exactly twice the gradient;
//   - a Jacobian that disagrees with central finite differences in double, when the program
//     is smooth at its inputs (checked with tapegrad::testing::gradcheck first, and any
//     failure confirmed by a second difference step and a check that no kink was crossed).
//
// It builds with libFuzzer (clang -fsanitize=fuzzer) and, with replay_main.cpp, with any
// compiler as a corpus replayer. Set TAPEGRAD_FUZZ_VERBOSE=1 to print each decoded program.
#include <tapegrad/tapegrad.hpp>

#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tg = tapegrad;

namespace {

// ---- bytes ------------------------------------------------------------------------------

// Hands out the input bytes one at a time; past the end every byte reads as 0.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The first kTame values are tame: finite, moderate, away from 0.
constexpr int kTame = 16;
constexpr double kValues[] = {
    0.5,  -1.25, 2.0,  0.75,  -0.3,   1.5,   -2.5,  0.125,  3.0,     -0.875, 1.1,    -1.7,    0.35,   2.25, -0.6,  1.0,
    0.0,  -0.0,  kInf, -kInf, kNaN,   1e308, -1e308, 1e-308, 4.9e-324, 1e15,  -1e15,  1e-15,   65504., -1e-7, 3e38, 88.8};
constexpr int kNumValues = sizeof(kValues) / sizeof(kValues[0]);

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
// Dims, starts and lengths far out of range.
constexpr int64_t kExtremeInts[] = {kI64Max, kI64Min, int64_t(1) << 62, -(int64_t(1) << 62), int64_t(1) << 32,
                                    -(int64_t(1) << 32), 9, -9, 100, kI64Max - 1, kI64Min + 1, 17};
constexpr int kNumExtremeInts = sizeof(kExtremeInts) / sizeof(kExtremeInts[0]);

// Sizes for the dims of inputs and fresh tensors: 0 one time in eight.
constexpr int64_t kSizes[] = {1, 2, 3, 0, 4, 5, 1, 2};

// A table value converted to T; values beyond float's range become +-inf rather than UB.
template <class T>
T to_value(double v) {
  if (std::is_same_v<T, float> && std::isfinite(v) && std::abs(v) > std::numeric_limits<float>::max()) {
    return v > 0 ? std::numeric_limits<T>::infinity() : -std::numeric_limits<T>::infinity();
  }
  return static_cast<T>(v);
}

// A tensor of `shape` with generated values: tame, or from the whole table when bit 7 of b
// is set.
std::vector<double> generated_values(int64_t n, uint8_t seed, uint8_t stride, bool nasty);
template <class T>
tg::Tensor<T> fresh_tensor(const tg::Shape& shape, uint8_t b) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const std::vector<double> v = generated_values(n, b, b >> 3, (b & 0x80) != 0);
  std::vector<T> tv(v.size());
  for (size_t i = 0; i < v.size(); ++i) tv[i] = to_value<T>(v[i]);
  return tg::tensor<T>(std::move(tv), shape);
}

// ---- the program ------------------------------------------------------------------------

enum Kind : uint8_t {
  kAdd, kSub, kMul, kDiv, kNeg, kScalarArith, kCompare, kCompareScalar, kPow, kExp, kLog, kSqrt, kAbs, kTanh,
  kSigmoid, kRelu, kReciprocal, kSumAll, kSumDim, kMeanAll, kMeanDim, kVarAll, kVarDim, kMaxAll, kMaxDim,
  kSoftmax, kLogSoftmax, kMatmul, kMatmulFresh, kReshape, kTranspose, kT, kUnsqueeze, kSqueeze, kNarrow,
  kDetach, kClone, kRequiresGrad, kLinearFresh, kLinearOperands, kLinearModule, kMse, kBce, kBatchNorm,
  kBatchNormModule, kDropout, kFactory, kFactoryLike, kInPlaceClone, kInPlaceAlias, kSequential,
  kActivationModule, kBroadcastFresh, kQuery, kMidBackward, kSetGrad, kGradValue, kEdgeShapes,
  kNumKinds
};

constexpr const char* kKindNames[] = {
    "add", "sub", "mul", "div", "neg", "scalar_arith", "compare", "compare_scalar", "pow", "exp", "log", "sqrt", "abs",
    "tanh", "sigmoid", "relu", "reciprocal", "sum_all", "sum_dim", "mean_all", "mean_dim", "var_all", "var_dim",
    "max_all", "max_dim", "softmax", "log_softmax", "matmul", "matmul_fresh", "reshape", "transpose", "t",
    "unsqueeze", "squeeze", "narrow", "detach", "clone", "requires_grad", "linear_fresh", "linear_operands",
    "linear_module", "mse", "bce", "batch_norm", "batch_norm_module", "dropout", "factory", "factory_like",
    "in_place_clone", "in_place_alias", "sequential", "activation_module", "broadcast_fresh", "query",
    "mid_backward", "set_grad", "grad_value", "edge_shapes"};
static_assert(sizeof(kKindNames) / sizeof(kKindNames[0]) == kNumKinds, "a name for every kind");

// Steps that only act on state (grads, queries, checks) and never add a value: a finite-
// difference replay skips them.
bool is_side_effect(int kind) {
  return kind == kQuery || kind == kMidBackward || kind == kSetGrad || kind == kEdgeShapes || kind == kInPlaceAlias;
}

struct Step {
  uint8_t kind = 0;
  uint8_t sel0 = 0, sel1 = 0;   // operand selectors (0 = the newest value)
  uint8_t p0 = 0, p1 = 0, p2 = 0;  // parameters
  bool no_grad = false;        // runs inside a NoGradGuard
};

struct InputSpec {
  tg::Shape shape;
  std::vector<double> values;
  bool requires_grad = true;
};

struct Program {
  bool use_float = false;
  std::vector<InputSpec> inputs;
  std::vector<Step> steps;
  uint8_t root_sel = 0, reduce = 0, mode = 0, grad_byte = 0, post = 0;
};

// Values for n elements from a seed: tame ones only, or the whole table.
std::vector<double> generated_values(int64_t n, uint8_t seed, uint8_t stride, bool nasty) {
  std::vector<double> v(static_cast<size_t>(n));
  const int m = nasty ? kNumValues : kTame;
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = kValues[(seed + i * (2 * stride + 1)) % m];
  return v;
}

Program decode(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  Program p;
  const uint8_t head = in.byte();
  const int n_inputs = 1 + head % 3;
  p.use_float = (head >> 2) % 16 == 5;  // one in 16, and not the 0xff fuzzers like
  for (int k = 0; k < n_inputs; ++k) {
    InputSpec s;
    const int rank = in.byte() % 5;
    for (int d = 0; d < rank; ++d) s.shape.push_back(kSizes[in.byte() % 8]);
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    const uint8_t mode = in.byte();
    s.requires_grad = mode % 4 != 3;
    const int fill = (mode >> 2) % 4;
    const uint8_t seed = in.byte(), stride = in.byte();
    s.values = generated_values(n, seed, stride, fill == 3);
    if (fill == 2) {  // the first few elements one byte each, from the whole table
      for (int64_t i = 0; i < std::min<int64_t>(n, 8); ++i) s.values[static_cast<size_t>(i)] = kValues[in.byte() % kNumValues];
    }
    p.inputs.push_back(std::move(s));
  }
  const int n_steps = in.byte() % 13;
  for (int i = 0; i < n_steps; ++i) {
    Step s;
    s.kind = in.byte() % kNumKinds;
    s.sel0 = in.byte();
    s.sel1 = in.byte();
    s.p0 = in.byte();
    s.p1 = in.byte();
    s.p2 = in.byte();
    s.no_grad = in.byte() % 8 == 7;
    p.steps.push_back(s);
  }
  p.root_sel = in.byte();
  p.reduce = in.byte();
  p.mode = in.byte();
  p.grad_byte = in.byte();
  p.post = in.byte();
  return p;
}

std::string describe(const Program& p) {
  std::ostringstream os;
  os.precision(17);
  os << "program (" << (p.use_float ? "float" : "double") << ")\n";
  for (size_t k = 0; k < p.inputs.size(); ++k) {
    const InputSpec& s = p.inputs[k];
    os << "  input " << k << ": shape " << tg::Dims::format(s.shape.begin(), s.shape.end()) << (s.requires_grad ? " requires_grad" : "") << " values {";
    for (size_t i = 0; i < s.values.size() && i < 16; ++i) os << (i ? ", " : "") << s.values[i];
    os << (s.values.size() > 16 ? ", ...}" : "}") << '\n';
  }
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const Step& s = p.steps[i];
    os << "  step " << i << ": " << kKindNames[s.kind] << " sel " << int(s.sel0) << ' ' << int(s.sel1) << " params "
       << int(s.p0) << ' ' << int(s.p1) << ' ' << int(s.p2) << (s.no_grad ? " [no_grad]" : "") << '\n';
  }
  os << "  final: root " << int(p.root_sel) << " reduce " << int(p.reduce) << " mode " << int(p.mode) << " grad "
     << int(p.grad_byte) << " post " << int(p.post) << '\n';
  return os.str();
}

// ---- statistics (TAPEGRAD_FUZZ_STATS=1 prints them at exit) ------------------------------

struct Stats {
  long programs = 0, float_programs = 0, steps = 0, step_errors = 0, fd_candidates = 0, gradchecks = 0,
       gradcheck_failures = 0, confirmations = 0;
  ~Stats() {
    const char* v = std::getenv("TAPEGRAD_FUZZ_STATS");
    if (!v || !*v || *v == '0') return;
    std::fprintf(stderr,
                 "op_program_fuzzer stats: %ld programs (%ld float), %ld steps (%ld refused with tapegrad::Error), "
                 "%ld smooth and tame enough for finite differences, %ld gradchecks, %ld gradcheck failures "
                 "(%ld needed the confirming check; the rest crossed a kink)\n",
                 programs, float_programs, steps, step_errors, fd_candidates, gradchecks, gradcheck_failures,
                 confirmations);
  }
} g_stats;

// ---- failing loudly -----------------------------------------------------------------------

const Program* g_program = nullptr;  // printed with every failure

[[noreturn]] void bug(const std::string& what) {
  std::fprintf(stderr, "\n==== op_program_fuzzer: BUG: %s\n", what.c_str());
  if (g_program) std::fprintf(stderr, "%s", describe(*g_program).c_str());
  std::fflush(stderr);
  std::abort();
}

// An Error must read "op: what went wrong".
void check_message(const tg::Error& e) {
  const char* m = e.what();
  size_t i = 0;
  while (std::isalnum(static_cast<unsigned char>(m[i])) || m[i] == '_') ++i;
  if (i == 0 || m[i] != ':' || m[i + 1] != ' ' || m[i + 2] == '\0') {
    bug(std::string("tapegrad::Error message not of the form \"op: ...\": ") + m);
  }
}

// Runs f, which must throw tapegrad::Error.
template <class F>
void expect_error(const char* what, F&& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    check_message(e);
    return;
  }
  bug(std::string("expected tapegrad::Error: ") + what);
}

template <class T>
std::string shape_of(const tg::Tensor<T>& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// The tensor's shape fits its storage, and its autograd state is consistent.
template <class T>
void check_tensor(const tg::Tensor<T>& t, const char* where) {
  if (!t.defined()) bug(std::string(where) + ": an undefined tensor");
  const auto* impl = t.impl();
  const tg::Dims& s = impl->sizes;
  if (s.size() < 0 || s.size() > tg::kMaxDims) bug(std::string(where) + ": bad rank");
  for (int64_t d : s) {
    if (d < 0) bug(std::string(where) + ": negative size in " + shape_of(t));
  }
  if (!impl->storage || !impl->data) bug(std::string(where) + ": no storage");
  const T* begin = impl->storage->data;
  const auto capacity = static_cast<int64_t>((impl->storage->block_bytes - tg::detail::Storage<T>::kHeaderBytes) / sizeof(T));
  if (impl->data < begin || impl->data - begin + s.numel() > capacity) {
    bug(std::string(where) + ": shape " + shape_of(t) + " does not fit its storage of " + std::to_string(capacity) + " values");
  }
  if (impl->grad_fn && !impl->requires_grad) bug(std::string(where) + ": a grad_fn without requires_grad");
}

template <class T>
bool same_bits(const tg::Tensor<T>& a, const tg::Tensor<T>& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.sizes() == b.sizes() && std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<size_t>(a.numel())) == 0;
}

template <class T>
tg::Tensor<T> snapshot(const tg::Tensor<T>& t) {
  return t.defined() ? t.clone() : tg::Tensor<T>();
}

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

// ---- running a program --------------------------------------------------------------------

// What the first full run saw at each step, for the finite-difference replays.
template <class T>
struct StepRecord {
  bool error = false;
  int value = -1;  // index of the value it added, or -1
};

template <class T>
class Executor {
 public:
  using Tensor = tg::Tensor<T>;

  // A full run when `reference` is null; else a replay that reuses the reference's values of
  // every step whose result did not require grad (constants with respect to the inputs).
  Executor(const Program& p, std::vector<Tensor> inputs, const Executor* reference = nullptr)
      : p_(p), inputs_(std::move(inputs)), ref_(reference) {
    values = inputs_;
    want_signature = reference != nullptr;
    for (const Tensor& x : inputs_) need_moderate(x);
  }

  const Program& p_;
  std::vector<Tensor> inputs_;
  const Executor* ref_;
  std::vector<Tensor> values;
  std::vector<StepRecord<T>> records;
  std::vector<Tensor> extra_leaves;  // leaves made inside the program
  bool fd_ok = std::is_same_v<T, double>;  // smooth where it runs, nothing aliased changed
  bool tame_values = true;  // every value moderate, no denominator near 0: gradients stay moderate too
  bool diverged = false;
  bool want_signature = false;
  uint64_t signature = 0;

  void run() {
    for (size_t i = 0; i < p_.steps.size(); ++i) run_step(i);
  }

 private:
  // ---- helpers ----
  const Tensor& pick(uint8_t sel) const { return values[values.size() - 1 - sel % values.size()]; }

  static T value(uint8_t b) { return to_value<T>(kValues[b % kNumValues]); }
  static T tame(uint8_t b) { return to_value<T>(kValues[b % kTame]); }

  Tensor fresh(const tg::Shape& shape, uint8_t b) {
    Tensor t = fresh_tensor<T>(shape, b);
    need_moderate(t);
    return t;
  }

  // A dim for a tensor of `rank`: mostly in [-r, r-1], sometimes far out.
  static int64_t dim_of(uint8_t b, int64_t rank) {
    const int64_t r = std::max<int64_t>(rank, 1);
    if (b >= 232) return kExtremeInts[(b - 232) % kNumExtremeInts];
    return static_cast<int64_t>(b % (2 * r)) - r;
  }
  static int64_t size_at(const Tensor& x, int64_t d) {  // a size, for a dim already known valid
    const int64_t r = x.dim();
    return x.sizes()[static_cast<int>(d < 0 ? d + r : d)];
  }
  static int64_t last_size(const Tensor& x) { return x.dim() > 0 ? x.sizes().back() : 1; }

  // The finite-difference check needs every value moderate (and finite).
  void need_moderate(const Tensor& x) {
    if (!tame_values) return;
    const T* p = x.data();
    for (int64_t i = 0, n = x.numel(); i < n; ++i) {
      if (!(std::abs(p[i]) <= T(1e4))) tame_values = false;
    }
  }
  void need_moderate_scalar(double v, bool divides) {
    if (!(std::abs(v) <= 1e4) || (divides && !(std::abs(v) >= 1e-3))) tame_values = false;
  }

  // Near a pole or the clamps, derivatives are huge and their rounding swamps the finite
  // differences' tolerance: the check only runs with every such operand at least `margin`
  // away (1 / x, log x, sqrt x, x^-0.5, BCE's p and 1 - p).
  void need_margin(const Tensor& x, T margin = T(1e-3)) {
    if (!tame_values) return;
    const T* p = x.data();
    for (int64_t i = 0, n = x.numel(); i < n; ++i) {
      if (!(std::abs(p[i]) >= margin)) tame_values = false;
    }
  }

  // Kinks: what must not change between the finite-difference runs.
  void sign_signature(const Tensor& x) {
    if (!want_signature) return;
    const T* p = x.data();
    for (int64_t i = 0, n = x.numel(); i < n; ++i) {
      const T v = p[i];
      signature = mix(signature, v > 0 ? 1 : v < 0 ? 2 : v == 0 ? 3 : 4);
    }
  }
  // Which elements hold the max (a max with dim: `out` kept at rank).
  void max_signature(const Tensor& x, const Tensor& out_kept) {
    if (!want_signature) return;
    tg::NoGradGuard guard;
    const Tensor hits = x == out_kept;
    const T* p = hits.data();
    for (int64_t i = 0, n = hits.numel(); i < n; ++i) signature = mix(signature, p[i] != 0);
  }

  // ---- the steps ----
  void run_step(size_t index) {
    const Step& s = p_.steps[index];
    StepRecord<T> rec;
    if (ref_) {
      const StepRecord<T>& r = ref_->records[index];
      if (is_side_effect(s.kind) || (!r.error && r.value < 0)) {  // nothing to recompute
        records.push_back(r);
        return;
      }
      if (!r.error && r.value >= 0 && !ref_->values[r.value].requires_grad()) {
        rec.value = static_cast<int>(values.size());
        values.push_back(ref_->values[r.value]);  // a constant: the reference's own value
        records.push_back(rec);
        return;
      }
      if (!r.error && r.value >= 0 && s.kind == kRequiresGrad) {
        // A new leaf cut from a value: a constant too, though it requires grad (a detach of
        // the input shares the input's storage, which the finite differences perturb).
        rec.value = static_cast<int>(values.size());
        values.push_back(ref_->values[r.value].clone().requires_grad_());
        records.push_back(rec);
        return;
      }
    }
    tg::manual_seed(1000 + index);  // random steps draw the same numbers in every run
    Tensor out;
    try {
      std::optional<tg::NoGradGuard> guard;
      if (s.no_grad) guard.emplace();
      out = apply(s);
    } catch (const tg::Error& e) {
      check_message(e);
      rec.error = true;
    }
    if (!ref_) {
      ++g_stats.steps;
      g_stats.step_errors += rec.error;
    }
    if (out.defined()) {
      check_tensor(out, kKindNames[s.kind]);
      if (s.no_grad && !out.is_leaf()) {  // requires_grad_() may still make a leaf that requires grad
        bool is_operand = false;  // an op may hand back its own input (dropout with p = 0)
        for (const Tensor& v : values) is_operand = is_operand || v.impl() == out.impl();
        if (!is_operand) bug(std::string(kKindNames[s.kind]) + ": recorded a grad_fn under NoGradGuard");
      }
      // Constants count too: a huge one makes huge intermediate gradients, whose rounding
      // (a + 6e38 - 6e38 == 0) the finite differences would take for a wrong gradient.
      need_moderate(out);
      rec.value = static_cast<int>(values.size());
      values.push_back(out);
    }
    if (ref_) {
      const StepRecord<T>& r = ref_->records[index];
      if (r.error != rec.error || (r.value >= 0) != (rec.value >= 0)) diverged = true;
    }
    records.push_back(rec);
  }

  Tensor apply(const Step& s) {
    const Tensor& x = pick(s.sel0);
    const Tensor& y = pick(s.sel1);
    switch (s.kind) {
      case kAdd: return x + y;
      case kSub: return x - y;
      case kMul: return x * y;
      case kDiv: need_margin(y); sign_signature(y); return x / y;
      case kNeg: return -x;
      case kScalarArith: return scalar_arith(s, x);
      case kCompare: return compare(s, x, y);
      case kCompareScalar: return compare_scalar(s, x);
      case kPow: return power(s, x);
      case kExp: return tg::exp(x);
      case kLog: need_margin(x); sign_signature(x); return tg::log(x);
      case kSqrt: need_margin(x); sign_signature(x); return tg::sqrt(x);
      case kAbs: sign_signature(x); return tg::abs(x);
      case kTanh: return tg::tanh(x);
      case kSigmoid: return tg::sigmoid(x);
      case kRelu: sign_signature(x); return tg::relu(x);
      case kReciprocal: need_margin(x); sign_signature(x); return tg::reciprocal(x);
      case kSumAll: return s.p0 % 2 ? x.sum() : tg::sum(x);
      case kSumDim: {
        const int64_t d = dim_of(s.p0, x.dim());
        return s.p2 % 2 ? x.sum(d, s.p1 % 2) : tg::sum(x, d, s.p1 % 2);
      }
      case kMeanAll: return s.p0 % 2 ? x.mean() : tg::mean(x);
      case kMeanDim: {
        const int64_t d = dim_of(s.p0, x.dim());
        return s.p2 % 2 ? x.mean(d, s.p1 % 2) : tg::mean(x, d, s.p1 % 2);
      }
      case kVarAll: return s.p0 % 2 ? x.var() : tg::var(x);
      case kVarDim: {
        const int64_t d = dim_of(s.p0, x.dim());
        return s.p2 % 2 ? x.var(d, s.p1 % 2, (s.p1 >> 1) % 2) : tg::var(x, d, s.p1 % 2, (s.p1 >> 1) % 2);
      }
      case kMaxAll: {
        Tensor out = s.p0 % 2 ? x.max() : tg::max(x);
        max_signature(x, out);
        return out;
      }
      case kMaxDim: {
        const int64_t d = dim_of(s.p0, x.dim());
        const bool keep = s.p1 % 2;
        Tensor out = s.p2 % 2 ? x.max(d, keep) : tg::max(x, d, keep);
        if (want_signature) max_signature(x, keep || x.dim() == 0 ? out : out.unsqueeze(d));
        return out;
      }
      case kSoftmax: return tg::softmax(x, dim_of(s.p0, x.dim()));
      case kLogSoftmax: return tg::log_softmax(x, dim_of(s.p0, x.dim()));
      case kMatmul: return s.p0 % 2 ? x.matmul(y) : tg::matmul(x, y);
      case kMatmulFresh: return matmul_fresh(s, x);
      case kReshape: return reshape(s, x);
      case kTranspose: {
        const int64_t d0 = dim_of(s.p0, x.dim()), d1 = dim_of(s.p1, x.dim());
        return s.p2 % 2 ? x.transpose(d0, d1) : tg::transpose(x, d0, d1);
      }
      case kT: return s.p0 % 2 ? x.t() : tg::t(x);
      case kUnsqueeze: {
        const int64_t d = dim_of(s.p0, x.dim() + 1);
        return s.p1 % 2 ? x.unsqueeze(d) : tg::unsqueeze(x, d);
      }
      case kSqueeze: return squeeze(s, x);
      case kNarrow: return narrow(s, x);
      case kDetach: return x.detach();
      case kClone: return x.clone();
      case kRequiresGrad:
        if (s.p0 % 4 == 0 && !x.is_leaf()) {
          expect_error("requires_grad_(false) on a non-leaf", [&] { Tensor(x).requires_grad_(false); });
          if (!x.requires_grad()) bug("requires_grad_(false) failed but changed the tensor");
          return Tensor();
        } else {
          Tensor leaf = x.detach();
          leaf.requires_grad_(s.p0 % 4 != 1);
          if (leaf.requires_grad()) extra_leaves.push_back(leaf);
          return leaf;
        }
      case kLinearFresh: return linear_fresh(s, x);
      case kLinearOperands: {
        const Tensor& b = s.p0 % 3 == 0 ? Tensor() : pick(s.p1);
        return s.p0 % 2 ? tg::nn::functional::linear(x, y, b) : tg::nn::functional::linear(x, y);
      }
      case kLinearModule: return linear_module(s, x);
      case kMse: {
        const Tensor target = s.p0 % 2 ? y : fresh(x.shape(), s.p1);
        if (s.p0 % 4 >= 2) return tg::nn::MSELoss<T>()(x, target);
        return tg::nn::functional::mse_loss(x, target);
      }
      case kBce: return bce(s, x, y);
      case kBatchNorm: return batch_norm(s, x);
      case kBatchNormModule: return batch_norm_module(s, x);
      case kDropout: {
        static constexpr double kP[] = {0.0, 0.5, 1.0, 0.25, -0.1, 1.5, kNaN, 0.9};
        const double prob = kP[s.p0 % 8];
        if (s.p1 % 3 == 0) {
          tg::nn::Dropout<T> m(prob);  // throws for a bad p
          if (s.p2 % 2) m.eval();
          return m(x);
        }
        return tg::nn::functional::dropout(x, prob, s.p1 % 2 == 1);
      }
      case kFactory: return factory(s);
      case kFactoryLike: return factory_like(s, x);
      case kInPlaceClone: {
        Tensor c = x.clone();
        in_place(s, c);
        return c;
      }
      case kInPlaceAlias: {
        fd_ok = tame_values = false;  // it may change saved values: the gradients are then meaningless
        Tensor target = x;
        in_place(s, target);
        return Tensor();
      }
      case kSequential: return sequential(s, x);
      case kActivationModule: return activation_module(s, x);
      case kBroadcastFresh: return broadcast_fresh(s, x);
      case kQuery: query(s, x); return Tensor();
      case kMidBackward: {
        Tensor root = s.p0 % 2 ? x.sum() : x;
        if (!root.requires_grad()) {
          expect_error("backward of a tensor that does not require grad", [&] { root.backward(); });
        } else if (root.numel() != 1) {
          expect_error("backward() of a tensor with more than one element", [&] { root.backward(); });
        } else {
          root.backward();
        }
        return Tensor();
      }
      case kSetGrad: {
        Tensor leaf = inputs_[s.p0 % inputs_.size()];
        switch (s.p1 % 3) {
          case 0: leaf.set_grad(Tensor()); break;
          case 1: leaf.set_grad(fresh(leaf.shape(), s.p2)); break;
          default: {
            tg::Shape wrong = leaf.shape();
            wrong.push_back(2);
            expect_error("set_grad with a wrong shape", [&] { leaf.set_grad(fresh(wrong, s.p2)); });
          }
        }
        return Tensor();
      }
      case kGradValue: {
        const Tensor g = inputs_[s.p0 % inputs_.size()].grad();
        return g.defined() ? g.clone() : Tensor();
      }
      case kEdgeShapes: edge_shapes(s); return Tensor();
      default: return Tensor();
    }
  }

  static Tensor compare(const Step& s, const Tensor& x, const Tensor& y) {
    switch (s.p0 % 6) {
      case 0: return x > y;
      case 1: return x < y;
      case 2: return x >= y;
      case 3: return x <= y;
      case 4: return x == y;
      default: return x != y;
    }
  }

  static Tensor squeeze(const Step& s, const Tensor& x) {
    switch (s.p1 % 4) {
      case 0: return x.squeeze();
      case 1: return tg::squeeze(x);
      case 2: return x.squeeze(dim_of(s.p0, x.dim()));
      default: return tg::squeeze(x, dim_of(s.p0, x.dim()));
    }
  }

  static Tensor factory_like(const Step& s, const Tensor& x) {
    switch (s.p0 % 4) {
      case 0: return tg::zeros_like(x);
      case 1: return tg::ones_like(x);
      case 2: return tg::full_like(x, value(s.p1));
      default: return tg::empty_like(x).fill_(value(s.p1));
    }
  }

  Tensor activation_module(const Step& s, const Tensor& x) {
    switch (s.p0 % 3) {
      case 0: sign_signature(x); return tg::nn::ReLU<T>()(x);
      case 1: return tg::nn::Sigmoid<T>()(x);
      default: return tg::nn::Softmax<T>(dim_of(s.p1, x.dim()))(x);
    }
  }

  template <class S>
  Tensor scalar_arith_with(int op, const Tensor& x, S v) {
    need_moderate_scalar(static_cast<double>(v), op % 8 == 6);
    switch (op % 8) {
      case 0: return x + v;
      case 1: return v + x;
      case 2: return x - v;
      case 3: return v - x;
      case 4: return x * v;
      case 5: return v * x;
      case 6: return x / v;
      default: return v / x;
    }
  }

  Tensor scalar_arith(const Step& s, const Tensor& x) {
    static constexpr int kInts[] = {0, 1, -1, 2, 3, -7, 100, 1 << 30};
    if (s.p0 % 8 == 7) {  // v / x has a pole at 0
      need_margin(x);
      sign_signature(x);
    }
    switch (s.p2 % 5) {
      case 0: return scalar_arith_with(s.p0, x, kValues[s.p1 % kNumValues]);
      case 1: return scalar_arith_with(s.p0, x, static_cast<float>(kValues[s.p1 % kTame]));
      case 2: return scalar_arith_with(s.p0, x, kInts[s.p1 % 8]);
      case 3: return scalar_arith_with(s.p0, x, static_cast<int64_t>(kInts[s.p1 % 8]));
      default: return scalar_arith_with(s.p0, x, s.p1 % 2 == 1);
    }
  }

  Tensor compare_scalar(const Step& s, const Tensor& x) {
    const double v = kValues[s.p1 % kNumValues];
    const bool left = s.p2 % 2;
    switch (s.p0 % 6) {
      case 0: return left ? v > x : x > v;
      case 1: return left ? v < x : x < v;
      case 2: return left ? v >= x : x >= v;
      case 3: return left ? v <= x : x <= v;
      case 4: return left ? v == x : x == v;
      default: return left ? v != x : x != v;
    }
  }

  Tensor power(const Step& s, const Tensor& x) {
    static constexpr double kExponents[] = {0, 1, 2, 3, 0.5, -0.5, -1, -2, 1.5, -1.5, 2.5, 4, 0.25, -3, kNaN, kInf,
                                            -kInf, 1e-300, 7, 1.0 / 3};
    const double e = kExponents[s.p0 % 20];
    if (!std::isfinite(e)) fd_ok = false;  // x^inf jumps at |x| = 1
    if (e != std::floor(e) || e < 0) {  // x^e has a kink or pole at 0
      need_margin(x);
      sign_signature(x);
    }
    if (s.p1 % 3 == 0 && e == std::floor(e) && std::abs(e) < 100) return tg::pow(x, static_cast<int>(e));
    if (s.p1 % 3 == 1) return tg::pow(x, static_cast<float>(e));
    return tg::pow(x, e);
  }

  // x @ a fresh operand of a fitting shape (or, sometimes, not fitting).
  Tensor matmul_fresh(const Step& s, const Tensor& x) {
    const int64_t a = kSizes[s.p1 % 8], b = kSizes[(s.p1 >> 3) % 8];
    const int64_t k_right = last_size(x);                                    // x @ w
    const int64_t k_left = x.dim() == 0 ? 1 : x.dim() == 1 ? x.sizes()[0] : x.sizes()[static_cast<int>(x.dim()) - 2];
    const int64_t off = (s.p1 >> 6) == 3 ? 1 : 0;  // a mismatch now and then
    Tensor w;
    switch (s.p0 % 6) {
      case 0: w = fresh({k_right + off}, s.p2); return tg::matmul(x, w);
      case 1: w = fresh({k_right + off, a}, s.p2); return tg::matmul(x, w);
      case 2: w = fresh({b, k_right + off, a}, s.p2); return tg::matmul(x, w);
      case 3: w = fresh({a, k_left + off}, s.p2); return tg::matmul(w, x);
      case 4: w = fresh({b, a, k_left + off}, s.p2); return tg::matmul(w, x);
      default: w = fresh({k_left + off}, s.p2); return tg::matmul(w, x);
    }
  }

  Tensor reshape(const Step& s, const Tensor& x) {
    const tg::Shape shape = x.shape();
    const int64_t n = x.numel();
    tg::Shape target;
    switch (s.p0 % 12) {
      case 0: target = {-1}; break;
      case 1: target = {-1, last_size(x)}; break;
      case 2: target = {shape.empty() ? 1 : shape[0], -1}; break;
      case 3: target = shape; target.insert(target.begin() + static_cast<long>(s.p1 % (shape.size() + 1)), 1); break;
      case 4: target.assign(shape.rbegin(), shape.rend()); break;
      case 5: target = {n}; break;
      case 6: target = {-1, -1}; break;
      case 7: {  // dims from bytes
        const int rank = s.p1 % 5;
        for (int i = 0; i < rank; ++i) {
          const uint8_t b = static_cast<uint8_t>(s.p2 >> (2 * i)) ^ static_cast<uint8_t>(i * 37);
          target.push_back(b % 16 == 15 ? kExtremeInts[b % kNumExtremeInts] : static_cast<int64_t>(b % 7) - 1);
        }
        break;
      }
      case 8: {  // a factorisation of n
        int64_t f = 2;
        while (f < n && n % f != 0) ++f;
        if (n > 1) target = {f, n / f};
        else target = {n, 1, 1};
        break;
      }
      case 9: target = {}; break;
      case 10: target.assign(9, 1); break;
      default: target = {n == 0 ? 0 : 1, n, 1, 1, 1, 1, 1, 1}; break;
    }
    switch (s.p2 % 4) {
      case 0: return x.reshape(target);
      case 1: return x.view(target);
      case 2: return tg::reshape(x, target);
      default: return x.flatten();
    }
  }

  Tensor narrow(const Step& s, const Tensor& x) {
    const int64_t d = dim_of(s.p0, x.dim());
    const bool valid_dim = x.dim() > 0 && d >= -x.dim() && d < x.dim();
    const int64_t size = valid_dim ? size_at(x, d) : 3;
    int64_t start, length, from = 0;
    if (s.p1 >= 240) start = kExtremeInts[s.p1 % kNumExtremeInts];
    else if (s.p1 % 5 == 4) start = -1 - static_cast<int64_t>(s.p1 / 5) % (size + 1);  // negative: from the end
    else start = static_cast<int64_t>(s.p1 / 5) % (size + 1);
    if (s.p1 < 240) from = start < 0 ? start + size : start;
    if (s.p2 >= 240) length = kExtremeInts[s.p2 % kNumExtremeInts];
    else length = static_cast<int64_t>(s.p2) % (std::max<int64_t>(size - from, 0) + 2);  // one too far now and then
    return s.p0 % 2 ? x.narrow(d, start, length) : tg::narrow(x, d, start, length);
  }

  Tensor linear_fresh(const Step& s, const Tensor& x) {
    const int64_t out = kSizes[s.p0 % 8];
    const int64_t in = last_size(x) + ((s.p0 >> 3) % 16 == 15 ? 1 : 0);
    Tensor w = fresh({out, in}, s.p2);
    if (s.p1 % 2) w.requires_grad_();
    Tensor b;
    switch ((s.p1 >> 1) % 4) {
      case 0: break;
      case 1: case 2: b = fresh({out}, static_cast<uint8_t>(s.p2 + 1)); break;
      default: b = fresh({out + 1}, s.p2); break;  // wrong
    }
    if ((s.p1 >> 3) % 2 && b.defined()) b.requires_grad_();
    return tg::nn::functional::linear(x, w, b);
  }

  Tensor linear_module(const Step& s, const Tensor& x) {
    const int64_t out = kSizes[s.p0 % 8];
    const int64_t in = (s.p0 >> 3) % 8 == 7 ? static_cast<int64_t>(s.p1 % 4) - 1 : last_size(x);  // -1 throws
    tg::nn::Linear<T> m(in, out, s.p1 % 2 == 0);
    return m(x);
  }

  Tensor bce(const Step& s, const Tensor& x, const Tensor& y) {
    static constexpr double kTargets[] = {0, 1, 0.3, 0.7, 0.5, 1e-3};
    Tensor target;
    if (s.p0 % 2) {
      target = y;
    } else {
      std::vector<T> t(static_cast<size_t>(x.numel()));
      for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(kTargets[(s.p1 + i) % 6]);
      target = tg::tensor<T>(std::move(t), x.shape());
      if ((s.p1 >> 4) % 2) target.requires_grad_();
    }
    sign_signature(x);
    if (tame_values) {
      tg::NoGradGuard guard;
      need_margin(x);
      need_margin(1 - x);
    }
    if (want_signature) {
      tg::NoGradGuard guard;  // the clamps of log(p) and log(1 - p) at -100
      sign_signature(1 - x);
      if (want_signature) sign_signature(tg::log(x) + 100);
      if (want_signature) sign_signature(tg::log(1 - x) + 100);
      if (want_signature) sign_signature((1 - x) * x - T(1e-12f));
    }
    if (s.p0 % 4 >= 2) return tg::nn::BCELoss<T>()(x, target);
    return tg::nn::functional::binary_cross_entropy(x, target);
  }

  Tensor batch_norm(const Step& s, const Tensor& x) {
    static constexpr double kMomentum[] = {0.1, 0.0, 1.0, 0.5};
    static constexpr double kEps[] = {1e-5, 0.0, 1e-3, 1.0};
    const int64_t C = x.dim() >= 2 ? x.sizes()[1] : kSizes[s.p1 % 8];
    Tensor mean, var, weight, bias;
    switch (s.p0 % 4) {
      case 0: break;
      case 1: mean = fresh({C}, s.p2); var = tg::abs(fresh({C}, static_cast<uint8_t>(s.p2 + 3))); break;
      case 2: mean = fresh({C}, s.p2); break;  // var missing: refused
      default: mean = fresh({C + 1}, s.p2); var = tg::ones<T>({C + 1}); break;  // wrong shape
    }
    if ((s.p0 >> 2) % 2) weight = fresh({C}, static_cast<uint8_t>(s.p2 + 5)).requires_grad_((s.p0 >> 3) % 2);
    if ((s.p0 >> 4) % 2) bias = fresh({C}, static_cast<uint8_t>(s.p2 + 7)).requires_grad_((s.p0 >> 5) % 2);
    tg::nn::functional::BatchNormOptions opt;
    opt.training = s.p1 % 3 != 0;
    opt.momentum = kMomentum[(s.p1 >> 2) % 4];
    opt.eps = kEps[(s.p1 >> 4) % 4];
    if (opt.eps < 1e-5) tame_values = false;  // 1 / sqrt(var + eps) unbounded
    return tg::nn::functional::batch_norm(x, mean, var, weight, bias, opt);
  }

  Tensor batch_norm_module(const Step& s, const Tensor& x) {
    const int64_t C = s.p0 % 4 == 0 ? static_cast<int64_t>(s.p1 % 4) - 1 : x.dim() >= 2 ? x.sizes()[1] : 2;
    tg::nn::BatchNorm1d<T> m(C);
    if (s.p2 % 2) m.eval();
    Tensor out = m(x);
    if (s.p2 % 4 == 2) out = m(x);  // a second batch updates the running statistics again
    return out;
  }

  Tensor factory(const Step& s) {
    tg::Shape shape;
    const int rank = s.p1 % 4;
    for (int i = 0; i < rank; ++i) shape.push_back(kSizes[(s.p2 >> (2 * i)) % 4 + (i % 2) * 4]);
    Tensor t;
    switch (s.p0 % 10) {
      case 0: t = tg::zeros<T>(shape); break;
      case 1: t = tg::ones<T>(shape); break;
      case 2: t = tg::full<T>(shape, value(s.p2)); break;
      case 3: t = tg::empty<T>(shape).fill_(tame(s.p2)); break;
      case 4: {  // values from bytes, sometimes one short
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        if ((s.p0 >> 4) % 4 == 3) ++n;
        std::vector<T> v(static_cast<size_t>(n));
        for (size_t i = 0; i < v.size(); ++i) v[i] = value(static_cast<uint8_t>(s.p2 + 3 * i));
        t = tg::tensor<T>(std::move(v), shape);
        break;
      }
      case 5: t = tg::scalar_tensor<T>(value(s.p2)); break;
      case 6: t = tg::rand<T>(shape); break;
      case 7: t = tg::randn<T>(shape); break;
      case 8: {  // rows x cols of one value through Eigen
        using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
        t = tg::from_eigen(Matrix::Constant(kSizes[s.p2 % 8], kSizes[(s.p2 >> 3) % 8], value(s.p1)));
        break;
      }
      default: {
        tg::Generator gen(s.p2);
        t = (s.p0 >> 4) % 2 ? tg::randn<T>(shape, gen) : tg::rand<T>(shape, gen);
      }
    }
    if ((s.p0 >> 6) % 2) {
      t.requires_grad_();
      extra_leaves.push_back(t);
    }
    return t;
  }

  void in_place(const Step& s, Tensor& t) {
    const double a = kValues[s.p1 % kNumValues], b = kValues[s.p2 % kNumValues];
    switch (s.p0 % 5) {
      case 0: t.fill_(to_value<T>(a)); break;
      case 1: t.zero_(); break;
      case 2: t.uniform_(std::min(a, b), std::max(a, b)); break;
      case 3: t.normal_(a, std::abs(b)); break;
      default: {
        static constexpr double kP[] = {0.0, 0.5, 1.0, 0.3, -0.5, 2.0, kNaN, 1e-9};
        t.bernoulli_(kP[s.p1 % 8]);
      }
    }
    if ((s.p0 >> 4) % 8 == 7) {  // and the ones that must throw
      expect_error("uniform_ with from > to", [&] { t.uniform_(1, 0); });
      expect_error("normal_ with std < 0", [&] { t.normal_(0, -1); });
      expect_error("bernoulli_ with p > 1", [&] { t.bernoulli_(1.5); });
    }
  }

  Tensor sequential(const Step& s, const Tensor& x) {
    const int64_t in = last_size(x), hidden = kSizes[s.p0 % 8], out = kSizes[(s.p0 >> 3) % 8];
    std::optional<tg::nn::Sequential<T>> m;
    switch (s.p1 % 4) {
      case 0:
        fd_ok = false;  // the hidden relu's kinks are out of sight
        m.emplace(tg::nn::Linear<T>(in, hidden), tg::nn::ReLU<T>(), tg::nn::Linear<T>(hidden, out));
        break;
      case 1: m.emplace(tg::nn::Linear<T>(in, hidden), tg::nn::Sigmoid<T>(), tg::nn::Linear<T>(hidden, out)); break;
      case 2: m.emplace(tg::nn::Linear<T>(in, hidden, false), tg::nn::Softmax<T>(-1)); break;
      default: m.emplace(tg::nn::Linear<T>(in, out), tg::nn::Dropout<T>(0.0)); break;
    }
    if (s.p2 % 2) m->eval();
    const auto params = m->named_parameters();
    for (const auto& entry : params) check_tensor(entry.second, "Sequential parameter");
    m->zero_grad();
    return (*m)(x);
  }

  Tensor broadcast_fresh(const Step& s, const Tensor& x) {
    tg::Shape shape = x.shape();
    switch (s.p1 % 5) {
      case 0: if (!shape.empty()) shape.erase(shape.begin()); break;              // fewer dims
      case 1: if (!shape.empty()) shape[s.p2 % shape.size()] = 1; break;          // a 1 to stretch
      case 2: shape.insert(shape.begin(), kSizes[s.p2 % 8]); break;               // a new leading dim
      case 3: for (auto& d : shape) d = (s.p2 >> (&d - shape.data())) % 2 ? 1 : d; break;
      default: if (!shape.empty()) shape.back() = kSizes[s.p2 % 8]; break;        // may not fit
    }
    Tensor f = fresh(shape, s.p2);
    if ((s.p0 >> 3) % 2) {
      f.requires_grad_();
      extra_leaves.push_back(f);
    }
    const bool swap = (s.p0 >> 2) % 2;
    const Tensor& a = swap ? f : x;
    const Tensor& b = swap ? x : f;
    switch (s.p0 % 4) {
      case 0: return a + b;
      case 1: return a - b;
      case 2: return a * b;
      default: need_margin(b); sign_signature(b); return a / b;
    }
  }

  // Shape queries agree with each other; the refusals throw.
  void query(const Step& s, const Tensor& x) {
    const tg::Shape shape = x.shape();
    if (static_cast<int64_t>(shape.size()) != x.dim()) bug("shape() and dim() disagree");
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (n != x.numel()) bug("numel() is not the product of shape()");
    for (int64_t d = -x.dim(); d < x.dim(); ++d) {
      if (x.size(d) != shape[static_cast<size_t>(d < 0 ? d + x.dim() : d)]) bug("size(d) disagrees with shape()");
    }
    if (x.dim() > 0) expect_error("size(dim) out of range", [&] { (void)x.size(x.dim()); });
    if (static_cast<int64_t>(x.to_vector().size()) != n) bug("to_vector() has the wrong length");
    if (n == 1) {
      const T v = x.item(), w = x.data()[0];
      if (std::memcmp(&v, &w, sizeof(T)) != 0) bug("item() differs from data()[0]");
    } else {
      expect_error("item() of a tensor with other than one element", [&] { (void)x.item(); });
    }
    if (x.dim() == 2) {
      auto m = x.matrix();
      if (m.rows() != shape[0] || m.cols() != shape[1] || (n > 0 && m.data() != x.data())) bug("matrix() is not the tensor");
    } else {
      expect_error("matrix() of a tensor that is not 2-D", [&] { (void)x.matrix(); });
    }
    if (x.is_leaf() != (std::strlen(x.grad_fn_name()) == 0)) bug("is_leaf() and grad_fn_name() disagree");
    const Tensor g = x.grad();
    if (g.defined() && g.sizes() != x.sizes()) bug("grad() has another shape than its tensor");
    const Tensor undefined;
    expect_error("an undefined tensor's shape", [&] { (void)undefined.shape(); });
    if (s.p0 % 4 == 0) expect_error("an undefined tensor in an op", [&] { (void)(x + undefined); });
    if (s.p0 % 4 == 1) expect_error("backward of an undefined tensor", [&] { undefined.backward(x); });
  }

  static bool mul_overflows(int64_t a, int64_t b) { return a != 0 && (b > kI64Max / a); }
  static int64_t product_or_zero(int64_t a, int64_t b) { return mul_overflows(a, b) ? 0 : a * b; }

  // Zero-element tensors with huge dims, and what the ops must make of them: the right
  // result when it is small, an Error when its size cannot be counted or allocated. Sizes in
  // between would only exhaust memory and are not tried.
  void edge_shapes(const Step& s) {
    static constexpr int64_t kHuge[] = {int64_t(1) << 61, int64_t(1) << 62, kI64Max, int64_t(1) << 40, int64_t(1) << 31,
                                        int64_t(1) << 32, 3, 1};
    const int64_t D1 = kHuge[s.p1 % 8], D2 = kHuge[(s.p1 >> 3) % 8];
    const int64_t kSmall = 4096;
    // Elements that no allocation can hold (more than PTRDIFF_MAX bytes).
    const int64_t kTooMany = static_cast<int64_t>((std::numeric_limits<std::ptrdiff_t>::max() - 64) / sizeof(T));
    enum class Expect { ok, error, either, skip };
    auto expect_for = [&](bool count_overflows, int64_t count) {
      if (count_overflows || count > kTooMany) return Expect::error;
      return count <= kSmall ? Expect::ok : Expect::skip;
    };
    auto run = [&](Expect e, const char* what, const tg::Shape& want, auto&& f) {
      if (e == Expect::skip) return;
      if (e == Expect::error) return expect_error(what, f);
      Tensor r;
      try {
        r = f();
      } catch (const tg::Error& err) {
        check_message(err);
        if (e == Expect::either) return;
        bug(std::string(what) + ": unexpected tapegrad::Error: " + err.what());
      }
      check_tensor(r, what);
      if (r.shape() != want) bug(std::string(what) + ": wrong result shape " + shape_of(r));
      for (int64_t i = 0; i < r.numel(); ++i) {
        if (r.data()[i] != 0 && !std::isnan(r.data()[i])) bug(std::string(what) + ": a nonzero value from zero elements");
      }
    };
    switch (s.p0 % 5) {
      case 0: {  // a factory with one huge dim
        run(expect_for(false, D1), "zeros with a huge shape", {D1}, [&] { return tg::zeros<T>({D1}); });
        run(expect_for(mul_overflows(D1, D2), product_or_zero(D1, D2)), "full with a huge shape", {D1, D2},
            [&] { return tg::full<T>({D1, D2}, T(0)); });
        break;
      }
      case 1: {  // broadcasting two empty tensors into a huge empty one
        Tensor a = tg::zeros<T>({D1, 1, 0}), b = tg::zeros<T>({1, D2, 0});
        if (s.p2 % 2) a.requires_grad_();
        const Tensor c = a + b;
        check_tensor(c, "broadcast of empty tensors");
        if (c.shape() != tg::Shape{D1, D2, 0} || c.numel() != 0) bug("broadcast of empty tensors: wrong shape");
        if (a.requires_grad()) {
          c.sum().backward();
          if (a.grad().defined() && a.grad().sizes() != a.sizes()) bug("broadcast of empty tensors: wrong gradient shape");
        }
        break;
      }
      case 2: {  // (m, 0) @ (0, n): m * n zeros, or an Error when that cannot be
        const bool over = mul_overflows(D1, D2);
        const Tensor a = tg::zeros<T>({D1, 0}), b = tg::zeros<T>({0, D2});
        run(expect_for(over, product_or_zero(D1, D2)), "matmul of empty operands", {D1, D2}, [&] { return tg::matmul(a, b); });
        if (s.p2 % 2) {
          const Tensor w = tg::zeros<T>({D2 % 5, 0});
          run(expect_for(mul_overflows(D1, D2 % 5), product_or_zero(D1, D2 % 5)), "linear of an empty input", {D1, D2 % 5},
              [&] { return tg::nn::functional::linear(a, w); });
        }
        break;
      }
      case 3: {  // reducing the zero dim of (0, D1, D2)
        const bool over = mul_overflows(D1, D2);
        Tensor a;
        try {
          a = tg::zeros<T>({0, D1, D2});
        } catch (const tg::Error& e) {
          check_message(e);
          return;
        }
        run(expect_for(over, product_or_zero(D1, D2)), "sum over an empty dim", {D1, D2}, [&] { return a.sum(0); });
        run(Expect::ok, "sum over a huge dim", {0, D2}, [&] { return a.sum(1); });
        expect_error("max over an empty dim", [&] { (void)a.max(0); });
        run(Expect::either, "narrow of an empty tensor", {0, D1, D2}, [&] { return a.narrow(0, 0, 0); });
        break;
      }
      default: {  // reshape of nothing into huge empty shapes
        const Tensor a = tg::zeros<T>({0});
        try {
          const Tensor r = a.reshape({D1, D2, 0});
          check_tensor(r, "reshape to a huge empty shape");
          if (r.numel() != 0) bug("reshape to a huge empty shape: elements from nowhere");
        } catch (const tg::Error& e) {
          check_message(e);
        }
        break;
      }
    }
  }
};

// ---- the final stage: backward, in right and wrong ways ----------------------------------

template <class T>
int root_index(const Program& p, const Executor<T>& run) {
  if (p.root_sel % 4 != 0) {  // the newest value that requires grad
    for (size_t i = run.values.size(); i-- > 0;) {
      if (run.values[i].requires_grad()) return static_cast<int>(i);
    }
  }
  return static_cast<int>(run.values.size() - 1 - (p.root_sel / 4) % run.values.size());
}

template <class T>
tg::Tensor<T> reduce_root(const Program& p, const tg::Tensor<T>& root) {
  switch (p.reduce % 6) {
    case 0: return root.sum();
    case 1: return tg::mean(root);
    case 2: {  // weights make sum(softmax) and the like carry a gradient
      std::vector<T> w(static_cast<size_t>(root.numel()));
      for (size_t i = 0; i < w.size(); ++i) w[i] = to_value<T>(kValues[(i * 7 + p.reduce) % kTame]);
      return (root * tg::tensor<T>(std::move(w), root.shape())).sum();
    }
    case 3: return root.numel() == 1 ? root.reshape({}) : root.sum();
    case 4: return root.max();
    default: return tg::var(root);
  }
}

// Every leaf's gradient is undefined or has the leaf's shape.
template <class T>
void check_grads(const Executor<T>& run, const char* where) {
  auto check = [&](const tg::Tensor<T>& leaf) {
    const tg::Tensor<T> g = leaf.grad();
    if (!g.defined()) return;
    check_tensor(g, where);
    if (g.sizes() != leaf.sizes()) {
      bug(std::string(where) + ": gradient of shape " + shape_of(g) + " for a leaf of shape " + shape_of(leaf));
    }
  };
  for (const auto& x : run.inputs_) check(x);
  for (const auto& x : run.extra_leaves) check(x);
}

// autograd::grad with create_graph gives backward's gradients (within rounding: the recorded
// formulas may sum in another order), a second derivative through them runs, and neither
// touches any grad(). The numbers of second derivatives are higher_order_test's business.
template <class T>
void higher_order_stage(Executor<T>& run, const tg::Tensor<T>& loss, const std::vector<tg::Tensor<T>>& leaves) {
  using Tensor = tg::Tensor<T>;
  std::vector<Tensor> wrt, grads_before;
  for (const Tensor& l : leaves) {
    if (!l.requires_grad()) continue;
    wrt.push_back(l);
    grads_before.push_back(snapshot(l.grad()));
  }
  if (wrt.empty()) return;
  const std::vector<Tensor> g = tg::autograd::grad({loss}, wrt, {}, true, true, true);
  Tensor total;
  for (size_t i = 0; i < wrt.size(); ++i) {
    const Tensor& want = grads_before[i];
    if (g[i].defined() != want.defined() && want.defined()) bug("autograd::grad missed a gradient backward gave");
    if (!g[i].defined()) continue;
    if (g[i].sizes() != wrt[i].sizes()) bug("autograd::grad gave a gradient of another shape");
    if (run.tame_values && want.defined()) {
      T scale = 1;
      for (int64_t k = 0; k < want.numel(); ++k) scale = std::max(scale, std::abs(want.data()[k]));
      const T tol = (std::is_same_v<T, double> ? T(1e-6) : T(1e-2)) * scale;
      for (int64_t k = 0; k < want.numel(); ++k) {
        const T a = g[i].data()[k], b = want.data()[k];
        if (std::isfinite(b) && std::isfinite(scale) && !(std::abs(a - b) <= tol)) {
          bug("autograd::grad with create_graph gave another gradient than backward");
        }
      }
    }
    if (g[i].requires_grad()) total = total.defined() ? total + (g[i] * g[i]).sum() : (g[i] * g[i]).sum();
  }
  if (total.defined()) {
    const std::vector<Tensor> h = tg::autograd::grad({total}, wrt, {}, std::nullopt, false, true);
    for (size_t i = 0; i < wrt.size(); ++i) {
      if (h[i].defined() && (h[i].sizes() != wrt[i].sizes() || h[i].requires_grad())) bug("a second derivative has a bad shape or a graph");
    }
  }
  for (size_t i = 0; i < wrt.size(); ++i) {
    if (!same_bits(grads_before[i], wrt[i].grad())) bug("autograd::grad changed a leaf's grad()");
  }
}

template <class T>
void final_stage(const Program& p, Executor<T>& run) {
  using Tensor = tg::Tensor<T>;
  const Tensor root = run.values[static_cast<size_t>(root_index(p, run))];
  // backward must leave every value as it was.
  std::vector<Tensor> before;
  for (const Tensor& v : run.values) before.push_back(snapshot(v));
  auto leaves = run.inputs_;
  leaves.insert(leaves.end(), run.extra_leaves.begin(), run.extra_leaves.end());

  try {
    const bool needs = root.requires_grad();
    switch (p.mode % 10) {
      case 0:
      case 1: {
        Tensor loss = reduce_root(p, root);
        if (!needs) expect_error("backward without grad", [&] { loss.backward(); });
        else loss.backward();
        break;
      }
      case 2: {  // an explicit gradient of the right shape
        Tensor g = fresh_tensor<T>(root.shape(), p.grad_byte);
        const Tensor g_before = g.clone();
        if (!needs) expect_error("backward(grad) without grad", [&] { root.backward(g); });
        else root.backward(g);
        if (!same_bits(g, g_before)) bug("backward changed the gradient it was given");
        break;
      }
      case 3: {  // a wrong shape
        tg::Shape wrong = root.shape();
        if (p.grad_byte % 2 && !wrong.empty()) wrong.pop_back();
        else wrong.push_back(1 + p.grad_byte % 3);
        const Tensor g = tg::ones<T>(wrong);
        expect_error("backward with a wrongly shaped gradient", [&] { root.backward(g); });
        break;
      }
      case 4:  // backward() without a gradient
        if (!needs || root.numel() != 1) expect_error("backward() of a non-scalar or non-grad tensor", [&] { root.backward(); });
        else root.backward();
        break;
      case 5: {  // twice: twice the gradient. Not to the last bit: each contribution to a leaf is
                 // added to grad() as it arrives, so the second pass sums in another order.
        if (!needs) break;
        Tensor loss = reduce_root(p, root);
        // Huge contributions that cancel make the order matter beyond any tolerance.
        const bool compare = run.tame_values;
        std::vector<bool> fresh_leaf;
        for (const Tensor& l : leaves) fresh_leaf.push_back(!l.grad().defined());
        loss.backward();
        std::vector<Tensor> once;
        for (const Tensor& l : leaves) once.push_back(snapshot(l.grad()));
        loss.backward();
        for (size_t i = 0; i < leaves.size(); ++i) {
          if (!compare || !fresh_leaf[i] || !once[i].defined()) continue;
          const Tensor g = leaves[i].grad();
          T scale = 1;
          for (int64_t k = 0; k < g.numel(); ++k) scale = std::max(scale, std::abs(once[i].data()[k]));
          const T tol = (std::is_same_v<T, double> ? T(1e-6) : T(1e-2)) * scale;
          for (int64_t k = 0; k < g.numel(); ++k) {
            const T g1 = once[i].data()[k], g2 = g.data()[k], want = g1 + g1;
            if (!std::isfinite(want) || !std::isfinite(scale)) continue;
            if (!(std::abs(g2 - want) <= tol)) {
              std::ostringstream os;
              os << "two backwards gave leaf " << i << " element " << k << " the gradient " << g2 << ", not twice " << g1;
              bug(os.str());
            }
          }
        }
        break;
      }
      case 6: {  // inside a NoGradGuard: backward still works
        Tensor loss = reduce_root(p, root);
        tg::NoGradGuard guard;
        if (!needs) expect_error("backward without grad", [&] { loss.backward(); });
        else loss.backward();
        break;
      }
      case 7: {
        const Tensor d = root.detach();
        expect_error("backward of a detached tensor", [&] { d.sum().backward(); });
        break;
      }
      case 8:
        expect_error("backward of an undefined tensor", [&] { Tensor().backward(root); });
        break;
      default: {  // backward, forget the gradients, backward again: the same gradients
        if (!needs) break;
        Tensor loss = reduce_root(p, root);
        for (Tensor l : leaves) l.set_grad(Tensor());
        loss.backward();
        std::vector<Tensor> first;
        for (const Tensor& l : leaves) first.push_back(snapshot(l.grad()));
        for (Tensor l : leaves) l.set_grad(Tensor());
        loss.backward();
        for (size_t i = 0; i < leaves.size(); ++i) {
          if (!same_bits(first[i], leaves[i].grad())) bug("a second backward after set_grad(undefined) gave other gradients");
        }
        higher_order_stage(run, loss, leaves);
      }
    }
  } catch (const tg::Error& e) {
    check_message(e);  // e.g. the reduction refused an empty tensor
  }
  for (size_t i = 0; i < before.size(); ++i) {
    if (!same_bits(before[i], run.values[i])) bug("backward changed value " + std::to_string(i));
  }
  check_grads(run, "after backward");
}

// After everything: an optimizer step over the inputs (changes their values in place).
template <class T>
void post_stage(const Program& p, Executor<T>& run) {
  if (p.post % 4 != 3) return;
  static constexpr double kLr[] = {1e-3, 0.1, 0.0, -1.0, kInf, kNaN};
  std::vector<tg::Tensor<T>> params;
  for (const auto& x : run.inputs_) {
    if (x.requires_grad()) params.push_back(x);
  }
  try {
    tg::optim::Adam<T> opt(params, tg::optim::AdamOptions(kLr[(p.post >> 2) % 6]).amsgrad((p.post >> 5) % 2).weight_decay((p.post >> 6) % 2 ? 0.01 : 0.0));
    opt.step();
    if ((p.post >> 7) % 2) {
      std::vector<tg::Tensor<T>> grads(params.size() + 1);
      expect_error("Adam step with too many gradients", [&] { opt.step(grads); });
    }
    opt.zero_grad();
    for (const auto& x : params) {
      if (x.grad().defined()) bug("Adam zero_grad left a gradient");
    }
  } catch (const tg::Error& e) {
    check_message(e);  // a negative or NaN learning rate
  }
  for (const auto& x : params) check_tensor(x, "Adam parameter");
}

template <class T>
std::vector<tg::Tensor<T>> make_inputs(const Program& p) {
  std::vector<tg::Tensor<T>> inputs;
  for (const InputSpec& s : p.inputs) {
    std::vector<T> v(s.values.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = to_value<T>(s.values[i]);
    tg::Tensor<T> t = tg::tensor<T>(std::move(v), s.shape);
    if (s.requires_grad) t.requires_grad_();
    inputs.push_back(t);
  }
  return inputs;
}

// ---- the finite-difference check ------------------------------------------------------------

struct FdReplay {
  const Program& p;
  const Executor<double>& reference;
  int root;
  std::vector<double> weights;  // when the root is large, f is the weighted sum of its values
  bool unstable = false;        // a replay crossed a kink, diverged or went non-finite

  tg::Tensor<double> operator()(const std::vector<tg::Tensor<double>>& xs) {
    Executor<double> run(p, xs, &reference);
    run.run();
    if (run.diverged || run.signature != reference_signature) unstable = true;
    if (static_cast<size_t>(root) >= run.values.size() || run.values[static_cast<size_t>(root)].sizes() != reference.values[static_cast<size_t>(root)].sizes()) {
      unstable = true;  // another path (a value-dependent refusal): any tensor of the right size will do
      return reference.values[static_cast<size_t>(root)].clone();
    }
    tg::Tensor<double> out = run.values[static_cast<size_t>(root)];
    if (!weights.empty()) out = (out * tg::tensor<double>(weights, out.shape())).sum();
    for (int64_t i = 0; i < out.numel(); ++i) {
      if (!std::isfinite(out.data()[i])) unstable = true;
    }
    return out;
  }
  uint64_t reference_signature = 0;
};

void finite_difference_check(const Program& p, const Executor<double>& reference) {
  if (!reference.fd_ok || !reference.tame_values) return;
  const int root = root_index(p, reference);
  const tg::Tensor<double>& r = reference.values[static_cast<size_t>(root)];
  if (!r.requires_grad() || r.numel() == 0) return;
  int64_t n_in = 0;
  for (const InputSpec& s : p.inputs) {
    if (!s.requires_grad) continue;
    n_in += static_cast<int64_t>(s.values.size());
  }
  for (const InputSpec& s : p.inputs) {  // constants too: see need_moderate
    for (double v : s.values) {
      if (!(std::abs(v) <= 1e3)) return;  // also inf and NaN
    }
  }
  if (n_in == 0 || n_in > 24) return;

  ++g_stats.fd_candidates;
  const std::vector<tg::Tensor<double>> xs = make_inputs<double>(p);
  FdReplay f{p, reference, root, {}};
  if (r.numel() > 8) {
    for (int64_t i = 0; i < r.numel(); ++i) f.weights.push_back(kValues[(i * 5 + 3) % kTame]);
  }
  {  // the replay's kink signature at the inputs themselves
    Executor<double> base(p, xs, &reference);
    base.run();
    if (base.diverged) bug("a replay of the program took another path at the same inputs");
    f.reference_signature = base.signature;
    const tg::Tensor<double>& again = base.values[static_cast<size_t>(root)];
    if (!same_bits(again, r)) bug("the same program at the same inputs gave other values");
  }
  ++g_stats.gradchecks;
  const auto result = tg::testing::gradcheck(f, xs);
  if (result.ok) return;
  ++g_stats.gradcheck_failures;
  if (f.unstable) return;
  ++g_stats.confirmations;

  // Confirm: the difference quotients at two steps agree with each other, no kink was crossed,
  // and still the analytical gradient differs.
  f.unstable = false;
  const double atol = 1e-5, rtol = 1e-3;
  const tg::Tensor<double> out = f(xs);
  if (!out.requires_grad()) bug("a replay of the program lost the graph");
  const int64_t n_out = out.numel();
  for (size_t c = 0; c < xs.size(); ++c) {
    if (!xs[c].requires_grad()) continue;
    for (int64_t j = 0; j < n_out; ++j) {
      for (tg::Tensor<double> x : xs) x.set_grad(tg::Tensor<double>());
      tg::Tensor<double> onehot = tg::zeros_like(out);
      onehot.data()[j] = 1;
      out.backward(onehot);
      const tg::Tensor<double> g = xs[c].grad();
      for (int64_t k = 0; k < xs[c].numel(); ++k) {
        const double analytical = g.defined() ? g.data()[k] : 0.0;
        double numerical[2];
        const double steps[2] = {1e-6, 4e-6};
        for (int h = 0; h < 2; ++h) {
          const double original = xs[c].data()[k];
          tg::NoGradGuard guard;
          xs[c].data()[k] = original + steps[h];
          const double plus = f(xs).clone().data()[j];
          xs[c].data()[k] = original - steps[h];
          const double minus = f(xs).clone().data()[j];
          xs[c].data()[k] = original;
          numerical[h] = (plus - minus) / (2 * steps[h]);
        }
        if (f.unstable) return;
        const double tol = atol + rtol * std::abs(numerical[0]);
        if (std::abs(numerical[0] - numerical[1]) > tol / 4) continue;  // curvature too high to judge
        if (std::abs(analytical - numerical[0]) > tol) {
          std::ostringstream os;
          os.precision(17);
          os << "gradient mismatch: input " << c << " element " << k << ", output element " << j << ": analytical "
             << analytical << ", numerical " << numerical[0] << " (step 1e-6) and " << numerical[1]
             << " (step 4e-6); gradcheck said: " << result.message;
          bug(os.str());
        }
      }
    }
  }
}

// ---- one input ------------------------------------------------------------------------------

template <class T>
std::unique_ptr<Executor<T>> full_run(const Program& p) {
  auto run = std::make_unique<Executor<T>>(p, make_inputs<T>(p));
  run->run();
  check_grads(*run, "after the program");
  final_stage(p, *run);
  return run;
}

template <class T>
void run_program(const Program& p) {
  // Twice, from scratch: the results must agree bit for bit.
  std::unique_ptr<Executor<T>> first = full_run<T>(p);
  std::unique_ptr<Executor<T>> second = full_run<T>(p);
  if (first->values.size() != second->values.size()) bug("two runs made different numbers of values");
  for (size_t i = 0; i < first->values.size(); ++i) {
    if (!same_bits(first->values[i], second->values[i])) bug("two runs gave different bits for value " + std::to_string(i));
  }
  for (size_t i = 0; i < first->inputs_.size(); ++i) {
    if (!same_bits(first->inputs_[i].grad(), second->inputs_[i].grad())) {
      bug("two runs gave different gradients for input " + std::to_string(i));
    }
  }
  if constexpr (std::is_same_v<T, double>) finite_difference_check(p, *first);
  post_stage(p, *first);
}

bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("TAPEGRAD_FUZZ_VERBOSE");
    return v && *v && *v != '0';
  }();
  return on;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Program p = decode(data, size);
  g_program = &p;
  ++g_stats.programs;
  g_stats.float_programs += p.use_float;
  if (verbose()) std::fprintf(stderr, "%s", describe(p).c_str());
  if (p.use_float) {
    run_program<float>(p);
  } else {
    run_program<double>(p);
  }
  g_program = nullptr;
  return 0;
}
