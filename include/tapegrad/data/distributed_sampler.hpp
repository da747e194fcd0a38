#pragma once
// data::DistributedSampler: torch.utils.data.DistributedSampler's indices (PyTorch 1.13), which
// split a data set among num_replicas processes: every rank draws the same permutation (a
// generator seeded with seed + epoch), pads it to a multiple of num_replicas by repeating its
// head (or, with drop_last, cuts the tail), and takes every num_replicas-th index from its rank
// on. Needs no MPI: the rank and the world size are given (checked against PyTorch by
// tests/data_test.cpp with tests/golden/distributed_sampler.txt).
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/generator.hpp"
#include "randperm.hpp"

namespace tapegrad::data {

class DistributedSampler {
 public:
  using const_iterator = std::vector<int64_t>::const_iterator;

  // The indices of a data set of `size` examples for process `rank` of `num_replicas`.
  TAPEGRAD_COLD DistributedSampler(int64_t size, int64_t num_replicas, int64_t rank, bool shuffle = true,
                                   uint64_t seed = 0, bool drop_last = false)
      : size_(size), num_replicas_(num_replicas), rank_(rank), shuffle_(shuffle), seed_(seed), drop_last_(drop_last) {
    tapegrad::detail::check(size >= 0, "DistributedSampler: the data set size must be non-negative, got ", size);
    tapegrad::detail::check(num_replicas > 0, "DistributedSampler: num_replicas must be positive, got ", num_replicas);
    tapegrad::detail::check(rank >= 0 && rank < num_replicas, "DistributedSampler: invalid rank ", rank,
                  ", rank should be in the interval [0, ", num_replicas - 1, "]");
    // torch: with drop_last the tail that does not divide evenly is cut, else the list is padded
    num_samples_ = drop_last && size % num_replicas != 0 ? (size - num_replicas + num_replicas - 1) / num_replicas
                                                         : (size + num_replicas - 1) / num_replicas;
    if (num_samples_ < 0) num_samples_ = 0;
    draw();
  }

  // The epoch whose permutation the next iteration yields (seed + epoch seeds it), as torch's
  // set_epoch: call it before each epoch, or every epoch has the same order.
  void set_epoch(int64_t epoch) {
    epoch_ = epoch;
    draw();
  }
  int64_t epoch() const { return epoch_; }

  // The number of indices this rank yields per epoch, len(sampler).
  int64_t size() const { return num_samples_; }
  // num_samples * num_replicas: the padded (or cut) length of the permutation all ranks share.
  int64_t total_size() const { return num_samples_ * num_replicas_; }
  int64_t num_replicas() const { return num_replicas_; }
  int64_t rank() const { return rank_; }

  // This rank's indices for the current epoch, in order.
  const std::vector<int64_t>& indices() const { return indices_; }
  const_iterator begin() const { return indices_.begin(); }
  const_iterator end() const { return indices_.end(); }

 private:
  TAPEGRAD_COLD void draw() {
    std::vector<int64_t> all;
    if (shuffle_) {
      Generator gen(seed_ + static_cast<uint64_t>(epoch_));  // torch.Generator().manual_seed(seed + epoch)
      all = randperm(size_, gen);
    } else {
      all.resize(static_cast<size_t>(size_));
      for (int64_t i = 0; i < size_; ++i) all[static_cast<size_t>(i)] = i;
    }
    const auto total = static_cast<size_t>(total_size());
    if (!drop_last_ && !all.empty()) {
      // torch pads with indices[:padding] (repeating the whole list as often as needed)
      const size_t n = all.size();
      for (size_t i = n; i < total; ++i) all.push_back(all[(i - n) % n]);
    }
    all.resize(total);
    indices_.clear();
    for (size_t i = static_cast<size_t>(rank_); i < total; i += static_cast<size_t>(num_replicas_)) indices_.push_back(all[i]);
  }

  int64_t size_, num_replicas_, rank_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  int64_t epoch_ = 0;
  int64_t num_samples_ = 0;
  std::vector<int64_t> indices_;
};

}  // namespace tapegrad::data
