// Listing pages built from memory (mock clients, tests), with the same one-text layout as a
// parsed page.
#include "http/oss/object_client.hh"

namespace ossuring::oss {

list_page make_list_page(const std::vector<object_info>& objects) {
  auto text = std::make_shared<std::string>();
  size_t bytes = 0;
  for (const object_info& o : objects) {
    bytes += o.key.size() + o.etag.size() + o.storage_class.size() + o.object_type.size();
  }
  // Reserved whole, the text never moves while it is appended to, so views taken along the way
  // stay valid.
  text->reserve(bytes);
  auto append = [&text](const std::string& s) {
    size_t at = text->size();
    text->append(s);
    return std::string_view(*text).substr(at, s.size());
  };
  list_page page;
  page.objects.reserve(objects.size());
  for (const object_info& o : objects) {
    listed_object l;
    l.key = append(o.key);
    l.size = o.size;
    l.mtime_sec = o.mtime_sec;
    l.mtime_nsec = o.mtime_nsec;
    l.etag = append(o.etag);
    l.storage_class = append(o.storage_class);
    l.object_type = append(o.object_type);
    page.objects.push_back(l);
  }
  page.text = std::move(text);
  return page;
}

}  // namespace ossuring::oss
