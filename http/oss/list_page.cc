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
  text->reserve(bytes);
  // Offsets first: the views are made once the text has its final address.
  struct span_of {
    size_t key, etag, storage_class, object_type;
  };
  std::vector<span_of> at;
  at.reserve(objects.size());
  for (const object_info& o : objects) {
    span_of s{};
    s.key = text->size();
    text->append(o.key);
    s.etag = text->size();
    text->append(o.etag);
    s.storage_class = text->size();
    text->append(o.storage_class);
    s.object_type = text->size();
    text->append(o.object_type);
    at.push_back(s);
  }
  list_page page;
  page.objects.reserve(objects.size());
  std::string_view all = *text;
  for (size_t i = 0; i < objects.size(); ++i) {
    const object_info& o = objects[i];
    listed_object l;
    l.key = all.substr(at[i].key, o.key.size());
    l.size = o.size;
    l.mtime_sec = o.mtime_sec;
    l.mtime_nsec = o.mtime_nsec;
    l.etag = all.substr(at[i].etag, o.etag.size());
    l.storage_class = all.substr(at[i].storage_class, o.storage_class.size());
    l.object_type = all.substr(at[i].object_type, o.object_type.size());
    page.objects.push_back(l);
  }
  page.text = std::move(text);
  return page;
}

}  // namespace ossuring::oss
