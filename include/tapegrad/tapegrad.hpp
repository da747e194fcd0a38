#pragma once
// tapegrad: PyTorch's vocabulary and numbers in one header-only C++17 library.
// The umbrella header: includes the rest, nothing else.
#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/expanding_array.hpp"
#include "core/factories.hpp"
#include "core/generator.hpp"
#include "core/parallel.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "ops/activation.hpp"
#include "ops/arithmetic.hpp"
#include "ops/linalg.hpp"
#include "ops/reduction.hpp"
#include "ops/shape_ops.hpp"
#include "ops/softmax.hpp"
#include "ops/tensor_methods.hpp"
#include "ops/unary.hpp"
#include "ops/dropout.hpp"
#include "ops/class_loss.hpp"
#include "ops/loss.hpp"
#include "ops/normalization.hpp"
#include "ops/convolution.hpp"
#include "ops/pooling.hpp"
#include "ops/embedding.hpp"
#include "ops/layer_norm.hpp"
// vocabulary: vocab-elem
#include "ops/elementwise.hpp"
#include "ops/masking.hpp"
#include "ops/sampling.hpp"
#include "ops/selection.hpp"
#include "ops/std_logsumexp.hpp"
// vocabulary: vocab-index
#include "ops/index_values.hpp"
#include "ops/indexing.hpp"
#include "ops/layout.hpp"
#include "ops/ranges.hpp"
#include "ops/split.hpp"
#include "nn/functional.hpp"
#include "nn/conv.hpp"
#include "nn/layers.hpp"
#include "nn/functional_loss.hpp"
#include "nn/loss.hpp"
#include "nn/activation.hpp"
#include "nn/loss_options.hpp"
#include "nn/module.hpp"
#include "nn/init.hpp"
#include "nn/utils.hpp"
#include "nn/pooling.hpp"
#include "nn/sequence_layers.hpp"
#include "nn/attention.hpp"
#include "optim/adam.hpp"
#include "optim/adamw.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/sgd.hpp"
#include "optim/optimizer.hpp"
#include "testing/gradcheck.hpp"
#include "autograd/functional.hpp"
#include "data/dataloader.hpp"
#include "data/dataset.hpp"
#include "data/distributed_sampler.hpp"
#include "data/idx.hpp"
#include "data/mnist.hpp"
#include "data/randperm.hpp"
#include "version.hpp"
// gzipped IDX files (data::read_idx, data::MNIST on .gz files) need zlib, to compile and to link:
// opted into with TAPEGRAD_WITH_ZLIB, which the CMake target tapegrad::data defines along with
// linking zlib (by hand: -DTAPEGRAD_WITH_ZLIB ... -lz). Without it raw IDX files still read, and
// a program that links only the core never meets an undefined zlib symbol.
#if defined(TAPEGRAD_WITH_ZLIB)
#include "data/gzip.hpp"
#endif
// Saving and loading (safetensors, torch.save files) need nlohmann/json: included when it is
// there. Parsing it costs every translation unit ~0.6 s of compile time; a program that loads
// nothing can define TAPEGRAD_NO_IO to skip it.
#if __has_include(<nlohmann/json.hpp>) && !defined(TAPEGRAD_NO_IO)
#include "io.hpp"
#endif
