// RFC 3986 percent-encoding as OSS signs it (V4 rules), decoding with strict error reporting,
// and query-string parse/build helpers.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hh"

namespace ossuring::oss {

using query_params = std::vector<std::pair<std::string, std::string>>;

// Encodes every byte outside A-Za-z0-9-_.~ as %XX (upper-case hex).
std::string uri_encode(std::string_view s);
// Same, but keeps '/' (for paths: the V4 CanonicalURI and request targets).
std::string uri_encode_path(std::string_view s);

// Decodes %XX escapes; a malformed escape (truncated, non-hex) is an EINVAL error.
// With plus_as_space, '+' decodes to ' ' (form encoding). Listings decode with it on, as the
// official SDKs do (Go: url.QueryUnescape): OSS always escapes a literal '+' as %2B.
result<std::string> uri_decode(std::string_view s, bool plus_as_space = false);
// The same inside `s[0, n)`, which decoding never lengthens: returns the decoded length. On
// error `s` holds a partly decoded mix.
result<size_t> uri_decode_in_place(char* s, size_t n, bool plus_as_space = false);

// Splits "a=1&b&c=%20" into decoded pairs; a bare `b` has an empty value; empty segments are
// skipped. Errors on bad escapes.
result<query_params> parse_query(std::string_view query);
// Builds "a=1&b&c=%20" in the given order with uri_encode; an empty value is written bare.
std::string build_query(const query_params& params);

}  // namespace ossuring::oss
