// The kernels' own thread pool: a batch is cut into fixed chunks of images, and the calling thread and
// the workers take chunks until none are left.
//
// Why not OpenMP: under OMP_WAIT_POLICY=PASSIVE (what `dlexam` sets, so that spinning threads never
// hold up a busy machine) every parallel region wakes sleeping threads, a wake-up cost of tens of
// microseconds on a virtual machine, four regions a step; under ACTIVE the spinning threads of two
// OpenMP runtimes (PyTorch's and ours) fight for the cores and collapse beside a busy process.
//
// Here:
//  * chunks are claimed from one atomic counter, so a thread that lost its core holds up at most the
//    one chunk it has, and the caller does whatever is left; chunk boundaries never depend on the
//    thread count, so results do not either (each chunk's sums are kept apart and added in order);
//  * waits never spin while the machine is busy. The wait policy is chosen from the machine's load
//    and checked again every quarter second: "spin" (wait for the next job, or for the last chunk,
//    by spinning up to kSpinNs, then sleep) when this process's threads have cores to themselves,
//    "sleep" (a futex wait after at most kShortSpinNs, 20 us, less than a wait and a wake cost) when
//    other runnable tasks would have to share cores with a spinning thread. The load is the number of
//    runnable tasks in /proc/loadavg, less this pool's own running threads. DLEXAM_KERNEL_WAIT=spin|sleep fixes the policy (for benchmarks and tests).
//  * one job at a time; a second caller (another Python thread) runs its job on its own thread.
//  * a job can also be started on the workers alone (start/join): the next training batch is gathered
//    and standardised while the calling thread runs the Python of this step.
//  * after fork() the child gets a fresh pool (the parent's workers do not exist there).

#pragma once

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace dlexam {
namespace {  // internal linkage: each library loaded (one per set of sizes, native or portable) keeps
             // its own pool and scratch; shared ones (GCC makes inline statics process-wide unique)
             // mixed a portable build's 16-byte aligned buffers into AVX-512 code

typedef void (*ChunkFn)(void* ctx, int64_t chunk);

inline void futex_wait(std::atomic<uint32_t>* word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

inline void futex_wake_all(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Pool {
 public:
  static constexpr int64_t kSpinNs = 2'000'000;      // quiet machine: wait this long before sleeping
  static constexpr int64_t kShortSpinNs = 20'000;    // busy machine: this long (a futex wait and wake cost more)
  static constexpr int64_t kPolicyEveryNs = 250'000'000;
  static constexpr uint32_t kClosed = 0xFFFFFFFFu;  // the chunk index of a job being replaced: none left

  static Pool& get() {
    static std::once_flag once;
    std::call_once(once, [] { pthread_atfork(nullptr, nullptr, [] { instance_ = new Pool(); }); });
    Pool* p = instance_.load(std::memory_order_acquire);
    if (p == nullptr) {
      Pool* fresh = new Pool();
      if (instance_.compare_exchange_strong(p, fresh)) return *fresh;
      delete fresh;
    }
    return *instance_.load(std::memory_order_acquire);
  }

  // fn(ctx, c) for c in [0, chunks), on up to `threads` threads (the caller among them).
  void run(int threads, int64_t chunks, ChunkFn fn, void* ctx) {
    join_if_mine();
    if (threads > 1 && chunks > 1 && submit_.try_lock()) {
      publish(threads, chunks, fn, ctx);
      work(epoch_);
      wait_done();
      submit_.unlock();
    } else {
      for (int64_t c = 0; c < chunks; ++c) fn(ctx, c);
    }
  }

  // Starts fn over the chunks on the workers alone and returns at once; the caller's join() (or its next
  // run()) waits for the end, taking whatever chunks no worker has started. Without workers to give it
  // to (threads <= 1, or the pool busy with another caller's job), it runs here before returning.
  void start(int threads, int64_t chunks, ChunkFn fn, void* ctx) {
    join_if_mine();
    if (threads > 1 && chunks > 0 && submit_.try_lock()) {
      publish(threads, chunks, fn, ctx);
      pending_owner_.store(pthread_self(), std::memory_order_relaxed);
      pending_.store(true, std::memory_order_release);
    } else {
      for (int64_t c = 0; c < chunks; ++c) fn(ctx, c);
    }
  }

  // Waits for the job this thread started, if any.
  void join_if_mine() {
    if (!pending_.load(std::memory_order_acquire) || !pthread_equal(pending_owner_.load(), pthread_self())) return;
    work(epoch_);
    wait_done();
    pending_.store(false, std::memory_order_relaxed);
    submit_.unlock();
  }

  // "spin" or "sleep": the wait policy now in force.
  const char* policy() const { return spin_.load() ? "spin" : "sleep"; }

 private:
  Pool() {
    const char* forced = std::getenv("DLEXAM_KERNEL_WAIT");
    if (forced != nullptr && std::strcmp(forced, "spin") == 0) forced_ = 1;
    if (forced != nullptr && std::strcmp(forced, "sleep") == 0) forced_ = 0;
    cpu_set_t set;
    cores_ = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : int(sysconf(_SC_NPROCESSORS_ONLN));
    if (cores_ < 1) cores_ = 1;
    if (forced_ >= 0) spin_.store(forced_ == 1);
  }

  // Publishes a job for `threads` - 1 workers (and whoever calls work(epoch_)).
  void publish(int threads, int64_t chunks, ChunkFn fn, void* ctx) {
    const int helpers = int(std::min<int64_t>(threads - 1, chunks));
    start_workers(helpers);
    update_policy(helpers);
    const uint32_t e = ++epoch_;
    // First close the last job: a worker still in work() for it may have read its state (all chunks
    // claimed) but not yet its chunk count; had it read the count stored below, its claim of a chunk
    // past the end would succeed and count down this job's chunks. Once it reads any field stored
    // below (release / acquire), its compare-and-swap on the old state sees this store and fails.
    state_.store((uint64_t(e) << 32) | kClosed, std::memory_order_seq_cst);
    active_.store(helpers, std::memory_order_relaxed);
    fn_.store(fn, std::memory_order_release);
    ctx_.store(ctx, std::memory_order_release);
    chunks_.store(chunks, std::memory_order_release);
    remaining_.store(chunks, std::memory_order_relaxed);
    state_.store(uint64_t(e) << 32, std::memory_order_release);
    epoch_word_.store(e, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(&epoch_word_);
  }

  // Claim and run chunks of job `e` until none are left.
  void work(uint32_t e) {
    for (;;) {
      uint64_t s = state_.load(std::memory_order_acquire);
      if (uint32_t(s >> 32) != e) return;
      const ChunkFn fn = fn_.load(std::memory_order_acquire);
      void* const ctx = ctx_.load(std::memory_order_acquire);
      const int64_t chunk = int64_t(uint32_t(s));
      if (chunk >= chunks_.load(std::memory_order_acquire)) return;
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) continue;
      fn(ctx, chunk);  // a chunk was free, so this job's fields are still the ones read above
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        mark_done(e);
        if (caller_sleeping_.load(std::memory_order_seq_cst)) futex_wake_all(&done_);
      }
    }
  }

  // done_ holds the newest finished job's epoch; it only moves forward, so a worker that finishes the last
  // chunk of a job and is preempted before saying so cannot later mark a newer job done (or undone).
  void mark_done(uint32_t e) {
    uint32_t v = done_.load(std::memory_order_seq_cst);
    while (int32_t(e - v) > 0 && !done_.compare_exchange_weak(v, e, std::memory_order_seq_cst)) {
    }
  }

  void wait_done() {
    const uint32_t e = epoch_;
    if (remaining_.load(std::memory_order_acquire) == 0) return;
    // quiet machine: spin up to kSpinNs; busy: kShortSpinNs, in case the other thread is about to finish
    const int64_t until = now_ns() + (spin_.load(std::memory_order_relaxed) ? kSpinNs : kShortSpinNs);
    for (int i = 0; remaining_.load(std::memory_order_acquire) != 0; ++i) {
      cpu_relax();
      if ((i & 63) == 0 && now_ns() > until) break;
    }
    caller_sleeping_.store(true, std::memory_order_seq_cst);
    for (uint32_t v = done_.load(std::memory_order_seq_cst); int32_t(v - e) < 0; v = done_.load(std::memory_order_seq_cst))
      futex_wait(&done_, v);
    caller_sleeping_.store(false, std::memory_order_relaxed);
  }

  void worker(int index, uint32_t seen) {
    for (;;) {
      if (epoch_word_.load(std::memory_order_acquire) == seen) {
        const bool spin = spin_.load(std::memory_order_relaxed);
        const int64_t until = now_ns() + (spin ? kSpinNs : kShortSpinNs);
        for (int i = 0; epoch_word_.load(std::memory_order_acquire) == seen; ++i) {
          cpu_relax();
          if ((i & 63) == 0 && (now_ns() > until || spin_.load(std::memory_order_relaxed) != spin)) break;
        }
      }
      while (epoch_word_.load(std::memory_order_seq_cst) == seen) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        awake_.fetch_sub(1, std::memory_order_relaxed);
        if (epoch_word_.load(std::memory_order_seq_cst) == seen) futex_wait(&epoch_word_, seen);
        awake_.fetch_add(1, std::memory_order_relaxed);
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      }
      seen = epoch_word_.load(std::memory_order_acquire);
      if (index < active_.load(std::memory_order_relaxed)) work(seen);
    }
  }

  void start_workers(int helpers) {
    while (int(workers_) < helpers) {
      const int index = workers_++;
      awake_.fetch_add(1, std::memory_order_relaxed);
      std::thread(&Pool::worker, this, index, epoch_word_.load()).detach();  // before the next job's epoch
    }
  }

  // Re-read the machine's load at most every kPolicyEveryNs: spin only if every thread of this job
  // can have a core without taking one from another runnable task.
  void update_policy(int helpers) {
    if (forced_ >= 0) return;
    const int64_t t = now_ns();
    const bool first = last_check_ == 0;
    if (!first && t - last_check_ < kPolicyEveryNs) return;
    last_check_ = t;
    FILE* f = std::fopen("/proc/loadavg", "r");
    if (f == nullptr) return;  // not Linux: keep the policy (sleep, the safe one)
    double a1, a5, a15;
    int running = 0, total = 0;
    const int got = std::fscanf(f, "%lf %lf %lf %d/%d", &a1, &a5, &a15, &running, &total);
    std::fclose(f);
    if (got != 5) return;
    const int ours = 1 + std::max(0, awake_.load(std::memory_order_relaxed));  // caller + workers awake
    const int others = std::max(0, running - ours);
    const bool quiet = others + helpers + 1 <= cores_;
    // after the first, two readings in a row decide a change, so one passing process does not flip it
    if (first || quiet == last_quiet_) spin_.store(quiet, std::memory_order_relaxed);
    last_quiet_ = quiet;
  }

  static inline std::atomic<Pool*> instance_{nullptr};

  std::mutex submit_;
  std::atomic<uint64_t> state_{0};  // (epoch << 32) | next chunk
  std::atomic<uint32_t> epoch_word_{0};
  std::atomic<int64_t> remaining_{0};
  std::atomic<uint32_t> done_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<int> sleepers_{0};
  std::atomic<int> awake_{0};
  std::atomic<int> active_{0};
  std::atomic<ChunkFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> chunks_{0};
  std::atomic<bool> spin_{false};
  std::atomic<bool> pending_{false};  // a started job not joined yet
  std::atomic<pthread_t> pending_owner_{};
  uint32_t epoch_ = 0;
  int workers_ = 0;
  int forced_ = -1;
  int cores_ = 1;
  int64_t last_check_ = 0;
  bool last_quiet_ = false;
};

}  // namespace
}  // namespace dlexam
