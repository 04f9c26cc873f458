#include "team.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace bnas::packed {

namespace {
inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}
}  // namespace

Team::~Team() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void Team::setActive(bool active) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    active_ = active;
  }
  if (active) wake_.notify_all();
}

void Team::ensureWorkers(int count) {
  while (int(workers_.size()) < count) {
    const int index = int(workers_.size()) + 1;  // the caller is member 0
    workers_.emplace_back([this, index] { work(index); });
  }
}

void Team::parallel(int n, const std::function<void(int)>& fn) {
  if (n <= 1) return fn(0);
  ensureWorkers(n - 1);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &fn;
    width_ = n;
    pending_ = n - 1;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  fn(0);
  while (pending_.load(std::memory_order_acquire) > 0) relax();
}

void Team::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin for the next section while a run is in progress; otherwise sleep until one starts.
    while (generation_.load(std::memory_order_acquire) == seen) {
      if (active_.load(std::memory_order_relaxed)) {
        relax();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || active_ || generation_.load() != seen; });
    }
    if (stop_) return;
    seen = generation_.load(std::memory_order_acquire);
    const std::function<void(int)>* task;
    int width;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task = task_;
      width = width_;
    }
    if (index < width && task) {
      (*task)(index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

}  // namespace bnas::packed
