#pragma once
// Module<T>: the base of every layer. It owns ordered registries of parameters, buffers and
// children (as libtorch does), so parameters() and named_parameters() follow registration
// order with PyTorch's keys ("0.weight", "1.running_var"). Parameters and buffers are tensor
// handles: a copied module shares them, like a copied libtorch module holder.
#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/generator.hpp"
#include "functional.hpp"

namespace tapegrad::nn {

template <class T = float>
class Module {
 public:
  using value_type = T;
  template <class V>
  using Named = std::vector<std::pair<std::string, V>>;

  TAPEGRAD_COLD virtual ~Module() {}

  virtual Tensor<T> forward(const Tensor<T>& x) = 0;
  Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }

  // Training mode on or off, for this module and every child.
  TAPEGRAD_COLD virtual void train(bool on = true) {
    training_ = on;
    for (auto& child : children_) child.second->train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  TAPEGRAD_COLD std::vector<Tensor<T>> parameters() const { return values(named_parameters()); }
  // A tensor registered more than once (a tied weight, a child shared by two parents) is listed
  // once, under its first name, as PyTorch's named_parameters: an optimizer steps it once.
  // state_dict() keeps every name, as PyTorch's.
  TAPEGRAD_COLD Named<Tensor<T>> named_parameters() const {
    Named<Tensor<T>> out;
    collect(out, "", &Module::parameters_);
    return without_repeats(std::move(out));
  }
  TAPEGRAD_COLD std::vector<Tensor<T>> buffers() const { return values(named_buffers()); }
  TAPEGRAD_COLD Named<Tensor<T>> named_buffers() const {
    Named<Tensor<T>> out;
    collect(out, "", &Module::buffers_);
    return without_repeats(std::move(out));
  }
  const Named<std::shared_ptr<Module>>& named_children() const { return children_; }

  // The parameters and buffers under PyTorch's keys and in its order: each module's own
  // parameters, then its own buffers, then each child's entries under "name.".
  TAPEGRAD_COLD Named<Tensor<T>> state_dict() const {
    Named<Tensor<T>> out;
    collect_state(out, "", nullptr);
    return out;
  }
  // The keys of state_dict() that PyTorch holds as int64 (BatchNorm's num_batches_tracked):
  // files store them as I64.
  TAPEGRAD_COLD std::vector<std::string> integral_state_keys() const {
    Named<Tensor<T>> entries;
    std::vector<std::string> keys;
    collect_state(entries, "", &keys);
    return keys;
  }

  // What load_state_dict(sd, false) passed over.
  struct LoadResult {
    std::vector<std::string> missing_keys, unexpected_keys;
  };

  // Copies `sd`'s values into this module's parameters and buffers (the same tensors, so an
  // optimizer holding them sees the new values). All or nothing: a key given twice or
  // undefined, a shape that differs, or under `strict` a missing or unexpected key throws
  // before anything is written.
  TAPEGRAD_COLD LoadResult load_state_dict(const Named<Tensor<T>>& sd, bool strict = true) {
    const Named<Tensor<T>> own = state_dict();
    LoadResult result;
    std::vector<std::pair<const Tensor<T>*, const Tensor<T>*>> copies;  // (destination, source)
    std::vector<bool> given(own.size(), false);
    std::unordered_map<std::string, size_t> index_of;  // hashed: a file may hold millions of keys
    for (size_t j = 0; j < own.size(); ++j) index_of.emplace(own[j].first, j);
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < sd.size(); ++i) {
      const auto& [key, value] = sd[i];
      detail::check(seen.insert(key).second, "load_state_dict: the key \"", key, "\" is given twice");
      const auto found = index_of.find(key);
      const size_t j = found == index_of.end() ? own.size() : found->second;
      if (j == own.size()) {
        result.unexpected_keys.push_back(key);
        continue;
      }
      detail::check(value.defined(), "load_state_dict: \"", key, "\" is an undefined tensor");
      detail::check(value.sizes() == own[j].second.sizes(), "load_state_dict: size mismatch for \"", key,
                    "\": copying a tensor of shape ", value.sizes(), ", the shape in this module is ",
                    own[j].second.sizes());
      given[j] = true;
      copies.push_back({&own[j].second, &value});
    }
    for (size_t j = 0; j < own.size(); ++j) {
      if (!given[j]) result.missing_keys.push_back(own[j].first);
    }
    if (strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty())) {
      detail::fail("load_state_dict: ", key_list("missing key(s)", result.missing_keys),
                   !result.missing_keys.empty() && !result.unexpected_keys.empty() ? "; " : "",
                   key_list("unexpected key(s)", result.unexpected_keys));
    }
    for (const auto& [destination, source] : copies) {
      if (destination->data() != source->data()) {
        std::copy(source->data(), source->data() + source->numel(), destination->data());
      }
    }
    return result;
  }

  // Forgets every parameter's gradient (PyTorch's set_to_none).
  void zero_grad() {
    // walks the registries instead of building parameters(): no allocation in a training loop
    for (auto& entry : parameters_) {
      if (entry.second.defined()) entry.second.set_grad(Tensor<T>());
    }
    for (auto& child : children_) child.second->zero_grad();
  }

  // Draws this module's initial parameters again from the default generator (a no-op for
  // modules without random initialisation).
  virtual void reset_parameters() {}

  // The stretch of the default generator this module's initialisation drew, if it drew any.
  struct InitDraws {
    Generator::Snapshot start;
    uint64_t end;
  };
  const std::optional<InitDraws>& init_draws() const { return init_draws_; }

  // Runs reset_parameters() from the generator's current state and records the draws.
  TAPEGRAD_COLD virtual void initialize() {
    Generator& gen = default_generator();
    std::lock_guard lock(gen.mutex());  // the draws stay one stretch when threads share gen
    InitDraws draws{gen.snapshot(), 0};
    reset_parameters();
    draws.end = gen.offset();
    init_draws_ = std::move(draws);
  }

 protected:
  void set_init_draws(std::optional<InitDraws> draws) { init_draws_ = std::move(draws); }

  Module() = default;
  Module(const Module&) = default;
  Module(Module&&) noexcept = default;
  Module& operator=(const Module&) = default;
  Module& operator=(Module&&) noexcept = default;

  // Registers `t` as a parameter (it is made to require grad) and returns it.
  TAPEGRAD_COLD Tensor<T> register_parameter(std::string name, Tensor<T> t) {
    if (t.defined()) t.requires_grad_(true);
    parameters_.push_back({std::move(name), t});
    return t;
  }
  // `integral`: PyTorch holds this buffer as int64 (a count), so files store it as I64.
  TAPEGRAD_COLD Tensor<T> register_buffer(std::string name, Tensor<T> t, bool integral = false) {
    if (integral) integral_buffers_.push_back(name);
    buffers_.push_back({std::move(name), t});
    return t;
  }
  // Registers a child module (taken by value) and returns the shared handle to it.
  template <class M>
  std::shared_ptr<M> register_module(std::string name, M module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: not a Module of the same T");
    auto child = std::make_shared<M>(std::move(module));
    children_.push_back({std::move(name), child});
    return child;
  }
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    children_.push_back({std::move(name), module});
    return module;
  }

 private:
  TAPEGRAD_COLD static Named<Tensor<T>> without_repeats(Named<Tensor<T>> named) {
    std::unordered_set<const void*> seen;
    size_t kept = 0;
    for (size_t i = 0; i < named.size(); ++i) {
      if (!seen.insert(named[i].second.impl()).second) continue;
      if (kept != i) named[kept] = std::move(named[i]);
      ++kept;
    }
    named.resize(kept);
    return named;
  }

  // Pre-order: this module's own entries, then each child's under "name.".
  TAPEGRAD_COLD void collect(Named<Tensor<T>>& out, const std::string& prefix, Named<Tensor<T>> Module::*registry) const {
    for (const auto& entry : this->*registry) {
      if (entry.second.defined()) out.push_back({prefix + entry.first, entry.second});
    }
    for (const auto& child : children_) child.second->collect(out, prefix + child.first + ".", registry);
  }
  // state_dict()'s pre-order: own parameters, own buffers, then each child; `integral`, when
  // given, receives the keys of integral buffers.
  TAPEGRAD_COLD void collect_state(Named<Tensor<T>>& out, const std::string& prefix,
                                   std::vector<std::string>* integral) const {
    for (const auto* registry : {&parameters_, &buffers_}) {
      for (const auto& entry : *registry) {
        if (entry.second.defined()) out.push_back({prefix + entry.first, entry.second});
      }
    }
    if (integral) {
      for (const auto& name : integral_buffers_) integral->push_back(prefix + name);
    }
    for (const auto& child : children_) child.second->collect_state(out, prefix + child.first + ".", integral);
  }
  // "missing key(s): "a", "b"", or nothing for no keys.
  TAPEGRAD_COLD static std::string key_list(const char* what, const std::vector<std::string>& keys) {
    if (keys.empty()) return "";
    std::string s = what;
    s += ": ";
    for (size_t i = 0; i < keys.size(); ++i) s += (i ? ", \"" : "\"") + keys[i] + "\"";
    return s;
  }
  TAPEGRAD_COLD static std::vector<Tensor<T>> values(const Named<Tensor<T>>& named) {
    std::vector<Tensor<T>> out;
    out.reserve(named.size());
    for (const auto& entry : named) out.push_back(entry.second);
    return out;
  }

  bool training_ = true;
  std::optional<InitDraws> init_draws_;
  Named<Tensor<T>> parameters_;
  Named<Tensor<T>> buffers_;
  std::vector<std::string> integral_buffers_;
  Named<std::shared_ptr<Module>> children_;
};

// Runs its children in order; they are named "0", "1", ...
template <class T = float>
class Sequential : public Module<T> {
 public:
  Sequential() = default;
  template <class M, class... Ms,
            class = std::enable_if_t<std::is_base_of_v<Module<T>, std::decay_t<M>> &&
                                     !std::is_same_v<std::decay_t<M>, Sequential>>>
  explicit Sequential(M&& first, Ms&&... rest) {
    push_back(std::forward<M>(first));
    (push_back(std::forward<Ms>(rest)), ...);
    // C++ leaves the order in which arguments are constructed unspecified (GCC goes right to
    // left), so temporaries like Sequential(Linear(10, 20), Linear(20, 1)) may have drawn their
    // weights in another order than PyTorch's. Replay their draws in argument order.
    const bool temporary[] = {std::is_rvalue_reference_v<M&&>, std::is_rvalue_reference_v<Ms&&>...};
    replay_initialization(temporary, sizeof...(Ms) + 1);
  }

  // Appends a module (copied or moved in) as the next child.
  template <class M, class = std::enable_if_t<std::is_base_of_v<Module<T>, std::decay_t<M>>>>
  void push_back(M&& module) {
    add_child(static_cast<Module<T>*>(new std::decay_t<M>(std::forward<M>(module))));
  }
  // Appends a module shared with the caller.
  template <class M>
  void push_back(std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module<T>, M>, "Sequential::push_back: not a Module of the same T");
    add_child(std::move(module));
  }

  size_t size() const { return this->named_children().size(); }
  Module<T>& operator[](size_t i) const { return *this->named_children().at(i).second; }

  Tensor<T> forward(const Tensor<T>& x) override {
    Tensor<T> h = x;  // x: (N, *) through each child in turn
    for (const auto& child : this->named_children()) h = child.second->forward(h);
    return h;
  }

  void initialize() override {
    for (const auto& child : this->named_children()) child.second->initialize();
    this->set_init_draws(span_of(children()));
  }

 private:
  // The one place children are added: not a template on the module's type.
  TAPEGRAD_COLD void add_child(std::shared_ptr<Module<T>> child) {
    this->register_module(std::to_string(this->named_children().size()), std::move(child));
  }
  // Takes ownership of a new module; its shared_ptr's control block is the same type whatever
  // the module's type.
  struct Deleter {
    void operator()(Module<T>* m) const { delete m; }
  };
  TAPEGRAD_COLD void add_child(Module<T>* owned) { add_child(std::shared_ptr<Module<T>>(owned, Deleter())); }

  using Draws = typename Module<T>::InitDraws;

  // The children, in order.
  std::vector<Module<T>*> children() const {
    std::vector<Module<T>*> out;
    for (const auto& child : this->named_children()) out.push_back(child.second.get());
    return out;
  }

  // The one contiguous stretch the children's draws cover, or nothing if they do not.
  TAPEGRAD_COLD static std::optional<Draws> span_of(const std::vector<Module<T>*>& children) {
    std::vector<const Draws*> draws;
    for (const Module<T>* child : children) {
      if (child->init_draws()) draws.push_back(&*child->init_draws());
    }
    if (draws.empty()) return std::nullopt;
    for (size_t i = 1; i < draws.size(); ++i) {  // by start offset (a handful of children)
      for (size_t j = i; j > 0 && draws[j]->start.offset < draws[j - 1]->start.offset; --j) std::swap(draws[j], draws[j - 1]);
    }
    for (size_t i = 0; i + 1 < draws.size(); ++i) {
      if (draws[i]->end != draws[i + 1]->start.offset) return std::nullopt;
    }
    return Draws{draws.front()->start, draws.back()->end};
  }

  // Redraws the temporaries' parameters in argument order when their draws were made in
  // another order, back to back, with nothing drawn since. temporary[i]: whether argument i
  // (child i) was a temporary.
  TAPEGRAD_COLD void replay_initialization(const bool* temporary, size_t n) {
    const std::vector<Module<T>*> all = children();
    std::vector<Module<T>*> replayable;
    for (size_t i = 0; i < n; ++i) {
      if (temporary[i]) replayable.push_back(all[i]);
    }
    if (replayable.size() != n) return;  // a module the caller still holds keeps its values
    const std::optional<Draws> span = span_of(replayable);
    Generator& gen = default_generator();
    std::lock_guard lock(gen.mutex());
    if (!span || gen.offset() != span->end) return;
    bool in_order = true;
    uint64_t last = 0;
    for (const Module<T>* child : replayable) {
      if (!child->init_draws()) continue;
      in_order = in_order && child->init_draws()->start.offset >= last;
      last = child->init_draws()->start.offset;
    }
    if (!in_order) {
      gen.restore(span->start);
      for (Module<T>* child : replayable) child->initialize();
    }
    this->set_init_draws(span_of(all));
  }
};

template <class M, class... Ms>
Sequential(M, Ms...) -> Sequential<typename std::decay_t<M>::value_type>;

// Holds modules in order, named "0", "1", ..., as torch.nn.ModuleList: their parameters and
// state dict entries are the list's ("0.weight"); it has no forward of its own, the caller
// runs its modules (list[i](x)).
template <class T = float>
class ModuleList : public Module<T> {
 public:
  ModuleList() = default;
  // The modules in order; temporaries' initial draws are replayed in argument order, as
  // Sequential's, so ModuleList(Linear(4, 3), Linear(3, 2)) draws as PyTorch does.
  template <class M, class... Ms,
            class = std::enable_if_t<std::is_base_of_v<Module<T>, std::decay_t<M>> && !std::is_same_v<std::decay_t<M>, ModuleList>>>
  explicit ModuleList(M&& first, Ms&&... rest) {
    const Sequential<T> in_order(std::forward<M>(first), std::forward<Ms>(rest)...);
    for (const auto& child : in_order.named_children()) add_child(child.second);
    this->set_init_draws(in_order.init_draws());
  }

  // Appends a module (copied or moved in) as the next child.
  template <class M, class = std::enable_if_t<std::is_base_of_v<Module<T>, std::decay_t<M>>>>
  void push_back(M&& module) {
    add_child(std::make_shared<std::decay_t<M>>(std::forward<M>(module)));
  }
  // Appends a module shared with the caller.
  template <class M>
  void push_back(std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module<T>, M>, "ModuleList::push_back: not a Module of the same T");
    add_child(std::move(module));
  }

  size_t size() const { return this->named_children().size(); }
  bool empty() const { return size() == 0; }
  bool is_empty() const { return empty(); }  // libtorch's name
  // The module at i; an i past the end throws.
  Module<T>& operator[](size_t i) const {
    detail::check(i < size(), "ModuleList: index ", i, " is out of range for a list of ", size(), " modules");
    return *this->named_children()[i].second;
  }
  // The shared handle of the module at i.
  std::shared_ptr<Module<T>> ptr(size_t i) const {
    (void)(*this)[i];
    return this->named_children()[i].second;
  }

  Tensor<T> forward(const Tensor<T>&) override {
    detail::fail("ModuleList: has no forward; call its modules (list[i](x))");
  }

  // Draws every module's initial parameters again, in order; the one stretch they drew is the list's.
  void initialize() override {
    Generator& gen = default_generator();
    std::lock_guard lock(gen.mutex());  // one stretch when threads share gen (recursive: children lock it too)
    typename Module<T>::InitDraws draws{gen.snapshot(), 0};
    for (const auto& child : this->named_children()) child.second->initialize();
    draws.end = gen.offset();
    this->set_init_draws(std::move(draws));
  }

 private:
  TAPEGRAD_COLD void add_child(std::shared_ptr<Module<T>> child) {
    this->register_module(std::to_string(this->named_children().size()), std::move(child));
  }
};

template <class M, class... Ms>
ModuleList(M, Ms...) -> ModuleList<typename std::decay_t<M>::value_type>;

}  // namespace tapegrad::nn
