#pragma once
// data::DataLoader: the batches of a TensorDataset in torch.utils.data.DataLoader's order
// (PyTorch 1.13, num_workers=0), with the same draws from the same generators at the same
// moments, so a seeded loader and its Python twin give the same batches epoch after epoch and
// leave their generators at the same place. The draws are listed in docs/DATA.md.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <utility>
#include <vector>

#include "../core/generator.hpp"
#include "dataset.hpp"
#include "randperm.hpp"

namespace tapegrad::data {

template <class T = float>
class DataLoader {
 public:
  class iterator;

  // Draws from default_generator() as it is when each epoch starts: DataLoader(..., generator=None).
  TAPEGRAD_COLD DataLoader(TensorDataset<T> dataset, int64_t batch_size, bool shuffle = false, bool drop_last = false)
      : DataLoader(std::move(dataset), batch_size, shuffle, drop_last, nullptr) {}
  // Draws every number from `generator` (DataLoader(..., generator=g)), which must outlive the
  // loader's epochs; the loader holds it by reference, as torch's does.
  TAPEGRAD_COLD DataLoader(TensorDataset<T> dataset, int64_t batch_size, bool shuffle, bool drop_last,
                           Generator& generator)
      : DataLoader(std::move(dataset), batch_size, shuffle, drop_last, &generator) {}

  // The number of batches in an epoch, len(loader).
  int64_t size() const { return drop_last_ ? examples() / batch_size_ : (examples() + batch_size_ - 1) / batch_size_; }
  int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }
  const TensorDataset<T>& dataset() const { return dataset_; }

  // Starts an epoch, making its draws (as iter(loader) and the first next() do in Python);
  // each call is a new epoch with new draws.
  iterator begin() const { return iterator(*this); }
  iterator end() const { return iterator(); }

  // One epoch's batches: an input iterator (one pass; a copy that is advanced again makes the
  // draws of that step again).
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch<T>*;
    using reference = const Batch<T>&;

    iterator() = default;  // the end of every epoch

    reference operator*() const { return batch_; }
    pointer operator->() const { return &batch_; }
    iterator& operator++() {
      fetch(batch_number_ + 1);
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++*this;
      return before;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.at_end() == b.at_end(); }
    friend bool operator!=(const iterator& a, const iterator& b) { return !(a == b); }

    // The dataset rows in the current batch, in order: the list torch's batch sampler yields.
    TAPEGRAD_COLD std::vector<int64_t> indices() const {
      tapegrad::detail::check(!at_end(), "DataLoader::iterator::indices: the end iterator has no batch");
      const int64_t first = batch_number_ * loader_->batch_size_;
      std::vector<int64_t> rows(static_cast<size_t>(batch_.x.size(0)));
      if (order_.empty()) {
        std::iota(rows.begin(), rows.end(), first);
      } else {
        std::copy_n(order_.begin() + first, rows.size(), rows.begin());
      }
      return rows;
    }
    // Which batch of the epoch this is, from 0.
    int64_t batch_number() const { return batch_number_; }

   private:
    friend class DataLoader;

    // The start of an epoch: the draws torch makes when a for loop takes iter(loader) and then
    // the first batch, in its order.
    explicit iterator(const DataLoader& loader) : loader_(&loader) {
      Generator& loader_generator = loader.generator_ ? *loader.generator_ : default_generator();
      // _BaseDataLoaderIter.__init__ draws a base seed for worker processes' seeds; with no
      // workers it is never used, but it moves the stream, with or without shuffling.
      static_cast<void>(tapegrad::detail::random_int64(loader_generator));
      if (loader.shuffle_) {
        if (loader.generator_) {
          // RandomSampler(generator=g) permutes with g itself
          order_ = randperm(loader.examples(), *loader.generator_);
          sampler_generator_ = loader.generator_;
        } else {
          // RandomSampler without one seeds a new generator from one int64 draw of the default
          // generator; its second randperm (see fetch) draws from that private generator,
          // which nothing reads afterwards, so it is not drawn here.
          Generator sampler(static_cast<uint64_t>(tapegrad::detail::random_int64(default_generator())));
          order_ = randperm(loader.examples(), sampler);
        }
      }
      fetch(0);
    }

    bool at_end() const { return loader_ == nullptr; }

    // torch's next(): batch k, or the end of the epoch at k == size().
    void fetch(int64_t k) {
      const DataLoader& loader = *loader_;
      if (sampler_generator_ && k == loader.sampler_exhausted_at()) {
        tapegrad::detail::skip_words(*sampler_generator_, tapegrad::detail::randperm_words(loader.examples()));
      }
      if (k == loader.size()) {
        *this = iterator();  // the end; lets go of the permutation and the last batch
        return;
      }
      const int64_t first = k * loader.batch_size_;
      const int64_t count = std::min(loader.batch_size_, loader.examples() - first);
      const int64_t* rows = order_.empty() ? nullptr : order_.data();
      batch_ = {detail::gather_rows(loader.dataset_.x(), rows, first, count),
                detail::gather_rows(loader.dataset_.y(), rows, first, count)};
      batch_number_ = k;
    }

    const DataLoader* loader_ = nullptr;  // null at the end
    std::vector<int64_t> order_;          // this epoch's permutation; empty when not shuffling
    Generator* sampler_generator_ = nullptr;  // the user's generator, when the sampler draws from it
    int64_t batch_number_ = 0;
    Batch<T> batch_;
  };

 private:
  TAPEGRAD_COLD DataLoader(TensorDataset<T>&& dataset, int64_t batch_size, bool shuffle, bool drop_last,
                           Generator* generator)
      : dataset_(std::move(dataset)), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last),
        generator_(generator) {
    tapegrad::detail::check(batch_size > 0, "DataLoader: batch_size should be a positive integer value, ",
                            "but got batch_size=", batch_size);
    tapegrad::detail::check(!shuffle || dataset_.size() > 0, "DataLoader: shuffle=true needs at least one example ",
                            "(torch's RandomSampler refuses num_samples=0), got a dataset of size 0");
  }

  int64_t examples() const { return dataset_.size(); }

  // The fetch that finds the sampler's permutation used up, where torch 1.13's RandomSampler
  // draws a second randperm(n) of which it yields nothing (its `randperm(n)[:num_samples % n]`
  // after the whole permutation). Without drop_last, a partial last batch ends only when the
  // sampler does, so it is that batch's fetch; otherwise the fetch after the last batch, which
  // ends the epoch.
  int64_t sampler_exhausted_at() const {
    return !drop_last_ && examples() % batch_size_ != 0 ? size() - 1 : size();
  }

  TensorDataset<T> dataset_;
  int64_t batch_size_;
  bool shuffle_;
  bool drop_last_;
  Generator* generator_;  // null: default_generator() at each epoch's start
};

}  // namespace tapegrad::data
