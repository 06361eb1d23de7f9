// reactor_pool: CPU-list parsing, thread start-up, and the two-phase stop.
#include "core/reactor_pool.hh"

#include <algorithm>
#include <string>

namespace ossuring {

namespace {

result<int> parse_cpu_number(std::string_view s, std::string_view whole) {
  if (s.empty() || s.size() > 5) {
    return make_error(EINVAL, "bad CPU list '" + std::string(whole) + "'");
  }
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return make_error(EINVAL, "bad CPU list '" + std::string(whole) + "'");
    }
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

result<std::vector<int>> parse_cpu_list(std::string_view s) {
  std::vector<int> cpus;
  std::string_view rest = s;
  if (trim(rest).empty()) {
    return make_error(EINVAL, "empty CPU list");
  }
  while (true) {
    size_t comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    size_t dash = item.find('-');
    result<int> lo = parse_cpu_number(item.substr(0, dash), s);
    if (!lo.ok()) {
      return std::move(lo).err();
    }
    int hi_value = *lo;
    if (dash != std::string_view::npos) {
      result<int> hi = parse_cpu_number(item.substr(dash + 1), s);
      if (!hi.ok()) {
        return std::move(hi).err();
      }
      if (*hi < *lo) {
        return make_error(EINVAL, "descending range in CPU list '" + std::string(s) + "'");
      }
      hi_value = *hi;
    }
    for (int c = *lo; c <= hi_value; ++c) {
      if (std::find(cpus.begin(), cpus.end(), c) != cpus.end()) {
        return make_error(EINVAL,
                          "CPU " + std::to_string(c) + " listed twice in '" + std::string(s) + "'");
      }
      cpus.push_back(c);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    rest = rest.substr(comma + 1);
  }
  return cpus;
}

reactor_pool::reactor_pool(reactor_pool_config cfg) : _cfg(std::move(cfg)) {
  if (_cfg.cpus.empty()) {
    throw std::invalid_argument("reactor_pool: no CPUs given");
  }
  _exit_latch = std::make_unique<std::latch>(static_cast<std::ptrdiff_t>(_cfg.cpus.size()));
  for (size_t i = 0; i < _cfg.cpus.size(); ++i) {
    auto s = std::make_unique<shard>();
    s->index = static_cast<unsigned>(i);
    s->cpu = _cfg.cpus[i];
    _shards.push_back(std::move(s));
  }
  std::exception_ptr failure;
  size_t started_count = 0;
  for (auto& s : _shards) {
    std::promise<void> started;
    std::future<void> ready = started.get_future();
    s->thread = std::thread([this, &s = *s, &started] { thread_main(s, started); });
    try {
      ready.get();
      ++started_count;
    } catch (...) {
      failure = std::current_exception();
      s->thread.join();
      break;
    }
  }
  if (failure) {
    // The threads that did start must still meet at the exit latch: count the absent ones down.
    _exit_latch->count_down(static_cast<std::ptrdiff_t>(_shards.size() - started_count));
    _shards.resize(started_count);
    stop();
    std::rethrow_exception(failure);
  }
}

reactor_pool::~reactor_pool() {
  stop();
}

task<void> reactor_pool::wait_flag(shard& s, bool shard::*flag) {
  struct awaiter {
    shard& s;
    bool shard::*flag;
    bool await_ready() const noexcept { return s.*flag; }
    void await_suspend(std::coroutine_handle<> h) noexcept { s.waiter = h; }
    void await_resume() const noexcept {}
  };
  co_await awaiter{s, flag};
}

void reactor_pool::wake(shard& s, bool shard::*flag) {
  s.*flag = true;
  if (s.waiter) {
    s.r->schedule(std::exchange(s.waiter, {}));
  }
}

void reactor_pool::thread_main(shard& s, std::promise<void>& started) {
  std::optional<reactor> r;
  try {
    r.emplace(reactor_config{.entries = _cfg.entries,
                             .cpu = _cfg.pin ? s.cpu : -1,
                             .id = s.index,
                             .sqe128 = _cfg.sqe128,
                             .poll_us = _cfg.poll_us});
  } catch (...) {
    started.set_exception(std::current_exception());
    return;
  }
  s.r = &*r;
  started.set_value();  // `started` is gone after this line

  // Phase 1: serve until stop is requested and every background task has finished.
  r->run(wait_flag(s, &shard::stop_requested));
  // Phase 2: keep serving messages for reactors still draining; the last to drain releases all.
  if (_drained.fetch_add(1) + 1 == _shards.size()) {
    for (auto& other : _shards) {
      shard* o = other.get();
      o->r->post([this, o] { wake(*o, &shard::linger_over); });
    }
  }
  r->run(wait_flag(s, &shard::linger_over));
  // Nobody may post to a reactor once it is destroyed: wait until every thread is out of its loop.
  _exit_latch->arrive_and_wait();
  // request_stop() may still be inside post() (its eventfd write) on this reactor.
  std::lock_guard wait_for_stopper(_stop_mutex);
}

void reactor_pool::request_stop() {
  std::lock_guard lock(_stop_mutex);
  if (_stop_requested.exchange(true)) {
    return;
  }
  for (auto& s : _shards) {
    shard* p = s.get();
    p->r->post([this, p] {
      p->stop_src.request_abort();
      wake(*p, &shard::stop_requested);
    });
  }
}

void reactor_pool::stop() {
  request_stop();
  for (auto& s : _shards) {
    if (s->thread.joinable()) {
      s->thread.join();
    }
  }
}

}  // namespace ossuring
