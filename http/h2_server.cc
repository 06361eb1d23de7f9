// HTTP/2 server session: request assembly from nghttp2 callbacks and pull-driven responses.
#include "http/h2_server.hh"

#include <algorithm>
#include <charconv>

namespace ossuring::http {

struct h2_server_session::stream {
  request req;
  pull_state body;
  bool dispatched = false;  // handed to on_request
};

struct h2_server_session::callbacks {
  static h2_server_session& self(void* user) { return *static_cast<h2_server_session*>(user); }

  static stream* find(void* user, int32_t id) {
    auto& streams = self(user)._streams;
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second.get();
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      self(user)._streams.emplace(frame->hd.stream_id, std::make_unique<stream>());
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    stream* s = find(user, frame->hd.stream_id);
    if (s == nullptr || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;  // trailers ignored
    }
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":method") {
      s->req.method = std::move(v);
    } else if (n == ":path") {
      s->req.target = std::move(v);
    } else if (n == ":authority") {
      s->req.authority = std::move(v);
    } else if (n == ":scheme") {
      // Not kept: the emulator serves whatever scheme the transport implies.
    } else {
      if (n == "host" && s->req.authority.empty()) {
        s->req.authority = v;
      }
      s->req.headers.add(n, v);
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                           const uint8_t* data, size_t len, void* user) {
    stream* s = find(user, stream_id);
    // The server buffers request bodies itself: received data is consumed at once.
    self(user).release(stream_id, len);
    if (s == nullptr) {
      return 0;
    }
    if (s->req.body.size() + len > self(user)._options.max_request_body) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_INTERNAL_ERROR);
      return 0;
    }
    s->req.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_DATA) {
      self(user).release(frame->hd.stream_id, frame->data.padlen);
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
      return 0;
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      return 0;
    }
    stream* s = find(user, frame->hd.stream_id);
    h2_server_session& sess = self(user);
    if (s == nullptr || s->dispatched) {
      return 0;
    }
    s->dispatched = true;
    if (sess._options.on_request) {
      // Moved out: the handler may respond (and the stream may close) before returning.
      request req = std::move(s->req);
      sess._options.on_request(frame->hd.stream_id, std::move(req));
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
    h2_server_session& sess = self(user);
    auto it = sess._streams.find(stream_id);
    if (it == sess._streams.end()) {
      return 0;
    }
    std::unique_ptr<stream> s = std::move(it->second);
    sess._streams.erase(it);
    if (sess._options.on_stream_close) {
      sess._options.on_stream_close(stream_id, error_code);
    }
    return 0;
  }
};

result<std::unique_ptr<h2_server_session>> h2_server_session::create(h2_server_options options) {
  nghttp2_session_callbacks* raw = nullptr;
  if (int rv = nghttp2_session_callbacks_new(&raw); rv != 0) {
    return make_error(ENOMEM, "http2: callbacks_new failed");
  }
  detail::nghttp2_callbacks_ptr cbs(raw);
  nghttp2_session_callbacks_set_on_begin_headers_callback(raw, callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(raw, callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(raw, callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw, callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(raw, callbacks::on_stream_close);
  std::unique_ptr<h2_server_session> session(new h2_server_session());
  session->_options = std::move(options);
  if (status s = session->start(true, session->_options.settings, raw); !s) {
    return std::move(s).err();
  }
  return session;
}

preface_match match_h2_preface(std::string_view received) {
  std::string_view preface(NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
  size_t n = std::min(received.size(), preface.size());
  if (received.substr(0, n) != preface.substr(0, n)) {
    return preface_match::other;
  }
  return n == preface.size() ? preface_match::h2 : preface_match::need_more;
}

h2_server_session::~h2_server_session() {
  _session.reset();
}

status h2_server_session::respond(int32_t stream_id, int status_code, const header_list& headers,
                                  body_pull body, body_lender* lender) {
  auto it = _streams.find(stream_id);
  if (it == _streams.end()) {
    return make_error(ENOENT, "http2: stream " + std::to_string(stream_id) + " is closed");
  }
  stream& s = *it->second;
  char code[8];
  auto [end, ec] = std::to_chars(code, code + sizeof(code), status_code);
  std::string names;
  std::vector<nghttp2_nv> nva = {make_nv(":status", std::string_view(code, end - code))};
  append_headers(headers, names, nva);
  s.body.pull = std::move(body);
  s.body.lender = lender;
  nghttp2_data_provider provider = provider_for(&s.body);
  bool has_body = s.body.pull || lender != nullptr;
  int rv = nghttp2_submit_response(_session.get(), stream_id, nva.data(), nva.size(),
                                   has_body ? &provider : nullptr);
  if (rv != 0) {
    return make_error(EPROTO, std::string("http2: submit response: ") + nghttp2_strerror(rv));
  }
  return {};
}

}  // namespace ossuring::http
