#pragma once
// The tape. An op whose inputs need a gradient records a Node: its backward function, edges
// to its inputs' nodes (or to leaf tensors), any number of them, and a sequence number that
// gives its place on the tape. A backward pass gathers the nodes reachable from its roots and
// plays them in decreasing sequence number, so each runs once, after all its consumers.
// Tensors own their node and nodes own their inputs' nodes: the graph dies with its last
// tensor.
//
// Higher order: a node's backward is written in differentiable ops. Without create_graph it
// runs with grad mode off, so those ops record nothing and take their fused fast paths; with
// create_graph grad mode stays on, the ops record a graph of their own, and the gradients can
// be differentiated again, to any order. Saved inputs are kept as they are (with their
// grad_fn); a saved output is kept detached (a node holding its own output would be a
// reference cycle) and re-attached to its node when backward unpacks it (GradOut::output).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "tensor.hpp"

namespace tapegrad {

// ---- grad mode --------------------------------------------------------------------------
struct GradMode {
  static bool is_enabled() { return flag(); }
  static void set_enabled(bool on) { flag() = on; }

 private:
  static bool& flag() {
    static thread_local bool enabled = true;
    return enabled;
  }
};

// RAII: grad mode set to `enabled` (on this thread) while it lives, as libtorch's.
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : previous_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~AutoGradMode() { GradMode::set_enabled(previous_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool previous_;
};

// RAII: nothing computed while it lives records a graph (on this thread).
class NoGradGuard : public AutoGradMode {
 public:
  NoGradGuard() : AutoGradMode(false) {}
};

namespace detail {

template <class T>
struct Edge {
  IntrusivePtr<Node<T>> node;        // the input's own node, when it has one
  IntrusivePtr<TensorImpl<T>> leaf;  // else the leaf tensor that accumulates the gradient
  bool active() const { return node || leaf; }
};

// A fixed-size array that keeps the first few elements inline and puts more in a pool block,
// so a node or its gradients never touch the heap however many inputs it has.
template <class X, int kInline = 3>
class SmallArray {
 public:
  SmallArray() = default;
  SmallArray(const SmallArray&) = delete;
  SmallArray& operator=(const SmallArray&) = delete;
  ~SmallArray() { reset(); }

  void resize(int n) {
    reset();
    if (n > kInline) {
      data_ = static_cast<X*>(pool_allocate(static_cast<std::size_t>(n) * sizeof(X)));
      for (int i = 0; i < n; ++i) new (data_ + i) X();
    }
    size_ = n;
  }
  int size() const { return size_; }
  X& operator[](int i) { return data_[i]; }
  const X& operator[](int i) const { return data_[i]; }

 private:
  void reset() noexcept {
    if (data_ != inline_) {
      for (int i = 0; i < size_; ++i) data_[i].~X();
      pool_deallocate(data_, static_cast<std::size_t>(size_) * sizeof(X));
      data_ = inline_;
    } else {
      for (int i = 0; i < size_; ++i) inline_[i] = X();
    }
    size_ = 0;
  }
  X inline_[kInline];
  X* data_ = inline_;
  int size_ = 0;
};

// Process-wide, so a graph built across threads still orders consumers after producers.
inline uint64_t next_sequence_nr() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

template <class T>
class GradOut;
template <class T>
struct BackwardRun;

template <class T>
class Node : public RefCounted, public PoolAllocated {
 public:
  explicit Node(const char* name) : name_(name) {}
  const char* name() const { return name_; }
  // Destroys the node as its dynamic type (one virtual function per op, not two destructors).
  virtual void destroy() noexcept = 0;
  int num_inputs() const { return edges.size(); }

  uint64_t sequence_nr = next_sequence_nr();
  SmallArray<Edge<T>> edges;
  Tensor<T> pending_grad;  // sum of the gradients the consumers have sent so far
  HookSet<T>* hooks = nullptr;  // hooks on the gradient of this node's output
  uint64_t visit_epoch = 0;
  bool needed = false;  // in the current pass: leads to a gradient that is wanted
  bool target = false;  // in the current pass: an input of autograd::grad has this grad_fn
  Node* next_to_free = nullptr;  // the iterative-release queue (see release_ref)

  // Runs backward for the gradient `g` of this node's output and sends the results on.
  void apply(BackwardRun<T>& run, const Tensor<T>& g);

 protected:
  // Out of line, so each op's node type does not repeat the edges' destruction.
  TAPEGRAD_NOINLINE ~Node() {
    if (hooks) delete_hooks(hooks);
  }
  virtual void compute(const Tensor<T>& g, GradOut<T>& out) = 0;

 private:
  const char* name_;
};

// The gradients a node's backward produces, one slot per input, and what backward may ask of
// its node.
template <class T>
class GradOut {
 public:
  explicit GradOut(Node<T>& node) : node_(node) { grads_.resize(node.num_inputs()); }
  bool needed(int i) const { return node_.edges[i].active(); }
  Tensor<T>& operator[](int i) { return grads_[i]; }
  int size() const { return grads_.size(); }
  // A saved output of the node (kept detached) as backward must see it: under create_graph,
  // an alias whose grad_fn is this node, so a gradient of the gradient flows back through it.
  Tensor<T> output(const Tensor<T>& saved) const { return GradMode::is_enabled() ? attached(saved) : saved; }

 private:
  TAPEGRAD_NOINLINE Tensor<T> attached(const Tensor<T>& saved) const {
    Tensor<T> y = alias_with_shape(saved, saved.sizes());
    y.impl()->grad_fn = IntrusivePtr<Node<T>>(&node_);
    y.impl()->requires_grad = true;
    return y;
  }
  Node<T>& node_;
  SmallArray<Tensor<T>> grads_;
};

// A node whose backward is the lambda `F(const Tensor<T>& g, GradOut<T>& out)`; the lambda's
// captures are what the op saved for backward.
template <class T, class F>
class FunctionNode final : public Node<T> {
 public:
  FunctionNode(const char* name, F&& fn) : Node<T>(name), fn_(std::move(fn)) {}
  void destroy() noexcept override { delete this; }

 protected:
  void compute(const Tensor<T>& g, GradOut<T>& out) override { fn_(g, out); }

 private:
  F fn_;
};

// Releasing a long chain of nodes recursively would overflow the stack; a node whose count
// drops to zero while another is being freed is queued instead.
template <class T>
inline void release_ref(Node<T>* n) noexcept {
  static thread_local bool freeing = false;
  static thread_local Node<T>* queue = nullptr;
  n->next_to_free = queue;
  queue = n;
  if (freeing) return;
  freeing = true;
  while (queue) {
    Node<T>* x = queue;
    queue = x->next_to_free;
    x->destroy();
  }
  freeing = false;
}

template <class T>
bool exclusively_owned(const Tensor<T>& t) {
  return t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1;
}

// Whether an op on these inputs must record a node.
template <class T, class... Ts>
bool any_requires_grad(const Tensor<T>& first, const Ts&... rest) {
  if (!GradMode::is_enabled()) return false;
  auto needs = [](const Tensor<T>& t) { return t.defined() && t.impl()->requires_grad; };
  return needs(first) || (... || needs(rest));
}

template <class T>
bool any_requires_grad(const std::vector<Tensor<T>>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor<T>& t : inputs) {
    if (t.defined() && t.impl()->requires_grad) return true;
  }
  return false;
}

// Gives `node` edges to `inputs[0, count)` and makes it the grad_fn of `out` (not a template on
// the backward function, so each op shares it).
template <class T>
TAPEGRAD_NOINLINE void attach(Tensor<T>& out, Node<T>* node, const Tensor<T>* const* inputs, int count) {
  node->edges.resize(count);
  for (int i = 0; i < count; ++i) {
    if (!inputs[i]->defined()) continue;  // an optional input (a missing bias) gets no edge
    TensorImpl<T>* in = inputs[i]->impl();
    if (in->grad_fn) {
      node->edges[i].node = in->grad_fn;
    } else if (in->requires_grad) {
      node->edges[i].leaf = inputs[i]->impl_ptr();
    }
  }
  out.impl()->grad_fn = IntrusivePtr<Node<T>>(node);
  out.impl()->requires_grad = true;
}

// Records `fn` as the backward of `out`, with edges to `inputs`. Call only when
// any_requires_grad(inputs...) is true.
template <class T, class F, class... Ts>
void record(Tensor<T>& out, const char* name, F&& fn, const Ts&... inputs) {
  const Tensor<T>* ins[] = {&inputs...};
  attach(out, new FunctionNode<T, std::decay_t<F>>(name, std::forward<F>(fn)), ins, static_cast<int>(sizeof...(Ts)));
}

// The same for a list of inputs (cat, stack).
template <class T, class F>
void record_list(Tensor<T>& out, const char* name, F&& fn, const std::vector<Tensor<T>>& inputs) {
  const int n = static_cast<int>(inputs.size());
  SmallArray<const Tensor<T>*, 8> ins;
  ins.resize(n);
  for (int i = 0; i < n; ++i) ins[i] = &inputs[static_cast<size_t>(i)];
  attach(out, new FunctionNode<T, std::decay_t<F>>(name, std::forward<F>(fn)), &ins[0], n);
}

// a + b for two gradients of the same shape; under create_graph it is recorded, so a sum of
// gradients stays differentiable (the tape's own add: core does not call ops/).
template <class T>
Tensor<T> add_gradients(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = add_values(a, b);
  if (any_requires_grad(a, b)) {
    record(out, "AddBackward", [](const Tensor<T>& g, GradOut<T>& in) {
      in[0] = g;
      in[1] = g;
    }, a, b);
  }
  return out;
}

// A copy of g that stays in its graph (a leaf's grad must not share values with anything).
template <class T>
Tensor<T> copy_gradient(const Tensor<T>& g) {
  Tensor<T> out = copy_of(g);
  if (any_requires_grad(g)) record(out, "CloneBackward", [](const Tensor<T>& gg, GradOut<T>& in) { in[0] = gg; }, g);
  return out;
}

// After an in-place fill of `t` (fill_, zero_, uniform_, ...): its values no longer depend on
// its history, so, as PyTorch's FillBackward, the history now gets a zero gradient through it.
// Only a tensor made by an op has a history; a leaf's fill (a layer's initialisation) records
// nothing.
template <class T>
void record_overwrite(Tensor<T>& t) {
  if (!GradMode::is_enabled() || !t.impl()->grad_fn) return;
  Tensor<T> before = alias_with_shape(t, t.sizes());
  before.impl()->grad_fn = t.impl()->grad_fn;
  before.impl()->requires_grad = true;
  record(t, "FillBackward", [](const Tensor<T>& g, GradOut<T>& in) {
    Tensor<T> zero = make_tensor<T>(g.sizes());
    std::fill_n(zero.data(), zero.numel(), T(0));
    in[0] = zero;
  }, before);
}

// Adds `g` into `slot`: in place only when nothing else can see the slot's values and no
// graph is being recorded.
template <class T>
void accumulate_into(Tensor<T>& slot, Tensor<T>&& g) {
  if (!slot.defined()) {
    slot = std::move(g);
  } else if (!GradMode::is_enabled() && exclusively_owned(slot)) {
    add_in_place(slot, g);
  } else {
    slot = add_gradients(slot, g);
  }
}

// Orders nodes by decreasing sequence number (unique, so any correct sort gives this order):
// insertion sort for small graphs, else a heapsort; a fraction of std::sort's code.
template <class T>
TAPEGRAD_NOINLINE void sort_by_decreasing_sequence(Node<T>** v, size_t n) {
  // A min-heap on sequence_nr; popping the minimum to the back leaves the largest first.
  auto less = [](const Node<T>* a, const Node<T>* b) { return a->sequence_nr > b->sequence_nr; };
  auto sift_down = [&](size_t root, size_t end) {
    while (2 * root + 1 < end) {
      size_t child = 2 * root + 1;
      if (child + 1 < end && less(v[child], v[child + 1])) ++child;
      if (!less(v[root], v[child])) return;
      std::swap(v[root], v[child]);
      root = child;
    }
  };
  if (n <= 64) {  // small graphs (the common case): insertion sort
    for (size_t i = 1; i < n; ++i) {
      for (size_t j = i; j > 0 && less(v[j], v[j - 1]); --j) std::swap(v[j], v[j - 1]);
    }
    return;
  }
  for (size_t i = n / 2; i-- > 0;) sift_down(i, n);
  for (size_t end = n; end > 1; --end) {
    std::swap(v[0], v[end - 1]);
    sift_down(0, end - 1);
  }
}

// ---- one backward pass ----------------------------------------------------------------------

// The state of one pass. A pass either accumulates into leaves' grad() (backward) or captures
// the gradients of given inputs and touches no grad() (autograd::grad).
template <class T>
struct BackwardRun {
  uint64_t epoch = 0;
  const Tensor<T>* inputs = nullptr;  // autograd::grad's inputs, or null for backward
  size_t num_inputs = 0;
  Tensor<T>* captured = nullptr;      // one gradient per input
  std::vector<Node<T>*> order, stack;
  std::vector<TensorImpl<T>*> hooked_leaves;  // leaves whose hooks wait for their whole gradient
  // Each leaf's grad() before this pass, restored if the pass fails.
  std::vector<std::pair<IntrusivePtr<TensorImpl<T>>, IntrusivePtr<TensorImpl<T>>>> previous_grads;

  bool capturing() const { return inputs != nullptr; }
  bool is_input_leaf(const TensorImpl<T>* leaf) const {
    for (size_t i = 0; i < num_inputs; ++i) {
      if (inputs[i].impl() == leaf && !leaf->grad_fn) return true;
    }
    return false;
  }
};

// The calling thread's pass at the given nesting depth (a hook may run a pass of its own);
// reused, so a steady training step allocates nothing here.
template <class T>
BackwardRun<T>& backward_run(int depth) {
  static thread_local std::vector<std::unique_ptr<BackwardRun<T>>> runs;
  while (static_cast<int>(runs.size()) <= depth) runs.push_back(std::make_unique<BackwardRun<T>>());
  return *runs[static_cast<size_t>(depth)];
}

// Runs the gradient hooks of `hooks` on `g`; each may replace it by a tensor of its shape.
template <class T>
Tensor<T> run_grad_hooks(const HookSet<T>& hooks, Tensor<T> g) {
  for (const auto& h : hooks.grad_hooks) {
    Tensor<T> r = h.second(g);
    if (!r.defined()) continue;
    check(r.sizes() == g.sizes(), "register_hook: a hook returned a gradient of shape ", r.sizes(),
          " for a gradient of shape ", g.sizes());
    g = std::move(r);
  }
  return g;
}

// Adds `g` into a leaf's grad(), as PyTorch's AccumulateGrad: the first gradient is taken
// as it is (copied if someone else holds it), later ones are added, in place only when no
// graph is recorded and this pass already owns the sum (so a failed pass can restore the old).
template <class T>
void accumulate_grad(BackwardRun<T>& run, TensorImpl<T>& leaf, Tensor<T>&& g) {
  const bool first_in_pass = leaf.grad_epoch != run.epoch;
  if (first_in_pass) {
    run.previous_grads.emplace_back(IntrusivePtr<TensorImpl<T>>(&leaf), leaf.grad);
    leaf.grad_epoch = run.epoch;
  }
  if (!leaf.grad) {
    leaf.grad = (exclusively_owned(g) ? g : copy_gradient(g)).impl_ptr();
  } else if (!first_in_pass && !GradMode::is_enabled() && leaf.grad.use_count() == 1 &&
             leaf.grad->storage.use_count() == 1) {
    Tensor<T> acc(leaf.grad);
    add_in_place(acc, g);
  } else {
    leaf.grad = add_gradients(Tensor<T>(leaf.grad), g).impl_ptr();
  }
}

// A gradient (possibly undefined: a consumer that gave none) arriving at a leaf.
template <class T>
void receive_leaf(BackwardRun<T>& run, TensorImpl<T>& leaf, Tensor<T>&& g) {
  HookSet<T>* hooks = leaf.hooks;
  const bool waits = hooks && hooks->epoch == run.epoch;  // counted in the gather: hooks see the sum
  if (waits) {
    if (g.defined()) accumulate_into(hooks->pending, std::move(g));
    if (--hooks->remaining > 0) return;
    g = std::move(hooks->pending);
  }
  if (!g.defined()) return;
  if (waits) g = run_grad_hooks(*hooks, std::move(g));
  if (run.capturing()) {
    for (size_t i = 0; i < run.num_inputs; ++i) {
      if (run.inputs[i].impl() == &leaf) accumulate_into(run.captured[i], Tensor<T>(g));
    }
    return;
  }
  accumulate_grad(run, leaf, std::move(g));
  if (waits) {
    const Tensor<T> self{IntrusivePtr<TensorImpl<T>>(&leaf)};
    for (const auto& h : hooks->post_accumulate_hooks) h.second(self);
  }
}

template <class T>
void send_gradient(BackwardRun<T>& run, const Edge<T>& e, Tensor<T>&& g) {
  if (e.node) {
    if (g.defined()) accumulate_into(e.node->pending_grad, std::move(g));
  } else if (e.leaf) {
    receive_leaf(run, *e.leaf, std::move(g));
  }
}

template <class T>
void Node<T>::apply(BackwardRun<T>& run, const Tensor<T>& g) {
  GradOut<T> out(*this);
  compute(g, out);
  for (int i = 0; i < edges.size(); ++i) send_gradient(run, edges[i], std::move(out[i]));
}

// A leaf with hooks waits for one contribution per edge that reaches it in this pass.
template <class T>
void count_hooked_leaf(BackwardRun<T>& run, TensorImpl<T>* leaf) {
  HookSet<T>* h = leaf->hooks;
  if (!h || h->empty()) return;
  if (h->epoch != run.epoch) {
    h->epoch = run.epoch;
    h->remaining = 0;
    h->pending = Tensor<T>();
    run.hooked_leaves.push_back(leaf);
  }
  ++h->remaining;
}

// Drops what a pass kept for its own use: hooked leaves' partial sums, the old grad()s.
template <class T>
void release_pass_state(BackwardRun<T>& run) {
  for (TensorImpl<T>* leaf : run.hooked_leaves) leaf->hooks->pending = Tensor<T>();
  run.previous_grads.clear();
}

// Plays the tape backwards from `roots` with output gradients `grads` (defined, of the roots'
// shapes). Gradients flow to leaves' grad(), or, when run.inputs is set, into run.captured.
template <class T>
TAPEGRAD_NOINLINE void run_backward(BackwardRun<T>& run, const Tensor<T>* roots, const Tensor<T>* grads, size_t num_roots,
                                    bool create_graph) {
  static std::atomic<uint64_t> epochs{0};  // process-wide: graphs may be shared by threads
  run.epoch = epochs.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t epoch = run.epoch;
  AutoGradMode grad_mode(create_graph);
  auto& order = run.order;
  auto& stack = run.stack;
  order.clear();
  stack.clear();
  run.hooked_leaves.clear();
  run.previous_grads.clear();

  // Gather the reachable nodes (iteratively: graphs can be deep) and count the edges into
  // hooked leaves.
  for (size_t r = 0; r < num_roots; ++r) {
    TensorImpl<T>* root = roots[r].impl();
    if (!root->grad_fn) {
      count_hooked_leaf(run, root);
    } else if (root->grad_fn->visit_epoch != epoch) {
      root->grad_fn->visit_epoch = epoch;
      stack.push_back(root->grad_fn.get());
    }
  }
  while (!stack.empty()) {
    Node<T>* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    n->needed = !run.capturing();
    n->target = false;
    for (int i = 0; i < n->edges.size(); ++i) {
      const Edge<T>& e = n->edges[i];
      if (Node<T>* next = e.node.get()) {
        if (next->visit_epoch != epoch) {
          next->visit_epoch = epoch;
          stack.push_back(next);
        }
      } else if (e.leaf) {
        count_hooked_leaf(run, e.leaf.get());
      }
    }
  }
  sort_by_decreasing_sequence(order.data(), order.size());
  if (run.capturing()) {
    // Only nodes on a path to an input run: producers come later in `order`, so walk it back.
    for (size_t i = 0; i < run.num_inputs; ++i) {
      Node<T>* fn = run.inputs[i].impl()->grad_fn.get();
      if (fn && fn->visit_epoch == epoch) fn->target = true;
    }
    for (size_t k = order.size(); k-- > 0;) {
      Node<T>* n = order[k];
      for (int i = 0; i < n->edges.size() && !n->needed; ++i) {
        const Edge<T>& e = n->edges[i];
        n->needed = e.node ? (e.node->needed || e.node->target) : (e.leaf && run.is_input_leaf(e.leaf.get()));
      }
    }
  }

  try {
    for (size_t r = 0; r < num_roots; ++r) {
      Edge<T> e;
      if (roots[r].impl()->grad_fn) {
        e.node = roots[r].impl()->grad_fn;
      } else {
        e.leaf = roots[r].impl_ptr();
      }
      send_gradient(run, e, Tensor<T>(grads[r]));
    }
    for (Node<T>* n : order) {
      if (!n->needed && !n->target) continue;
      Tensor<T> g = std::move(n->pending_grad);
      if (!g.defined()) {  // no consumer sent a gradient: hooked leaves behind it stop waiting for one
        if (n->needed) {
          for (int i = 0; i < n->edges.size(); ++i) send_gradient(run, n->edges[i], Tensor<T>());
        }
        continue;
      }
      if (n->hooks) g = run_grad_hooks(*n->hooks, std::move(g));
      if (n->target) {
        for (size_t i = 0; i < run.num_inputs; ++i) {
          if (run.inputs[i].impl()->grad_fn.get() == n) accumulate_into(run.captured[i], Tensor<T>(g));
        }
      }
      if (n->needed) n->apply(run, g);
    }
  } catch (...) {
    // Nothing changed: pending sums dropped, every leaf's grad() back to what it was.
    for (Node<T>* n : order) n->pending_grad = Tensor<T>();
    for (size_t i = run.previous_grads.size(); i-- > 0;) {
      run.previous_grads[i].first->grad = std::move(run.previous_grads[i].second);
      run.previous_grads[i].first->grad_epoch = 0;
    }
    release_pass_state(run);
    throw;
  }
  release_pass_state(run);
}

// The nesting depth of backward passes on this thread (a hook may start one).
inline int& backward_depth() {
  static thread_local int depth = 0;
  return depth;
}

// The callbacks autograd::queue_callback queued during the pass at each nesting depth of this
// thread (not per T: a callback does not care which tensors the pass ran on).
inline std::vector<std::function<void()>>& pass_callbacks(int depth) {
  static thread_local std::vector<std::unique_ptr<std::vector<std::function<void()>>>> queues;
  while (static_cast<int>(queues.size()) <= depth) queues.push_back(std::make_unique<std::vector<std::function<void()>>>());
  return *queues[static_cast<size_t>(depth)];
}

// Runs a pass at the next nesting depth, then the callbacks queued during it, in order (one may
// queue another, which runs too). A failed pass drops its callbacks unrun.
template <class T>
void run_nested(const Tensor<T>* roots, const Tensor<T>* grads, size_t num_roots, bool create_graph,
                const Tensor<T>* inputs, size_t num_inputs, Tensor<T>* captured) {
  int& depth = backward_depth();
  BackwardRun<T>& run = backward_run<T>(depth);
  std::vector<std::function<void()>>& callbacks = pass_callbacks(depth);
  callbacks.clear();
  run.inputs = inputs;
  run.num_inputs = num_inputs;
  run.captured = captured;
  ++depth;
  try {
    run_backward(run, roots, grads, num_roots, create_graph);
    for (size_t k = 0; k < callbacks.size(); ++k) {
      const std::function<void()> fn = std::move(callbacks[k]);  // moved out: fn may queue more
      fn();
    }
    callbacks.clear();
  } catch (...) {
    callbacks.clear();
    --depth;
    throw;
  }
  --depth;
}

// A one-element tensor holding 1 of `t`'s shape: the implicit gradient of a scalar output.
template <class T>
Tensor<T> implicit_gradient(const Tensor<T>& t, const char* op) {
  const Dims& s = t.sizes();
  check(s.numel() == 1, op, ": grad can be implicitly created only for one-element tensors, got shape ", s,
        "; pass a gradient");
  Tensor<T> g = make_tensor<T>(s);
  g.data()[0] = T(1);
  return g;
}

// The hooks of a tensor: its own for a leaf, its node's otherwise; created on first use.
template <class T>
HookSet<T>& hooks_of(const Tensor<T>& t, const char* op) {
  TensorImpl<T>& i = t.checked(op);
  check(i.requires_grad, op, ": cannot register a hook on a tensor of shape ", i.sizes, " that does not require grad");
  HookSet<T>*& h = i.grad_fn ? i.grad_fn->hooks : i.hooks;
  if (!h) h = new HookSet<T>();
  return *h;
}

inline uint64_t next_hook_handle() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace detail

// ---- autograd::grad -------------------------------------------------------------------------

namespace autograd {

// The gradients of `outputs` with respect to `inputs`, as torch.autograd.grad: one per input,
// leaves' grad() untouched. `grad_outputs` holds one gradient per output (empty, or an
// undefined entry, for a one-element output: 1). With `create_graph` the results carry a
// graph and can be differentiated again; an input the outputs do not reach gives an undefined
// tensor with `allow_unused`, else an Error. Graphs are kept whatever `retain_graph` says.
template <class T>
std::vector<Tensor<T>> grad(const std::vector<Tensor<T>>& outputs, const std::vector<Tensor<T>>& inputs,
                            const std::vector<Tensor<T>>& grad_outputs = {},
                            std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                            bool allow_unused = false) {
  (void)retain_graph;
  using detail::check;
  check(!outputs.empty(), "autograd::grad: expected at least one output");
  check(!inputs.empty(), "autograd::grad: expected at least one input");
  check(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "autograd::grad: got ", grad_outputs.size(),
        " grad_outputs for ", outputs.size(), " outputs");
  std::vector<Tensor<T>> seeds(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const detail::TensorImpl<T>& o = outputs[i].checked("autograd::grad");
    check(o.requires_grad, "autograd::grad: output ", i, " (shape ", o.sizes,
          ") does not require grad and has no grad_fn");
    if (i < grad_outputs.size() && grad_outputs[i].defined()) {
      check(grad_outputs[i].sizes() == o.sizes, "autograd::grad: grad_outputs[", i, "] has shape ", grad_outputs[i].sizes(),
            " but outputs[", i, "] has shape ", o.sizes);
      seeds[i] = grad_outputs[i];
    } else {
      seeds[i] = detail::implicit_gradient(outputs[i], "autograd::grad");
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const detail::TensorImpl<T>& x = inputs[i].checked("autograd::grad");
    check(x.requires_grad, "autograd::grad: input ", i, " (shape ", x.sizes, ") does not require grad");
  }
  std::vector<Tensor<T>> result(inputs.size());
  detail::run_nested(outputs.data(), seeds.data(), outputs.size(), create_graph, inputs.data(), inputs.size(),
                     result.data());
  for (size_t i = 0; i < inputs.size(); ++i) {
    check(result[i].defined() || allow_unused, "autograd::grad: input ", i, " (shape ", inputs[i].sizes(),
          ") was not used in the graph of the outputs; pass allow_unused = true if that is intended");
  }
  return result;
}

// Runs `fn` once the backward pass (or autograd::grad) running on this thread has finished, after
// every gradient of it is accumulated, as PyTorch's Variable._execution_engine.queue_callback
// (DistributedDataParallel waits for its all-reduces there). Callable only during a pass, from
// a hook; callbacks run in the order queued, and one queued by a callback runs in the same pass.
inline void queue_callback(std::function<void()> fn) {
  const int depth = detail::backward_depth();
  detail::check(depth > 0, "autograd::queue_callback: no backward pass is running on this thread; "
                           "queue callbacks from a hook during backward");
  detail::check(static_cast<bool>(fn), "autograd::queue_callback: the callback is empty");
  detail::pass_callbacks(depth - 1).push_back(std::move(fn));
}

// The same with braced lists on both sides: tg::autograd::grad({y}, {x}).
template <class T>
std::vector<Tensor<T>> grad(std::initializer_list<Tensor<T>> outputs, std::initializer_list<Tensor<T>> inputs,
                            const std::vector<Tensor<T>>& grad_outputs = {},
                            std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                            bool allow_unused = false) {
  return grad(std::vector<Tensor<T>>(outputs), std::vector<Tensor<T>>(inputs), grad_outputs, retain_graph, create_graph,
              allow_unused);
}

}  // namespace autograd

// ---- Tensor's autograd methods ------------------------------------------------------------

template <class T>
Tensor<T>& Tensor<T>::requires_grad_(bool on) {
  Impl& i = checked("requires_grad_");
  detail::check(on || !i.grad_fn, "requires_grad_: only leaf tensors can stop requiring grad (this one comes from ",
                i.grad_fn ? i.grad_fn->name() : "", "); use detach()");
  i.requires_grad = on;
  return *this;
}

template <class T>
void Tensor<T>::set_grad(const Tensor& g) {
  Impl& i = checked("set_grad");
  if (g.defined()) {
    detail::check(g.sizes() == i.sizes, "set_grad: gradient shape ", g.sizes(), " does not match tensor shape ", i.sizes);
  }
  i.grad = g.impl_ptr();
}

template <class T>
const char* Tensor<T>::grad_fn_name() const {
  const Impl& i = checked("grad_fn_name");
  return i.grad_fn ? i.grad_fn->name() : "";
}

template <class T>
void Tensor<T>::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph) const {
  (void)retain_graph;
  const Impl& i = checked("backward");
  detail::check(i.requires_grad, "backward: tensor of shape ", i.sizes, " does not require grad and has no grad_fn");
  Tensor g = gradient;
  if (g.defined()) {
    detail::check(g.sizes() == i.sizes, "backward: gradient shape ", g.sizes(), " does not match tensor shape ", i.sizes);
  } else {
    g = detail::implicit_gradient(*this, "backward");
  }
  detail::run_nested(this, &g, 1, create_graph, static_cast<const Tensor*>(nullptr), 0, static_cast<Tensor*>(nullptr));
}

template <class T>
Tensor<T> Tensor<T>::detach() const {
  const Impl& i = checked("detach");
  return detail::alias_with_shape(*this, i.sizes);
}

// A copy of the values that stays in the graph (the gradient passes through), as PyTorch's.
template <class T>
Tensor<T> Tensor<T>::clone() const {
  checked("clone");
  return detail::copy_gradient(*this);
}

template <class T>
template <class F>
uint64_t Tensor<T>::register_hook(F&& fn) const {
  detail::HookSet<T>& hooks = detail::hooks_of(*this, "register_hook");
  const uint64_t handle = detail::next_hook_handle();
  if constexpr (std::is_void_v<std::invoke_result_t<F&, const Tensor&>>) {
    hooks.grad_hooks.emplace_back(handle, [f = std::forward<F>(fn)](const Tensor& g) {
      f(g);
      return Tensor();
    });
  } else {
    hooks.grad_hooks.emplace_back(handle, std::forward<F>(fn));
  }
  return handle;
}

template <class T>
template <class F>
uint64_t Tensor<T>::register_post_accumulate_grad_hook(F&& fn) const {
  const Impl& i = checked("register_post_accumulate_grad_hook");
  detail::check(!i.grad_fn, "register_post_accumulate_grad_hook: only leaf tensors have an accumulated grad, but this one of shape ",
                i.sizes, " comes from ", i.grad_fn ? i.grad_fn->name() : "");
  detail::HookSet<T>& hooks = detail::hooks_of(*this, "register_post_accumulate_grad_hook");
  const uint64_t handle = detail::next_hook_handle();
  hooks.post_accumulate_hooks.emplace_back(handle, std::forward<F>(fn));
  return handle;
}

template <class T>
bool Tensor<T>::remove_hook(uint64_t handle) const {
  const Impl& i = checked("remove_hook");
  detail::HookSet<T>* h = i.grad_fn ? i.grad_fn->hooks : i.hooks;
  return h && h->remove(handle);
}

}  // namespace tapegrad

// The core headers that build on the tape (factories, the generator's fills), so that any core
// header alone gives a program that links (see tensor.hpp).
#include "generator.hpp"
