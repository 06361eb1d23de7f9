// Shared HTTP/2 session plumbing: byte pump, output batching, settings and header conversion.
#include "http/h2_common.hh"

#include <algorithm>
#include <cstring>

namespace ossuring::http {

namespace {

// A frame at least this large is not copied into the output batch but written from nghttp2's
// buffer, gathered with what was batched before it.
constexpr size_t direct_threshold = 64 * 1024;
// Lendable body bytes fewer than this are copied into their frame instead: a piece of their own
// would cost more in the gathered write than the copy.
constexpr size_t min_lend = 4096;

error nghttp2_failure(std::string_view what, int rv) {
  return make_error(EPROTO, "http2: " + std::string(what) + ": " + nghttp2_strerror(rv));
}

bool is_connection_specific(std::string_view name) {
  return iequals(name, "connection") || iequals(name, "keep-alive") ||
         iequals(name, "proxy-connection") || iequals(name, "transfer-encoding") ||
         iequals(name, "upgrade") || iequals(name, "host");
}

}  // namespace

status h2_session::start(bool server, const h2_settings& settings,
                         nghttp2_session_callbacks* callbacks) {
  _settings = settings;
  nghttp2_option* raw_option = nullptr;
  if (int rv = nghttp2_option_new(&raw_option); rv != 0) {
    return nghttp2_failure("option_new", rv);
  }
  detail::nghttp2_option_ptr option(raw_option);
  nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks, data_length);
  nghttp2_session_callbacks_set_send_data_callback(callbacks, send_data);
  nghttp2_option_set_no_auto_window_update(option.get(), settings.manual_flow_control ? 1 : 0);
  nghttp2_session* raw = nullptr;
  int rv = server ? nghttp2_session_server_new2(&raw, callbacks, this, option.get())
                  : nghttp2_session_client_new2(&raw, callbacks, this, option.get());
  if (rv != 0) {
    return nghttp2_failure("session_new", rv);
  }
  _session.reset(raw);
  std::vector<nghttp2_settings_entry> entries = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE,
       std::clamp<uint32_t>(settings.max_frame_size, 16384, (1u << 24) - 1)},
  };
  if (!server) {
    entries.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  }
  rv = nghttp2_submit_settings(_session.get(), NGHTTP2_FLAG_NONE, entries.data(), entries.size());
  if (rv != 0) {
    return nghttp2_failure("submit_settings", rv);
  }
  rv = nghttp2_session_set_local_window_size(_session.get(), NGHTTP2_FLAG_NONE, 0,
                                             static_cast<int32_t>(settings.connection_window_size));
  if (rv != 0) {
    return nghttp2_failure("set_local_window_size", rv);
  }
  return {};
}

ssize_t h2_session::data_length(nghttp2_session*, uint8_t, int32_t, int32_t session_window,
                                int32_t stream_window, uint32_t peer_max_frame, void* user) {
  const auto* self = static_cast<const h2_session*>(user);
  int64_t n = std::min<int64_t>({session_window, stream_window, peer_max_frame,
                                 std::max<uint32_t>(self->_settings.max_frame_size, 16384)});
  return static_cast<ssize_t>(std::max<int64_t>(n, 1));
}

ssize_t h2_session::read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                              uint32_t* flags, nghttp2_data_source* source, void*) {
  auto* ps = static_cast<pull_state*>(source->ptr);
  if (ps->cancelled) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (ps->lender != nullptr) {
    // Taken only in send_data(): nghttp2 drops a NO_COPY frame whose stream closed meanwhile.
    body_lender::lendable l = ps->lender->peek();
    if (l.bytes.size() >= min_lend || (l.last && !l.bytes.empty())) {
      size_t n = std::min(length, l.bytes.size());
      ps->lent = l.bytes.data();
      *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
      if (l.last && n == l.bytes.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      }
      return static_cast<ssize_t>(n);
    }
  }
  if (!ps->pull) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  result<body_chunk> r = ps->pull(std::span(reinterpret_cast<char*>(buf), length));
  if (!r) {
    ps->failure = std::move(r).err();
    ps->failed = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (r->eof) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (r->bytes == 0) {
    return NGHTTP2_ERR_DEFERRED;  // a source that produced nothing waits for resume()
  }
  return static_cast<ssize_t>(std::min(r->bytes, length));
}

int h2_session::send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                          size_t length, nghttp2_data_source* source, void* user) {
  auto* self = static_cast<h2_session*>(user);
  auto* ps = static_cast<pull_state*>(source->ptr);
  self->append_batch(reinterpret_cast<const char*>(framehd), 9);
  size_t padlen = frame->data.padlen;
  if (padlen > 0) {
    char pad_length = static_cast<char>(padlen - 1);
    self->append_batch(&pad_length, 1);
  }
  if (length > 0) {
    ps->lender->take(length);
    self->_pieces.push_back(piece{0, length, ps->lent, ps->lender});
    self->_pending += length;
  }
  if (padlen > 1) {
    std::string zeros(padlen - 1, '\0');
    self->append_batch(zeros.data(), zeros.size());
  }
  return 0;
}

nghttp2_data_provider h2_session::provider_for(pull_state* state) {
  nghttp2_data_provider p;
  p.source.ptr = state;
  p.read_callback = read_body;
  return p;
}

nghttp2_nv h2_session::make_nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

void h2_session::append_headers(const header_list& headers, std::string& lowered,
                                std::vector<nghttp2_nv>& nva) {
  auto has_upper = [](std::string_view name) {
    return std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  };
  // Reserve first: nva points into `lowered`, which must not reallocate afterwards.
  size_t need = 0;
  for (const header& h : headers) {
    need += has_upper(h.name) ? h.name.size() : 0;
  }
  lowered.reserve(lowered.size() + need);
  nva.reserve(nva.size() + headers.size());
  for (const header& h : headers) {
    if (is_connection_specific(h.name)) {
      continue;
    }
    std::string_view name = h.name;
    if (has_upper(name)) {
      size_t at = lowered.size();
      for (char c : name) {
        lowered += c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
      }
      name = std::string_view(lowered).substr(at);
    }
    nva.push_back(make_nv(name, h.value));
  }
}

status h2_session::feed(std::span<const char> data) {
  ssize_t rv = nghttp2_session_mem_recv(_session.get(),
                                        reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (rv < 0) {
    return nghttp2_failure("receive", static_cast<int>(rv));
  }
  return {};
}

void h2_session::append_batch(const char* data, size_t n) {
  if (_pieces.size() > _next_piece && _pieces.back().at == nullptr) {
    _pieces.back().size += n;  // batch pieces are contiguous in _out: extend the last
  } else {
    _pieces.push_back(piece{_out.size(), n, nullptr, nullptr});
  }
  _out.append(data, n);
  _pending += n;
}

void h2_session::compact() {
  if (_next_piece == _pieces.size()) {
    _out.clear();
    _pieces.clear();
    _next_piece = 0;
    _piece_pos = 0;
    return;
  }
  // Bytes of _out before the first unsent batch piece are sent.
  size_t sent = _out.size();
  for (size_t i = _next_piece; i < _pieces.size(); ++i) {
    if (_pieces[i].at == nullptr) {
      sent = _pieces[i].offset;
      break;
    }
  }
  if (sent < _settings.output_batch) {
    return;
  }
  _out.erase(0, sent);
  _pieces.erase(_pieces.begin(), _pieces.begin() + static_cast<ptrdiff_t>(_next_piece));
  _next_piece = 0;
  for (piece& p : _pieces) {
    if (p.at == nullptr) {
      p.offset -= sent;
    }
  }
}

result<std::span<const std::span<const char>>> h2_session::output_pieces() {
  compact();
  while (!_direct_pending && _pending < _settings.output_batch) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(_session.get(), &data);
    if (n < 0) {
      return nghttp2_failure("send", static_cast<int>(n));
    }
    if (n == 0) {
      break;
    }
    if (static_cast<size_t>(n) >= direct_threshold) {
      // A big DATA frame from a pulled body: written from nghttp2's buffer, and mem_send is not
      // called again until it has all been consumed.
      _pieces.push_back(
          piece{0, static_cast<size_t>(n), reinterpret_cast<const char*>(data), nullptr});
      _pending += static_cast<size_t>(n);
      _direct_pending = true;
      break;
    }
    append_batch(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  _view.clear();
  for (size_t i = _next_piece; i < _pieces.size(); ++i) {
    const piece& p = _pieces[i];
    const char* at = p.at != nullptr ? p.at : _out.data() + p.offset;
    size_t skip = i == _next_piece ? _piece_pos : 0;
    _view.emplace_back(at + skip, p.size - skip);
  }
  return std::span<const std::span<const char>>(_view);
}

result<std::string_view> h2_session::output() {
  auto pieces = output_pieces();
  if (!pieces) {
    return std::move(pieces).err();
  }
  if (pieces->empty()) {
    return std::string_view();
  }
  return std::string_view(pieces->front().data(), pieces->front().size());
}

void h2_session::consume_output(size_t n) {
  while (n > 0 && _next_piece < _pieces.size()) {
    piece& p = _pieces[_next_piece];
    size_t take = std::min(n, p.size - _piece_pos);
    _piece_pos += take;
    _pending -= take;
    n -= take;
    if (p.lender != nullptr) {
      p.lender->returned(take);
    }
    if (_piece_pos == p.size) {
      if (p.at != nullptr && p.lender == nullptr) {
        _direct_pending = false;
      }
      ++_next_piece;
      _piece_pos = 0;
    }
  }
}

void h2_session::abandon_output() {
  for (size_t i = _next_piece; i < _pieces.size(); ++i) {
    const piece& p = _pieces[i];
    if (p.lender != nullptr) {
      p.lender->returned(p.size - (i == _next_piece ? _piece_pos : 0));
    }
  }
  _out.clear();
  _pieces.clear();
  _view.clear();
  _next_piece = 0;
  _piece_pos = 0;
  _pending = 0;
  _direct_pending = false;
}

bool h2_session::alive() const {
  return has_output() || nghttp2_session_want_read(_session.get());
}

status h2_session::consume(int32_t stream_id, size_t n) {
  if (!_settings.manual_flow_control || n == 0) {
    return {};
  }
  if (int rv = nghttp2_session_consume(_session.get(), stream_id, n); rv != 0) {
    return nghttp2_failure("consume", rv);
  }
  return {};
}

void h2_session::release(int32_t stream_id, size_t n) {
  if (_settings.manual_flow_control && n > 0) {
    nghttp2_session_consume(_session.get(), stream_id, n);
  }
}

status h2_session::resume(int32_t stream_id) {
  if (int rv = nghttp2_session_resume_data(_session.get(), stream_id); rv != 0) {
    return nghttp2_failure("resume stream " + std::to_string(stream_id), rv);
  }
  return {};
}

status h2_session::reset_stream(int32_t stream_id, uint32_t error_code) {
  int rv = nghttp2_submit_rst_stream(_session.get(), NGHTTP2_FLAG_NONE, stream_id, error_code);
  if (rv != 0) {
    return nghttp2_failure("reset stream " + std::to_string(stream_id), rv);
  }
  return {};
}

status h2_session::ping() {
  if (int rv = nghttp2_submit_ping(_session.get(), NGHTTP2_FLAG_NONE, nullptr); rv != 0) {
    return nghttp2_failure("ping", rv);
  }
  return {};
}

status h2_session::shutdown_notice() {
  if (int rv = nghttp2_submit_shutdown_notice(_session.get()); rv != 0) {
    return nghttp2_failure("shutdown notice", rv);
  }
  return {};
}

status h2_session::goaway(uint32_t error_code, int32_t last_stream_id) {
  if (last_stream_id < 0) {
    last_stream_id = nghttp2_session_get_last_proc_stream_id(_session.get());
  }
  int rv = nghttp2_submit_goaway(_session.get(), NGHTTP2_FLAG_NONE, last_stream_id, error_code,
                                 nullptr, 0);
  if (rv != 0) {
    return nghttp2_failure("goaway", rv);
  }
  return {};
}

std::string_view h2_error_name(uint32_t error_code) {
  return nghttp2_http2_strerror(error_code);
}

}  // namespace ossuring::http
