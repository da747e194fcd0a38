#pragma once
// Tensor<T>: a cheap, shared handle to an N-d, contiguous, row-major array of float or
// double, with the autograd state (requires_grad, grad, grad_fn) the tape needs. The ops are
// declared here and defined in ops/; the tape lives in autograd.hpp.
#include <Eigen/Core>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "error.hpp"
#include "memory.hpp"
#include "shape.hpp"
#include "storage.hpp"

namespace tapegrad {

template <class T>
class Tensor;

namespace detail {

template <class T>
class Node;

template <class T>
struct TensorImpl : RefCounted, PoolAllocated {
  Dims sizes;
  IntrusivePtr<Storage<T>> storage;
  T* data = nullptr;  // storage->data, cached for the hot paths
  bool requires_grad = false;
  IntrusivePtr<Node<T>> grad_fn;     // null for leaves
  IntrusivePtr<TensorImpl> grad;     // accumulated by backward on leaves
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
  void backward() const;
  void backward(const Tensor& grad_output) const;
  Tensor detach() const;

  // ---- values -------------------------------------------------------------------------
  Tensor clone() const;
  Tensor& fill_(T value);
  Tensor& zero_() { return fill_(T(0)); }
  Tensor& uniform_(double from = 0, double to = 1);
  Tensor& normal_(double mean = 0, double std = 1);
  Tensor& bernoulli_(double p = 0.5);

  // ---- elementwise (libtorch's method spellings of the free functions) -----------------
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor pow(double exponent) const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor neg() const;
  Tensor reciprocal() const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;

  // ---- reductions ---------------------------------------------------------------------
  Tensor sum() const;
  Tensor sum(int64_t dim, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(int64_t dim, bool keepdim = false) const;
  Tensor var() const;  // unbiased, over all elements
  Tensor var(int64_t dim, bool unbiased = true, bool keepdim = false) const;
  Tensor max() const;
  Tensor max(int64_t dim, bool keepdim = false) const;

  // ---- shape --------------------------------------------------------------------------
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor flatten() const { return reshape({-1}); }
  Tensor unsqueeze(int64_t d) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t d) const;
  Tensor t() const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor matmul(const Tensor& other) const;

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

}  // namespace tapegrad
