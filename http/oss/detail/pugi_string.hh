// Serialises a pugixml document into a std::string (shared by the XML builders).
#pragma once

#include <pugixml.hpp>
#include <string>

namespace ossuring::oss::detail {

inline std::string to_string(const pugi::xml_document& doc, bool declaration) {
  struct string_writer : pugi::xml_writer {
    std::string out;
    void write(const void* data, size_t size) override {
      out.append(static_cast<const char*>(data), size);
    }
  } w;
  unsigned flags = pugi::format_raw;
  if (!declaration) {
    flags |= pugi::format_no_declaration;
  }
  doc.save(w, "", flags, pugi::encoding_utf8);
  return std::move(w.out);
}

}  // namespace ossuring::oss::detail
