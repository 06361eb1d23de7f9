// HTTP/2 client session: nghttp2 callbacks mapped to per-stream events and stream accounting.
#include "http/h2_client.hh"

#include <charconv>

namespace ossuring::http {

struct h2_client_session::stream {
  h2_stream_callbacks cbs;
  pull_state body;
  response head;
  bool head_done = false;
  bool ended = false;      // END_STREAM received
  bool cancelled = false;  // by the caller: no more callbacks
  bool failed = false;     // on_data failed: the stream was reset with this error
  error failure;
};

// nghttp2 callbacks; user_data is the session.
struct h2_client_session::callbacks {
  static h2_client_session& self(void* user) { return *static_cast<h2_client_session*>(user); }

  static stream* find(void* user, int32_t id) {
    auto& streams = self(user)._streams;
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second.get();
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) {
      return 0;
    }
    stream* s = find(user, frame->hd.stream_id);
    if (s == nullptr || s->head_done) {
      return 0;  // trailers are not used by OSS; ignored
    }
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      int code = 0;
      std::from_chars(v.data(), v.data() + v.size(), code);
      s->head.status = code;
    } else {
      s->head.headers.add(n, v);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    h2_client_session& sess = self(user);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA: {
        if (frame->hd.type == NGHTTP2_DATA) {
          sess.release(frame->hd.stream_id, frame->data.padlen);
        }
        stream* s = find(user, frame->hd.stream_id);
        if (s == nullptr) {
          return 0;
        }
        if (frame->hd.type == NGHTTP2_HEADERS && !s->head_done) {
          if (s->head.status >= 100 && s->head.status < 200) {
            s->head = {};  // interim response; the final head follows
          } else {
            s->head_done = true;
            if (!s->cancelled && s->cbs.on_head) {
              s->cbs.on_head(s->head);
            }
          }
        }
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          s->ended = true;
        }
        return 0;
      }
      case NGHTTP2_GOAWAY:
        sess._goaway_last_stream_id = frame->goaway.last_stream_id;
        if (sess._options.events.on_goaway) {
          sess._options.events.on_goaway(frame->goaway.last_stream_id, frame->goaway.error_code);
        }
        return 0;
      case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 && sess._options.events.on_ping_ack) {
          sess._options.events.on_ping_ack();
        }
        return 0;
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 && sess._options.events.on_settings) {
          sess._options.events.on_settings();
        }
        return 0;
      default:
        return 0;
    }
  }

  static int on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                           const uint8_t* data, size_t len, void* user) {
    stream* s = find(user, stream_id);
    if (s == nullptr || s->cancelled || s->failed || !s->cbs.on_data) {
      self(user).release(stream_id, len);  // nobody will consume it
      return 0;
    }
    status st = s->cbs.on_data(std::span(reinterpret_cast<const char*>(data), len));
    if (!st) {
      self(user).release(stream_id, len);  // the caller refused these bytes
      s->failed = true;
      s->failure = std::move(st).err();
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
    auto& streams = self(user)._streams;
    auto it = streams.find(stream_id);
    if (it == streams.end()) {
      return 0;
    }
    // Take the stream out first: on_close may submit new requests (rehashing the map).
    std::unique_ptr<stream> s = std::move(it->second);
    streams.erase(it);
    if (s->cancelled || !s->cbs.on_close) {
      return 0;
    }
    if (s->failed) {
      s->cbs.on_close(std::move(s->failure));
    } else if (s->body.failed) {
      s->cbs.on_close(std::move(s->body.failure));
    } else if (error_code == NGHTTP2_REFUSED_STREAM) {
      s->cbs.on_close(
          make_error(EAGAIN, "http2: stream refused by the server (retry on a new connection)"));
    } else if (error_code != NGHTTP2_NO_ERROR) {
      s->cbs.on_close(
          make_error(ECONNRESET, "http2: stream reset: " + std::string(h2_error_name(error_code))));
    } else if (!s->ended || !s->head_done) {
      s->cbs.on_close(make_error(EPROTO, "http2: stream closed before the response ended"));
    } else {
      s->cbs.on_close({});
    }
    return 0;
  }
};

result<std::unique_ptr<h2_client_session>> h2_client_session::create(h2_client_options options) {
  nghttp2_session_callbacks* raw = nullptr;
  if (int rv = nghttp2_session_callbacks_new(&raw); rv != 0) {
    return make_error(ENOMEM, "http2: callbacks_new failed");
  }
  detail::nghttp2_callbacks_ptr cbs(raw);
  nghttp2_session_callbacks_set_on_header_callback(raw, callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(raw, callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw, callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(raw, callbacks::on_stream_close);
  std::unique_ptr<h2_client_session> session(new h2_client_session());
  session->_options = std::move(options);
  if (status s = session->start(false, session->_options.settings, raw); !s) {
    return std::move(s).err();
  }
  return session;
}

h2_client_session::~h2_client_session() {
  // Callbacks must not run into a half-destroyed object: drop the nghttp2 session first.
  _session.reset();
}

result<int32_t> h2_client_session::submit(const request& req, h2_stream_callbacks cbs,
                                          body_pull body) {
  if (_broken) {
    return *_broken;
  }
  if (nghttp2_session_check_request_allowed(_session.get()) == 0) {
    return make_error(EAGAIN, "http2: connection is going away (retry on a new connection)");
  }
  std::string_view authority = req.authority.empty() ? req.headers.get("host") : req.authority;
  std::string names;
  std::vector<nghttp2_nv> nva = {
      make_nv(":method", req.method),
      make_nv(":scheme", _options.scheme),
      make_nv(":authority", authority),
      make_nv(":path", req.target),
  };
  append_headers(req.headers, names, nva);
  auto s = std::make_unique<stream>();
  s->cbs = std::move(cbs);
  std::string length;
  if (!body && !req.body.empty()) {
    body = body_from_string(req.body);
    // OSS wants Content-Length on uploads (411 otherwise); we know it for an owned body.
    if (!req.headers.has("content-length")) {
      length = std::to_string(req.body.size());
      nva.push_back(make_nv("content-length", length));
    }
  }
  s->body.pull = std::move(body);
  nghttp2_data_provider provider = provider_for(&s->body);
  nghttp2_priority_spec after_previous;
  const nghttp2_priority_spec* priority = nullptr;
  if (req.in_order && _streams.count(_last_in_order) != 0) {
    nghttp2_priority_spec_init(&after_previous, _last_in_order, NGHTTP2_DEFAULT_WEIGHT, 1);
    priority = &after_previous;
  }
  int32_t id = nghttp2_submit_request(_session.get(), priority, nva.data(), nva.size(),
                                      s->body.pull ? &provider : nullptr, nullptr);
  if (id < 0) {
    int err = id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? EAGAIN : EPROTO;
    return make_error(err, std::string("http2: submit request: ") + nghttp2_strerror(id));
  }
  _streams.emplace(id, std::move(s));
  if (req.in_order) {
    _last_in_order = id;
  }
  return id;
}

void h2_client_session::cancel(int32_t stream_id) {
  auto it = _streams.find(stream_id);
  if (it == _streams.end() || it->second->cancelled) {
    return;
  }
  it->second->cancelled = true;
  it->second->body.cancelled = true;
  nghttp2_submit_rst_stream(_session.get(), NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
}

void h2_client_session::fail_all(const error& why) {
  _broken = why;
  // Swapped out first: an on_close may submit a request (which then fails on _broken).
  std::unordered_map<int32_t, std::unique_ptr<stream>> streams;
  streams.swap(_streams);
  for (auto& [id, s] : streams) {
    s->body.cancelled = true;  // nghttp2 may still hold a data provider pointing at it
    if (!s->cancelled && s->cbs.on_close) {
      s->cbs.on_close(why);
    }
    _dead_streams.push_back(std::move(s));  // kept until the nghttp2 session is gone
  }
}

size_t h2_client_session::available_streams() const {
  if (_broken || goaway_received() || nghttp2_session_check_request_allowed(_session.get()) == 0) {
    return 0;
  }
  uint32_t limit =
      nghttp2_session_get_remote_settings(_session.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return limit > _streams.size() ? limit - _streams.size() : 0;
}

}  // namespace ossuring::http
