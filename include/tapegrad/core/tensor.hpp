#pragma once
// Tensor<T>: a cheap, shared handle to an N-d, contiguous, row-major array of float or
// double, with the autograd state (requires_grad, grad, grad_fn, hooks) the tape needs. The
// ops are declared here and defined in ops/; the tape lives in autograd.hpp.
#include <Eigen/Core>
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "error.hpp"
#include "memory.hpp"
#include "shape.hpp"
#include "storage.hpp"

namespace tapegrad {

template <class T>
class Tensor;

namespace detail {
// The op methods' bodies, defined in ops/tensor_methods.hpp: calling an op method where that
// header is not included fails to compile (incomplete TensorOps), rather than to link.
template <class T>
struct TensorOps;
}  // namespace detail

namespace detail {

template <class T>
class Node;
template <class T>
struct HookSet;
template <class T>
void delete_hooks(HookSet<T>* hooks) noexcept;

// Fields ordered so the impl fills one 128-byte pool block.
template <class T>
struct TensorImpl : RefCounted, PoolAllocated {
  bool requires_grad = false;
  Dims sizes;
  IntrusivePtr<Storage<T>> storage;
  T* data = nullptr;  // the first value: storage->data, or inside it (tensor_in_storage)
  IntrusivePtr<Node<T>> grad_fn;     // null for leaves
  IntrusivePtr<TensorImpl> grad;     // accumulated by backward on leaves
  HookSet<T>* hooks = nullptr;       // a leaf's hooks, rarely any
  uint64_t grad_epoch = 0;           // the backward pass that last accumulated into grad
  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  ~TensorImpl() {
    if (hooks) delete_hooks(hooks);
  }
};

}  // namespace detail

template <class T = float>
class Tensor {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "tapegrad::Tensor<T>: T must be float or double");

 public:
  using value_type = T;
  using Impl = detail::TensorImpl<T>;
  using MatrixMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

  Tensor() = default;
  explicit Tensor(detail::IntrusivePtr<Impl> impl) : impl_(std::move(impl)) {}

  // ---- queries ------------------------------------------------------------------------
  bool defined() const { return static_cast<bool>(impl_); }
  Shape shape() const { return checked("shape").sizes.to_shape(); }
  const Dims& sizes() const { return checked("sizes").sizes; }
  int64_t dim() const { return checked("dim").sizes.size(); }
  int64_t numel() const { return checked("numel").sizes.numel(); }
  int64_t size(int64_t d) const {
    const Impl& i = checked("size");
    detail::check(i.sizes.size() > 0, "size: dim ", d, " given but a tensor of shape [] has no dimensions");
    return i.sizes[detail::normalize_dim(d, i.sizes.size(), "size", i.sizes)];
  }
  T* data() const { return checked("data").data; }
  std::vector<T> to_vector() const {
    const Impl& i = checked("to_vector");
    return std::vector<T>(i.data, i.data + i.sizes.numel());
  }
  T item() const {
    const Impl& i = checked("item");
    detail::check(i.sizes.numel() == 1, "item: a tensor with ", i.sizes.numel(),
                  " elements cannot be converted to a scalar (shape ", i.sizes, ")");
    return i.data[0];
  }
  // A 2-D tensor's values as a row-major Eigen matrix (shares storage).
  MatrixMap matrix() const {
    const Impl& i = checked("matrix");
    detail::check(i.sizes.size() == 2, "matrix: expected a 2-D tensor, got shape ", i.sizes);
    return MatrixMap(i.data, i.sizes[0], i.sizes[1]);
  }

  // ---- autograd -----------------------------------------------------------------------
  bool requires_grad() const { return checked("requires_grad").requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return !checked("is_leaf").grad_fn; }
  // The gradient accumulated by backward(); undefined until one reaches this tensor.
  Tensor grad() const { return Tensor(checked("grad").grad); }
  void set_grad(const Tensor& g);
  // The name of the op that produced this tensor ("MulBackward"), or "" for a leaf.
  const char* grad_fn_name() const;
  // The reverse pass from this tensor, as torch.Tensor.backward: `gradient` may be left out
  // for a one-element tensor; with `create_graph` every gradient is computed by recorded ops,
  // so leaves' grad() can be differentiated again. Graphs are kept until their tensors die,
  // whatever `retain_graph` says.
  void backward(const Tensor& gradient = Tensor(), std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;
  Tensor detach() const;

  // fn(grad) runs when this tensor's gradient has been computed (the sum of every
  // contribution, once per backward); if it returns a defined tensor of the same shape, that
  // replaces the gradient. Returns a handle for remove_hook.
  template <class F>
  uint64_t register_hook(F&& fn) const;
  // fn(leaf) runs once this leaf's grad() is final for the current backward pass.
  template <class F>
  uint64_t register_post_accumulate_grad_hook(F&& fn) const;
  // Removes a hook registered on this tensor; false when there is none with that handle.
  bool remove_hook(uint64_t handle) const;

  // ---- values -------------------------------------------------------------------------
  Tensor clone() const;
  Tensor& fill_(T value);
  Tensor& zero_() { return fill_(T(0)); }
  Tensor& uniform_(double from = 0, double to = 1);
  Tensor& normal_(double mean = 0, double std = 1);
  Tensor& bernoulli_(double p = 0.5);

  // ---- elementwise (libtorch's method spellings of the free functions) -----------------
  Tensor exp() const { return detail::TensorOps<T>::exp(*this); }
  Tensor log() const { return detail::TensorOps<T>::log(*this); }
  Tensor sqrt() const { return detail::TensorOps<T>::sqrt(*this); }
  Tensor abs() const { return detail::TensorOps<T>::abs(*this); }
  Tensor pow(double exponent) const { return detail::TensorOps<T>::pow(*this, exponent); }
  Tensor tanh() const { return detail::TensorOps<T>::tanh(*this); }
  Tensor sigmoid() const { return detail::TensorOps<T>::sigmoid(*this); }
  Tensor relu() const { return detail::TensorOps<T>::relu(*this); }
  Tensor neg() const { return detail::TensorOps<T>::neg(*this); }
  Tensor reciprocal() const { return detail::TensorOps<T>::reciprocal(*this); }
  Tensor softmax(int64_t dim) const { return detail::TensorOps<T>::softmax(*this, dim); }
  Tensor log_softmax(int64_t dim) const { return detail::TensorOps<T>::log_softmax(*this, dim); }

  // ---- reductions ---------------------------------------------------------------------
  Tensor sum() const { return detail::TensorOps<T>::sum(*this); }
  Tensor sum(int64_t dim, bool keepdim = false) const { return detail::TensorOps<T>::sum(*this, dim, keepdim); }
  Tensor mean() const { return detail::TensorOps<T>::mean(*this); }
  Tensor mean(int64_t dim, bool keepdim = false) const { return detail::TensorOps<T>::mean(*this, dim, keepdim); }
  Tensor var() const { return detail::TensorOps<T>::var(*this); }  // unbiased, over all elements
  Tensor var(int64_t dim, bool unbiased = true, bool keepdim = false) const { return detail::TensorOps<T>::var(*this, dim, unbiased, keepdim); }
  Tensor max() const { return detail::TensorOps<T>::max(*this); }
  Tensor max(int64_t dim, bool keepdim = false) const { return detail::TensorOps<T>::max(*this, dim, keepdim); }

  // vocabulary: vocab-reduce
  Tensor min() const { return detail::TensorOps<T>::min(*this); }
  Tensor min(int64_t dim, bool keepdim = false) const { return detail::TensorOps<T>::min(*this, dim, keepdim); }
  Tensor argmax() const { return detail::TensorOps<T>::argmax(*this); }
  Tensor argmax(int64_t dim, bool keepdim = false) const { return detail::TensorOps<T>::argmax(*this, dim, keepdim); }
  Tensor argmin() const { return detail::TensorOps<T>::argmin(*this); }
  Tensor argmin(int64_t dim, bool keepdim = false) const { return detail::TensorOps<T>::argmin(*this, dim, keepdim); }
  Tensor std() const { return detail::TensorOps<T>::std(*this); }  // unbiased, over all elements
  Tensor std(int64_t dim, bool unbiased = true, bool keepdim = false) const { return detail::TensorOps<T>::std(*this, dim, unbiased, keepdim); }
  Tensor logsumexp(int64_t dim, bool keepdim = false) const { return detail::TensorOps<T>::logsumexp(*this, dim, keepdim); }
  // (values, indices)
  std::pair<Tensor, Tensor> topk(int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true) const {
    return detail::TensorOps<T>::topk(*this, k, dim, largest, sorted);
  }
  Tensor multinomial(int64_t num_samples, bool replacement = false) const { return detail::TensorOps<T>::multinomial(*this, num_samples, replacement); }

  // ---- shape --------------------------------------------------------------------------
  Tensor reshape(IntArrayRef shape) const { return detail::TensorOps<T>::reshape(*this, shape); }
  Tensor view(IntArrayRef shape) const { return detail::TensorOps<T>::view(*this, shape); }
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const { return detail::TensorOps<T>::flatten(*this, start_dim, end_dim); }
  Tensor unsqueeze(int64_t d) const { return detail::TensorOps<T>::unsqueeze(*this, d); }
  Tensor squeeze() const { return detail::TensorOps<T>::squeeze(*this); }
  Tensor squeeze(int64_t d) const { return detail::TensorOps<T>::squeeze(*this, d); }
  Tensor t() const { return detail::TensorOps<T>::t(*this); }
  Tensor transpose(int64_t d0, int64_t d1) const { return detail::TensorOps<T>::transpose(*this, d0, d1); }
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const { return detail::TensorOps<T>::narrow(*this, dim, start, length); }
  Tensor matmul(const Tensor& other) const { return detail::TensorOps<T>::matmul(*this, other); }

  // vocabulary: vocab-elem
  Tensor sin() const { return detail::TensorOps<T>::sin(*this); }
  Tensor cos() const { return detail::TensorOps<T>::cos(*this); }
  Tensor erf() const { return detail::TensorOps<T>::erf(*this); }
  Tensor square() const { return detail::TensorOps<T>::square(*this); }
  Tensor rsqrt() const { return detail::TensorOps<T>::rsqrt(*this); }
  Tensor log1p() const { return detail::TensorOps<T>::log1p(*this); }
  Tensor expm1() const { return detail::TensorOps<T>::expm1(*this); }
  // clamp(lo, hi), clamp(lo), clamp(std::nullopt, hi), as libtorch's optional bounds
  Tensor clamp(std::optional<double> min, std::optional<double> max = std::nullopt) const { return detail::TensorOps<T>::clamp(*this, min, max); }
  Tensor clamp_min(double min) const { return detail::TensorOps<T>::clamp_min(*this, min); }
  Tensor clamp_max(double max) const { return detail::TensorOps<T>::clamp_max(*this, max); }
  Tensor minimum(const Tensor& other) const { return detail::TensorOps<T>::minimum(*this, other); }
  Tensor maximum(const Tensor& other) const { return detail::TensorOps<T>::maximum(*this, other); }
  // x.where(cond, other) is where(cond, x, other), as libtorch's
  Tensor where(const Tensor& condition, const Tensor& other) const { return detail::TensorOps<T>::where(condition, *this, other); }
  Tensor masked_fill(const Tensor& mask, double value) const { return detail::TensorOps<T>::masked_fill(*this, mask, value); }
  Tensor masked_fill(const Tensor& mask, const Tensor& value) const { return detail::TensorOps<T>::masked_fill(*this, mask, value); }  // value 0-d
  Tensor tril(int64_t diagonal = 0) const { return detail::TensorOps<T>::tril(*this, diagonal); }
  Tensor triu(int64_t diagonal = 0) const { return detail::TensorOps<T>::triu(*this, diagonal); }
  // end vocabulary: vocab-elem
  // vocabulary: vocab-index
  // split, chunk, select, index_select, gather (index tensors hold integers), permute, expand, contiguous
  std::vector<Tensor> split(int64_t split_size, int64_t dim = 0) const { return detail::TensorOps<T>::split(*this, split_size, dim); }
  std::vector<Tensor> split(const std::vector<int64_t>& split_sizes, int64_t dim = 0) const { return detail::TensorOps<T>::split(*this, split_sizes, dim); }
  std::vector<Tensor> split_with_sizes(const std::vector<int64_t>& split_sizes, int64_t dim = 0) const { return detail::TensorOps<T>::split(*this, split_sizes, dim); }
  std::vector<Tensor> chunk(int64_t chunks, int64_t dim = 0) const { return detail::TensorOps<T>::chunk(*this, chunks, dim); }
  Tensor select(int64_t dim, int64_t index) const { return detail::TensorOps<T>::select(*this, dim, index); }
  Tensor index_select(int64_t dim, const Tensor& index) const { return detail::TensorOps<T>::index_select(*this, dim, index); }
  Tensor gather(int64_t dim, const Tensor& index) const { return detail::TensorOps<T>::gather(*this, dim, index); }
  Tensor permute(IntArrayRef dims) const { return detail::TensorOps<T>::permute(*this, dims); }
  Tensor expand(IntArrayRef shape) const { return detail::TensorOps<T>::expand(*this, shape); }
  Tensor contiguous() const { return detail::TensorOps<T>::contiguous(*this); }

  // ---- internals used by ops -----------------------------------------------------------
  Impl* impl() const { return impl_.get(); }
  const detail::IntrusivePtr<Impl>& impl_ptr() const { return impl_; }
  // The impl, or an Error naming `op` when this tensor is undefined.
  Impl& checked(const char* op) const {
    detail::check(static_cast<bool>(impl_), op, ": expected a defined tensor, got an undefined one");
    return *impl_;
  }

 private:
  detail::IntrusivePtr<Impl> impl_;
};

namespace detail {

// A tensor's or a node's hooks, and the bookkeeping a hooked leaf needs during one backward
// pass (its hooks see the whole gradient, so contributions are summed until the last arrives).
template <class T>
struct HookSet {
  using GradHook = std::function<Tensor<T>(const Tensor<T>&)>;  // an undefined result keeps the gradient
  using PostAccumulateHook = std::function<void(const Tensor<T>&)>;
  std::vector<std::pair<uint64_t, GradHook>> grad_hooks;
  std::vector<std::pair<uint64_t, PostAccumulateHook>> post_accumulate_hooks;
  uint64_t epoch = 0;      // the backward pass `remaining` and `pending` belong to
  int remaining = 0;       // contributions still to come in that pass
  Tensor<T> pending;       // their sum so far

  bool empty() const { return grad_hooks.empty() && post_accumulate_hooks.empty(); }
  bool remove(uint64_t handle) {
    auto gone = [handle](const auto& h) { return h.first == handle; };
    const size_t before = grad_hooks.size() + post_accumulate_hooks.size();
    grad_hooks.erase(std::remove_if(grad_hooks.begin(), grad_hooks.end(), gone), grad_hooks.end());
    post_accumulate_hooks.erase(std::remove_if(post_accumulate_hooks.begin(), post_accumulate_hooks.end(), gone),
                                post_accumulate_hooks.end());
    return grad_hooks.size() + post_accumulate_hooks.size() != before;
  }
};

template <class T>
void delete_hooks(HookSet<T>* hooks) noexcept {
  delete hooks;
}

// A fresh tensor of shape `sizes` with uninitialised values.
template <class T>
Tensor<T> make_tensor(const Dims& sizes) {
  auto impl = make_intrusive<TensorImpl<T>>();
  impl->sizes = sizes;
  impl->storage = Storage<T>::create(sizes.numel());
  impl->data = impl->storage->data;
  return Tensor<T>(std::move(impl));
}

// A tensor of shape `sizes` over elements [offset, offset + numel) of `storage`, outside any
// graph (DistributedDataParallel's gradients are such views of its buckets). offset must keep
// the values 64-byte aligned, as the kernels' aligned maps assume.
template <class T>
Tensor<T> tensor_in_storage(const IntrusivePtr<Storage<T>>& storage, int64_t offset, const Dims& sizes) {
  assert(offset >= 0 && offset * static_cast<int64_t>(sizeof(T)) % 64 == 0 &&
         static_cast<std::size_t>(offset + sizes.numel()) * sizeof(T) + Storage<T>::kHeaderBytes <= storage->block_bytes);
  auto impl = make_intrusive<TensorImpl<T>>();
  impl->sizes = sizes;
  impl->storage = storage;
  impl->data = storage->data + offset;
  return Tensor<T>(std::move(impl));
}

// A copy of t's values, outside any graph.
template <class T>
Tensor<T> copy_of(const Tensor<T>& t) {
  Tensor<T> out = make_tensor<T>(t.sizes());
  std::copy_n(t.data(), t.numel(), out.data());
  return out;
}

// A tensor that shares `t`'s values under another shape (same element count), outside any graph.
template <class T>
Tensor<T> alias_with_shape(const Tensor<T>& t, const Dims& sizes) {
  auto impl = make_intrusive<TensorImpl<T>>();
  impl->sizes = sizes;
  impl->storage = t.impl()->storage;
  impl->data = t.impl()->data;
  return Tensor<T>(std::move(impl));
}

// acc += g, values only (same shapes).
template <class T>
void add_in_place(Tensor<T>& acc, const Tensor<T>& g) {
  T* pa = acc.data();
  const T* pg = g.data();
  for (int64_t i = 0, n = acc.numel(); i < n; ++i) pa[i] += pg[i];
}

// a + b, values only (same shapes).
template <class T>
Tensor<T> add_values(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = make_tensor<T>(a.sizes());
  const T *pa = a.data(), *pb = b.data();
  T* po = out.data();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) po[i] = pa[i] + pb[i];
  return out;
}

}  // namespace detail
}  // namespace tapegrad

// The rest of core, where the methods declared above that are not ops are defined (backward,
// fill_, uniform_, ...): any core header alone gives a program that links.
#include "autograd.hpp"
