// wake_bench: the cost of a request/reply round trip between two threads, without FUSE, to see
// what a poll-mode daemon leaves of a cross-CPU round trip (docs/benchmarks.md "Poll mode").
//
// A client thread posts a request and waits for the reply; a server thread waits for the
// request and replies. Each side either sleeps on a futex (as a FUSE caller always does, and a
// reactor without poll mode) or spins on the shared word (a reactor in poll mode). With both
// threads on one CPU only sleeping makes sense. The server busies itself WORK_US before each reply
// (a daemon's work per request), so that a sleeping client is asleep when the reply comes. Prints
// the median µs per round trip over the runs, the server's work included.
//
// Usage: wake_bench CLIENT_CPU SERVER_CPU [WORK_US] [ROUNDS] [RUNS]
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

// 0: idle, 1: request posted, 2: reply posted.
std::atomic<uint32_t> g_word{0};

void futex_wait(uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

void futex_wake() {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
          0);
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
    std::fprintf(stderr, "wake_bench: cannot pin to CPU %d\n", cpu);
    std::exit(1);
  }
}

// Waits until the word holds `want`, spinning or sleeping. A sleeper is always woken (the other
// side wakes after every store), so a spinner's store plus wake costs the same on both paths.
void await_value(uint32_t want, bool spin) {
  uint32_t v;
  while ((v = g_word.load(std::memory_order_acquire)) != want) {
    if (spin) {
      __builtin_ia32_pause();
    } else {
      futex_wait(v);
    }
  }
}

void busy_for(double us) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double, std::micro>(us);
  while (std::chrono::steady_clock::now() < until) {
  }
}

double run(int client_cpu, int server_cpu, bool client_spins, bool server_spins, double work_us,
           int rounds) {
  g_word.store(0);
  std::thread server([&] {
    pin(server_cpu);
    for (int i = 0; i < rounds; ++i) {
      await_value(1, server_spins);
      busy_for(work_us);
      g_word.store(2, std::memory_order_release);
      if (!client_spins) {
        futex_wake();
      }
    }
  });
  pin(client_cpu);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    g_word.store(1, std::memory_order_release);
    if (!server_spins) {
      futex_wake();
    }
    await_value(2, client_spins);
  }
  double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
      rounds;
  g_word.store(1);  // release a server still waiting (none: it ran `rounds` times)
  server.join();
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: wake_bench CLIENT_CPU SERVER_CPU [WORK_US] [ROUNDS] [RUNS]\n");
    return 2;
  }
  int client_cpu = std::atoi(argv[1]);
  int server_cpu = std::atoi(argv[2]);
  double work_us = argc > 3 ? std::atof(argv[3]) : 5.0;
  int rounds = argc > 4 ? std::atoi(argv[4]) : 10000;
  int runs = argc > 5 ? std::atoi(argv[5]) : 5;
  struct mode {
    const char* name;
    bool client_spins;
    bool server_spins;
  };
  std::vector<mode> modes = {{"both sleep (a FUSE caller, a sleeping reactor)", false, false}};
  if (client_cpu != server_cpu) {
    modes.push_back({"server spins (a FUSE caller, a reactor in poll mode)", false, true});
    modes.push_back({"both spin (the cache-line floor)", true, true});
  }
  std::printf(
      "# client on CPU %d, server on CPU %d, %.1f us of work per reply, %d round trips, "
      "median of %d runs\n",
      client_cpu, server_cpu, work_us, rounds, runs);
  for (const mode& m : modes) {
    std::vector<double> v;
    for (int r = 0; r < runs; ++r) {
      v.push_back(run(client_cpu, server_cpu, m.client_spins, m.server_spins, work_us, rounds));
    }
    std::sort(v.begin(), v.end());
    std::printf("%-55s %8.2f us per round trip (min %.2f, max %.2f)\n", m.name, v[v.size() / 2],
                v.front(), v.back());
  }
  return 0;
}
