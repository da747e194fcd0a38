#pragma once
// data::MNIST: the MNIST digits, or Fashion-MNIST or any set in their files, as libtorch's
// torch::data::datasets::MNIST reads them: images (N, 1, 28, 28) scaled to [0, 1] (byte / 255
// in T, as libtorch and torchvision's ToTensor compute it in float32) and targets (N), the
// class indices 0..9 (as values of T here: tapegrad tensors are float or double).
//
// From `root`: train-images-idx3-ubyte and train-labels-idx1-ubyte (t10k-* for the test set),
// each raw or with .gz appended (Debian's dataset-fashion-mnist installs the .gz files in
// /usr/share/datasets/fashion-mnist/). A MNIST is a TensorDataset: a DataLoader takes it.
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <utility>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "dataset.hpp"
#include "idx.hpp"

namespace tapegrad::data {

namespace detail {

// root/name, or root/name.gz where only that exists.
TAPEGRAD_COLD inline std::string find_mnist_file(const std::string& root, const std::string& name) {
  const std::string base = root.empty() || root.back() == '/' ? root + name : root + "/" + name;
  struct stat st {};
  if (::stat(base.c_str(), &st) == 0) return base;
  if (::stat((base + ".gz").c_str(), &st) == 0) return base + ".gz";
  tapegrad::detail::fail("MNIST: ", root, ": has neither ", name, " nor ", name, ".gz");
}

// images: (N, 28, 28) unsigned bytes -> (N, 1, 28, 28) as byte / 255 in T.
template <class T>
TAPEGRAD_COLD Tensor<T> mnist_images(const IdxArray& a, const std::string& path) {
  tapegrad::detail::check(a.type == IdxType::UInt8 && a.shape.size() == 3 && a.shape[1] == 28 && a.shape[2] == 28,
                          "MNIST: ", path, ": expected images of unsigned byte, shape (N, 28, 28), got ",
                          idx_type_name(a.type), " of shape ", format_shape(a.shape));
  Tensor<T> out = tapegrad::detail::make_tensor<T>(Dims{a.shape[0], 1, 28, 28});
  const uint8_t* p = a.values();
  T* x = out.data();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(p[i]) / static_cast<T>(255);
  return out;
}

// labels: (N) unsigned bytes, each 0..9 -> (N) in T.
template <class T>
TAPEGRAD_COLD Tensor<T> mnist_targets(const IdxArray& a, const std::string& path) {
  tapegrad::detail::check(a.type == IdxType::UInt8 && a.shape.size() == 1, "MNIST: ", path,
                          ": expected labels of unsigned byte, shape (N), got ", idx_type_name(a.type), " of shape ",
                          format_shape(a.shape));
  const uint8_t* p = a.values();
  for (int64_t i = 0; i < a.shape[0]; ++i) {
    tapegrad::detail::check(p[i] <= 9, "MNIST: ", path, ": label ", int(p[i]), " of example ", i,
                            " is not a class 0..9");
  }
  return to_tensor<T>(a);
}

}  // namespace detail

template <class T = float>
class MNIST : public TensorDataset<T> {
 public:
  enum class Mode { kTrain, kTest };  // libtorch's names: the 60000 training or 10000 test examples

  TAPEGRAD_COLD explicit MNIST(const std::string& root, Mode mode = Mode::kTrain)
      : MNIST(read(root, mode == Mode::kTrain), mode == Mode::kTrain) {}
  // MNIST(root, /*train=*/false), as torchvision's MNIST(root, train=False).
  TAPEGRAD_COLD MNIST(const std::string& root, bool train) : MNIST(read(root, train), train) {}

  bool is_train() const { return train_; }
  // (N, 1, 28, 28) in [0, 1] and (N) in 0..9: libtorch's images() and targets().
  const Tensor<T>& images() const { return this->x(); }
  const Tensor<T>& targets() const { return this->y(); }

 private:
  MNIST(Example<T> read, bool train) : TensorDataset<T>(std::move(read.x), std::move(read.y)), train_(train) {}

  TAPEGRAD_COLD static Example<T> read(const std::string& root, bool train) {
    const std::string prefix = train ? "train" : "t10k";
    const std::string images_path = detail::find_mnist_file(root, prefix + "-images-idx3-ubyte");
    const std::string labels_path = detail::find_mnist_file(root, prefix + "-labels-idx1-ubyte");
    Example<T> e;
    e.y = detail::mnist_targets<T>(read_idx_array(labels_path), labels_path);
    e.x = detail::mnist_images<T>(read_idx_array(images_path), images_path);
    tapegrad::detail::check(e.x.size(0) == e.y.size(0), "MNIST: ", root, ": ", e.x.size(0), " images but ", e.y.size(0),
                            " labels");
    return e;
  }

  bool train_;
};

}  // namespace tapegrad::data
