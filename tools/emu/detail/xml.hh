// Internal: helpers for the XML answers the handler builds with pugixml (which escapes text).
#pragma once

#include <pugixml.hpp>
#include <string>
#include <string_view>

#include "http/oss/detail/pugi_string.hh"
#include "tools/emu/handler.hh"

namespace ossuring::emu::detail {

inline pugi::xml_node add_text(pugi::xml_node parent, const char* name, std::string_view value) {
  pugi::xml_node n = parent.append_child(name);
  n.text().set(std::string(value).c_str());
  return n;
}

// <Owner><ID>id</ID><DisplayName>id</DisplayName></Owner>: OSS's DisplayName is the account id.
// GetBucketInfo writes DisplayName first.
inline void add_owner(pugi::xml_node parent, std::string_view id, bool display_name_first = false) {
  pugi::xml_node owner = parent.append_child("Owner");
  if (display_name_first) {
    add_text(owner, "DisplayName", id);
    add_text(owner, "ID", id);
  } else {
    add_text(owner, "ID", id);
    add_text(owner, "DisplayName", id);
  }
}

// Gives an empty `doc` OSS's declaration, <?xml version="1.0" encoding="UTF-8"?>, and its root.
inline pugi::xml_node start_document(pugi::xml_document& doc, const char* root) {
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  return doc.append_child(root);
}

// A 200 answer carrying `doc` as application/xml.
inline response xml_response(const pugi::xml_document& doc) {
  response r;
  r.headers.add("Content-Type", "application/xml");
  r.body = oss::detail::to_string(doc, false);
  return r;
}

}  // namespace ossuring::emu::detail
