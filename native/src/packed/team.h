// A small team of threads for one session's runs. OpenMP's pool sleeps between the ~200 short parallel sections of a
// run unless OMP_WAIT_POLICY=active, which would keep idle threads spinning for the life of the process; this team
// spins between sections only while a run is in progress (RunScope) and sleeps on a condition variable otherwise.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bnas::packed {

class Team {
 public:
  Team() = default;
  ~Team();
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  // Runs fn(0..n-1): fn(0) on the caller, the others on the team's workers (started on first use); returns when all
  // are done. n = 1 calls fn(0) inline.
  void parallel(int n, const std::function<void(int)>& fn);

  // While a scope is alive, idle workers spin (the next section starts within microseconds); after it, they sleep.
  class RunScope {
   public:
    explicit RunScope(Team& team) : team_(team) { team_.setActive(true); }
    ~RunScope() { team_.setActive(false); }

   private:
    Team& team_;
  };

 private:
  void setActive(bool active);
  void ensureWorkers(int count);
  void work(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> active_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  int width_ = 0;  // threads of the current section
  const std::function<void(int)>* task_ = nullptr;
};

}  // namespace bnas::packed
