#pragma once
// The tape. An op whose inputs need a gradient records a Node: its backward function, edges
// to its inputs' nodes (or to leaf tensors), and a sequence number that gives its place on
// the tape. backward() gathers the nodes reachable from the root and plays them in decreasing
// sequence number, so each runs once, after all its consumers. Tensors own their node and
// nodes own their inputs' nodes: the graph dies with its last tensor.
#include <algorithm>
#include <atomic>
#include <cstdint>
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

// RAII: nothing computed while it lives records a graph (on this thread).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

namespace detail {

template <class T>
struct Edge {
  IntrusivePtr<Node<T>> node;        // the input's own node, when it has one
  IntrusivePtr<TensorImpl<T>> leaf;  // else the leaf tensor that accumulates the gradient
  bool active() const { return node || leaf; }
};

// The gradients a node's backward produces, one slot per input.
template <class T>
class GradOut {
 public:
  static constexpr int kMaxInputs = 3;
  explicit GradOut(const Edge<T>* edges) : edges_(edges) {}
  bool needed(int i) const { return edges_[i].active(); }
  Tensor<T>& operator[](int i) { return grads_[i]; }

 private:
  const Edge<T>* edges_;
  Tensor<T> grads_[kMaxInputs];
};

// Process-wide, so a graph built across threads still orders consumers after producers.
inline uint64_t next_sequence_nr() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

template <class T>
void send_gradient(const Edge<T>& e, Tensor<T>&& g);

template <class T>
class Node : public RefCounted, public PoolAllocated {
 public:
  explicit Node(const char* name) : name_(name) {}
  const char* name() const { return name_; }
  // Destroys the node as its dynamic type (one virtual function per op, not two destructors).
  virtual void destroy() noexcept = 0;

  uint64_t sequence_nr = next_sequence_nr();
  Edge<T> edges[GradOut<T>::kMaxInputs];
  int num_inputs = 0;
  Tensor<T> pending_grad;  // sum of the gradients the consumers have sent so far
  uint64_t visit_epoch = 0;
  Node* next_to_free = nullptr;  // the iterative-release queue (see release_ref)

  // Runs backward for the gradient `g` of this node's output and sends the results on.
  void apply(const Tensor<T>& g) {
    GradOut<T> out(edges);
    compute(g, out);
    for (int i = 0; i < num_inputs; ++i) {
      if (edges[i].active() && out[i].defined()) send_gradient(edges[i], std::move(out[i]));
    }
  }

 protected:
  // Out of line, so each op's node type does not repeat the edges' destruction.
  TAPEGRAD_NOINLINE ~Node() {}
  virtual void compute(const Tensor<T>& g, GradOut<T>& out) = 0;

 private:
  const char* name_;
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

template <class T>
Tensor<T> copy_of(const Tensor<T>& t);
template <class T>
void add_in_place(Tensor<T>& acc, const Tensor<T>& g);
template <class T>
Tensor<T> add_values(const Tensor<T>& a, const Tensor<T>& b);

// Adds `g` into `slot`, in place only when nothing else can see the slot's values.
template <class T>
void accumulate_into(Tensor<T>& slot, Tensor<T>&& g) {
  if (!slot.defined()) {
    slot = std::move(g);
  } else if (exclusively_owned(slot)) {
    add_in_place(slot, g);
  } else {
    slot = add_values(slot, g);
  }
}

// Adds `g` into the pending gradient of the edge's node, or into the leaf's grad().
template <class T>
void send_gradient(const Edge<T>& e, Tensor<T>&& g) {
  if (e.node) return accumulate_into(e.node->pending_grad, std::move(g));
  TensorImpl<T>& leaf = *e.leaf;
  if (!leaf.grad) {
    // A leaf's grad is its own: take g only if no one else holds it.
    leaf.grad = exclusively_owned(g) ? g.impl_ptr() : copy_of(g).impl_ptr();
  } else {
    Tensor<T> acc(leaf.grad);
    add_in_place(acc, g);  // like PyTorch, .grad accumulates in place
  }
}

// Whether an op on these inputs must record a node.
template <class T, class... Ts>
bool any_requires_grad(const Tensor<T>& first, const Ts&... rest) {
  if (!GradMode::is_enabled()) return false;
  auto needs = [](const Tensor<T>& t) { return t.defined() && t.impl()->requires_grad; };
  return needs(first) || (... || needs(rest));
}

// Gives `node` edges to `inputs[0, count)` and makes it the grad_fn of `out` (not a template on
// the backward function, so each op shares it).
template <class T>
TAPEGRAD_NOINLINE void attach(Tensor<T>& out, Node<T>* node, const Tensor<T>* const* inputs, int count) {
  node->num_inputs = count;
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
  static_assert(sizeof...(Ts) <= GradOut<T>::kMaxInputs, "record: too many inputs");
  const Tensor<T>* ins[] = {&inputs...};
  attach(out, new FunctionNode<T, std::decay_t<F>>(name, std::forward<F>(fn)), ins, static_cast<int>(sizeof...(Ts)));
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

// Plays the tape backwards from `root` with output gradient `grad`.
template <class T>
void run_backward(const Tensor<T>& root, Tensor<T> grad) {
  NoGradGuard no_grad;
  TensorImpl<T>& r = *root.impl();
  if (!r.grad_fn) {  // a leaf: backward() on it accumulates into its own grad()
    Edge<T> e;
    e.leaf = root.impl_ptr();
    return send_gradient(e, std::move(grad));
  }
  // Gather the reachable nodes (iteratively: graphs can be deep).
  static thread_local std::vector<Node<T>*> order, stack;
  static std::atomic<uint64_t> epochs{0};  // process-wide: graphs may be shared by threads
  const uint64_t epoch = epochs.fetch_add(1, std::memory_order_relaxed) + 1;
  order.clear();
  stack.clear();
  Node<T>* const first = r.grad_fn.get();
  stack.push_back(first);
  r.grad_fn->visit_epoch = epoch;
  while (!stack.empty()) {
    Node<T>* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (int i = 0; i < n->num_inputs; ++i) {
      Node<T>* next = n->edges[i].node.get();
      if (next && next->visit_epoch != epoch) {
        next->visit_epoch = epoch;
        stack.push_back(next);
      }
    }
  }
  sort_by_decreasing_sequence(order.data(), order.size());
  r.grad_fn->pending_grad = std::move(grad);
  try {
    for (Node<T>* n : order) {
      if (!n->pending_grad.defined()) continue;
      Tensor<T> g = std::move(n->pending_grad);
      n->apply(g);
    }
  } catch (...) {
    for (Node<T>* n : order) n->pending_grad = Tensor<T>();
    throw;
  }
}

}  // namespace detail

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
void Tensor<T>::backward() const {
  const Impl& i = checked("backward");
  detail::check(i.sizes.numel() == 1, "backward: grad can be implicitly created only for one-element tensors, got shape ",
                i.sizes, "; pass a gradient");
  Tensor g(detail::make_intrusive<Impl>());
  g.impl()->sizes = i.sizes;
  g.impl()->storage = detail::Storage<T>::create(1);
  g.impl()->data = g.impl()->storage->data;
  g.impl()->data[0] = T(1);
  backward(g);
}

template <class T>
void Tensor<T>::backward(const Tensor& grad_output) const {
  const Impl& i = checked("backward");
  const Impl& g = grad_output.checked("backward");
  detail::check(i.requires_grad, "backward: tensor of shape ", i.sizes,
                " does not require grad and has no grad_fn");
  detail::check(g.sizes == i.sizes, "backward: gradient shape ", g.sizes, " does not match tensor shape ", i.sizes);
  detail::run_backward(*this, grad_output);
}

template <class T>
Tensor<T> Tensor<T>::detach() const {
  const Impl& i = checked("detach");
  auto d = detail::make_intrusive<Impl>();
  d->sizes = i.sizes;
  d->storage = i.storage;
  d->data = i.data;
  return Tensor(std::move(d));
}

}  // namespace tapegrad
