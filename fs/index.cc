// index: build (sorted DFS walk, then breadth-first relayout) and lookup; the flat file format is
// in index_file.cc.
#include "fs/index.hh"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <limits>

namespace ossuring::fs {

storage_class parse_storage_class(std::string_view s) {
  if (s.empty() || s == "Standard") {
    return storage_class::standard;
  }
  if (s == "IA") {
    return storage_class::ia;
  }
  if (s == "Archive") {
    return storage_class::archive;
  }
  if (s == "ColdArchive") {
    return storage_class::cold_archive;
  }
  if (s == "DeepColdArchive") {
    return storage_class::deep_cold_archive;
  }
  return storage_class::other;
}

std::string_view storage_class_name(storage_class c) {
  switch (c) {
    case storage_class::standard:
      return "Standard";
    case storage_class::ia:
      return "IA";
    case storage_class::archive:
      return "Archive";
    case storage_class::cold_archive:
      return "ColdArchive";
    case storage_class::deep_cold_archive:
      return "DeepColdArchive";
    case storage_class::other:
      break;
  }
  return "Other";
}

namespace {

// Hex digit values (0-15), 0xff for any other byte. Parsing the ETags' hex was about half of the
// index builder's final pass for 1M keys (perf annotate), which is why add() does it now.
constexpr std::array<uint8_t, 256> hex_table = [] {
  std::array<uint8_t, 256> t{};
  t.fill(0xff);
  for (int c = 0; c < 10; ++c) {
    t['0' + c] = static_cast<uint8_t>(c);
  }
  for (int c = 0; c < 6; ++c) {
    t['a' + c] = static_cast<uint8_t>(10 + c);
    t['A' + c] = static_cast<uint8_t>(10 + c);
  }
  return t;
}();

// Parses a 32-digit hex MD5 of one letter case; `upper` tells which case was used.
bool parse_md5(std::string_view s, uint8_t out[16], bool& upper) {
  if (s.size() != 32) {
    return false;
  }
  unsigned bad = 0;
  bool has_lower = false;
  bool has_upper = false;
  for (size_t i = 0; i < 16; ++i) {
    const auto a = static_cast<unsigned char>(s[2 * i]);
    const auto b = static_cast<unsigned char>(s[2 * i + 1]);
    const uint8_t hi = hex_table[a];
    const uint8_t lo = hex_table[b];
    bad |= hi | lo;
    out[i] = static_cast<uint8_t>(hi << 4 | (lo & 0xf));
    // Of the bytes `bad` lets through, only 'a'-'f' lie at or above 'a'.
    has_lower |= (a >= 'a') | (b >= 'a');
    has_upper |= (a >= 'A' && a <= 'F') | (b >= 'A' && b <= 'F');
  }
  if ((bad & 0xf0) != 0 || (has_lower && has_upper)) {
    return false;
  }
  upper = has_upper;
  return true;
}

// Component-wise key order: '/' sorts before every other byte, so a directory's whole subtree
// comes right after its name and before any sibling the name is a prefix of ("a/x" < "a-b").
bool key_less(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      auto ca = static_cast<unsigned char>(a[i]);
      auto cb = static_cast<unsigned char>(b[i]);
      unsigned ma = ca == '/' ? 0u : ca + 1u;
      unsigned mb = cb == '/' ? 0u : cb + 1u;
      return ma < mb;
    }
  }
  return a.size() < b.size();
}

bool valid_component(std::string_view c) {
  return !c.empty() && c != "." && c != ".." && c.size() <= index::max_name &&
         c.find('\0') == std::string_view::npos;
}

}  // namespace

index::index() {
  node root;
  root.pack(0, 0, flag_dir, 0);
  _nodes.push_back(root);
  _stats.directories = 1;
}

std::string_view index::name(uint64_t ino) const {
  const node& n = at(ino);
  return std::string_view(_names).substr(n.name_off(), n.name_len());
}

std::string index::etag(uint64_t ino) const {
  const node& n = at(ino);
  if (n.flags() & flag_etag_md5) {
    const char* digits = (n.flags() & flag_etag_upper) ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string s(32, '0');
    for (size_t i = 0; i < 16; ++i) {
      s[2 * i] = digits[n.etag[i] >> 4];
      s[2 * i + 1] = digits[n.etag[i] & 15];
    }
    return s;
  }
  if (n.flags() & flag_etag_extra) {
    uint64_t off = 0;
    uint16_t len = 0;
    std::memcpy(&off, n.etag, 8);
    std::memcpy(&len, n.etag + 8, 2);
    return _extra.substr(off, len);
  }
  return {};
}

bool index::same_entries(const index& other) const {
  if (_nodes.size() != other._nodes.size()) {
    return false;
  }
  for (uint64_t ino = 1; ino <= _nodes.size(); ++ino) {
    const node& a = at(ino);
    const node& b = other.at(ino);
    // Name and extra-ETag offsets may differ between two builds of the same listing (pages
    // arrive in any order): compare what they point at, and every other field as is.
    // A directory without a marker object (the root too) has no time of its own: it shows the
    // build's, which differs between any two builds and says nothing about the bucket.
    const bool own_mtime = (a.flags() & flag_dir) == 0 || (a.flags() & flag_marker) != 0;
    if (a.size != b.size || (own_mtime && a.mtime != b.mtime) || a.parent != b.parent ||
        a.first_child != b.first_child || a.child_count != b.child_count ||
        a.flags() != b.flags() || a.storage() != b.storage() || name(ino) != other.name(ino)) {
      return false;
    }
    if ((a.flags() & flag_etag_extra) != 0 ? etag(ino) != other.etag(ino)
                                           : std::memcmp(a.etag, b.etag, sizeof a.etag) != 0) {
      return false;
    }
  }
  return true;
}

std::string index::path(uint64_t ino) const {
  std::vector<uint64_t> chain;
  for (uint64_t i = ino; i != root_ino; i = parent(i)) {
    chain.push_back(i);
  }
  std::string p;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!p.empty()) {
      p += '/';
    }
    p += name(*it);
  }
  return p;
}

std::optional<uint64_t> index::lookup(uint64_t parent_ino, std::string_view nm) const {
  if (!valid(parent_ino) || !is_dir(parent_ino)) {
    return std::nullopt;
  }
  uint64_t lo = first_child(parent_ino);
  uint64_t hi = lo + child_count(parent_ino);
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    int c = name(mid).compare(nm);
    if (c == 0) {
      return mid;
    }
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return std::nullopt;
}

size_t index::bytes_used() const noexcept {
  return _nodes.capacity() * sizeof(node) + _names.capacity() + _extra.capacity() + sizeof(*this);
}

// ---- builder ----

index_builder::index_builder(std::string prefix) : _prefix(std::move(prefix)) {}

void index_builder::add(const oss::listed_object& obj) {
  add(obj.key, obj.size, obj.mtime_sec, obj.etag, obj.storage_class);
}

void index_builder::add(std::string_view key, uint64_t size, int64_t mtime_sec,
                        std::string_view etag, std::string_view storage) {
  if (key.substr(0, _prefix.size()) != _prefix) {
    return;
  }
  std::string_view rel = key.substr(_prefix.size());
  if (rel.empty()) {
    return;  // the marker of the mount prefix itself: the root
  }
  // One rule for every key that cannot be a path (docs/semantics.md): skip, count, warn once.
  std::string_view rest = rel.back() == '/' ? rel.substr(0, rel.size() - 1) : rel;
  bool ok = !rest.empty();
  while (ok && !rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    ok = valid_component(comp);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (slash != std::string_view::npos && rest.empty()) {
      ok = false;  // "a//" after stripping one '/' leaves a trailing empty component
    }
  }
  // A size stat cannot show or an ETag the index cannot hold: the same rule (skip, count, warn).
  const bool is_file = rel.back() != '/';
  if (!ok || rel.size() > std::numeric_limits<uint16_t>::max() ||
      (is_file && size > index::max_file_size) || etag.size() > index::max_etag) {
    if (_stats.skipped_keys++ == 0) {
      _stats.first_skipped = std::string(key);
    }
    return;
  }
  record r{};
  r.key_off = _keys.size();
  r.key_len = static_cast<uint16_t>(rel.size());
  r.size = size;
  r.mtime = static_cast<uint32_t>(std::clamp<int64_t>(mtime_sec, 0, UINT32_MAX));
  r.etag_off = _etags.size();
  // An MD5 ETag (nearly every object) is kept as its 16 bytes, parsed here while the listing
  // waits on the network rather than in finish(), which the mount waits on. Any other ETag is
  // kept whole: a cut one fails every If-Match.
  uint8_t md5[16];
  bool upper = false;
  if (parse_md5(etag, md5, upper)) {
    r.etag_form = upper ? record::md5_upper : record::md5_lower;
    etag = std::string_view(reinterpret_cast<const char*>(md5), sizeof md5);
  }
  r.etag_len = static_cast<uint16_t>(etag.size());
  r.storage = static_cast<uint8_t>(parse_storage_class(storage));
  // A listing page arrives whole and in byte order: within a run (see start_run) keys rise, and
  // one that does not starts a new run (finish() orders runs instead of keys when it can).
  if (_run_next || _records.empty() ||
      std::string_view(_keys).substr(_records.back().key_off, _records.back().key_len) >= rel) {
    _runs.push_back(static_cast<uint32_t>(_records.size()));
    _run_next = false;
  }
  _keys.append(rel);
  _etags.append(etag);
  _records.push_back(r);
}

std::vector<uint32_t> index_builder::sorted_order() {
  auto key_of = [this](uint32_t i) {
    return std::string_view(_keys).substr(_records[i].key_off, _records[i].key_len);
  };
  const auto n = static_cast<uint32_t>(_records.size());
  std::vector<uint32_t> order;
  order.reserve(n);
  // The runs (each a page or more, rising in byte order), by first key: the listings cover
  // disjoint key ranges, so this is usually every key in order already. It is kept when one
  // pass confirms it in the index's component order ('/' first), which differs from byte order
  // only where a '/' meets a lower byte ("a/x" and "a-b"); otherwise the keys are sorted.
  std::vector<std::pair<uint32_t, uint32_t>> runs;  // [begin, end)
  runs.reserve(_runs.size());
  for (size_t i = 0; i < _runs.size(); ++i) {
    runs.emplace_back(_runs[i], i + 1 < _runs.size() ? _runs[i + 1] : n);
  }
  std::sort(runs.begin(), runs.end(),
            [&](const auto& a, const auto& b) { return key_of(a.first) < key_of(b.first); });
  for (const auto& [b, e] : runs) {
    for (uint32_t i = b; i < e; ++i) {
      order.push_back(i);
    }
  }
  bool in_order = true;
  for (size_t i = 1; i < order.size() && in_order; ++i) {
    in_order = key_less(key_of(order[i - 1]), key_of(order[i]));
  }
  _stats.sorted_keys = !in_order;
  if (!in_order) {
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return key_less(key_of(a), key_of(b)); });
  }
  return order;
}

index index_builder::finish(int64_t build_time) && {
  auto key_of = [this](const record& r) {
    return std::string_view(_keys).substr(r.key_off, r.key_len);
  };
  const std::vector<uint32_t> order = sorted_order();

  // Pass 1: depth-first tree in sorted order. Names point into _keys.
  constexpr uint32_t none = UINT32_MAX;
  struct tnode {
    uint64_t name_off;
    uint32_t parent;
    uint32_t rec;  // record giving size/mtime/etag, or none for an implicit directory
    uint8_t name_len;
    uint8_t flags;
  };
  std::vector<tnode> t;
  t.reserve(_records.size() + _records.size() / 8 + 1);
  t.push_back(tnode{0, none, none, 0, index::flag_dir});
  struct frame {
    uint32_t dir;
    uint32_t last_child;
  };
  std::vector<frame> stack{{0, none}};
  auto tname = [&](uint32_t id) {
    return std::string_view(_keys).substr(t[id].name_off, t[id].name_len);
  };
  index_stats st = _stats;
  std::string_view prev;
  bool have_prev = false;
  for (uint32_t ri : order) {
    const record& r = _records[ri];
    std::string_view key = key_of(r);
    if (have_prev && key == prev) {
      ++st.duplicates;
      continue;
    }
    prev = key;
    have_prev = true;
    bool marker = key.back() == '/';
    std::string_view body = marker ? key.substr(0, key.size() - 1) : key;
    size_t depth = 0;  // number of directory components matched on the stack
    size_t pos = 0;
    while (true) {
      size_t slash = body.find('/', pos);
      bool last = slash == std::string_view::npos;
      std::string_view comp = body.substr(pos, last ? std::string_view::npos : slash - pos);
      uint64_t comp_off = r.key_off + pos;
      if (last && !marker) {
        // The leaf object: a file in the directory at `depth`.
        stack.resize(depth + 1);
        uint32_t id = static_cast<uint32_t>(t.size());
        t.push_back(tnode{comp_off, stack.back().dir, ri, static_cast<uint8_t>(comp.size()), 0});
        stack.back().last_child = id;
        break;
      }
      // A directory component.
      if (stack.size() > depth + 1 && tname(stack[depth + 1].dir) == comp) {
        ++depth;
      } else {
        stack.resize(depth + 1);
        uint32_t lc = stack.back().last_child;
        uint32_t id;
        if (lc != none && tname(lc) == comp) {
          // An object with the same name as this directory: the directory wins.
          id = lc;
          t[id].flags = index::flag_dir;
          t[id].rec = none;
          ++st.shadowed_files;
        } else {
          id = static_cast<uint32_t>(t.size());
          t.push_back(tnode{comp_off, stack.back().dir, none, static_cast<uint8_t>(comp.size()),
                            index::flag_dir});
          stack.back().last_child = id;
        }
        stack.push_back(frame{id, none});
        ++depth;
      }
      if (last) {
        // A `dir/` marker: it dates the directory.
        t[stack[depth].dir].flags |= index::flag_marker;
        t[stack[depth].dir].rec = ri;
        ++st.markers;
        break;
      }
      pos = slash + 1;
    }
  }

  // Pass 2: breadth-first relayout so each directory's children are contiguous.
  const uint32_t n = static_cast<uint32_t>(t.size());
  std::vector<uint32_t> child_begin(n + 1, 0);
  for (uint32_t i = 1; i < n; ++i) {
    ++child_begin[t[i].parent + 1];
  }
  for (uint32_t i = 0; i < n; ++i) {
    child_begin[i + 1] += child_begin[i];
  }
  std::vector<uint32_t> children(n > 0 ? n - 1 : 0);
  {
    std::vector<uint32_t> fill(child_begin.begin(), child_begin.end() - 1);
    for (uint32_t i = 1; i < n; ++i) {
      children[fill[t[i].parent]++] = i;  // creation order = name order within a parent
    }
  }
  std::vector<uint32_t> bfs;
  bfs.reserve(n);
  bfs.push_back(0);
  std::vector<uint32_t> new_pos(n);
  index out;
  out._nodes.clear();
  out._nodes.resize(n);
  out._build_time = build_time;
  size_t names_total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    names_total += t[i].name_len;
  }
  out._names.reserve(names_total);
  st.objects = 0;
  st.directories = 0;
  for (uint32_t k = 0; k < bfs.size(); ++k) {
    uint32_t id = bfs[k];
    new_pos[id] = k;
    const tnode& tn = t[id];
    index::node& nd = out._nodes[k];
    uint8_t flags = tn.flags;
    uint8_t storage = 0;
    nd.parent = id == 0 ? 0 : new_pos[tn.parent];
    nd.mtime = static_cast<uint32_t>(std::clamp<int64_t>(build_time, 0, UINT32_MAX));
    if (flags & index::flag_dir) {
      ++st.directories;
      nd.first_child = static_cast<uint32_t>(bfs.size());
      nd.child_count = child_begin[id + 1] - child_begin[id];
      for (uint32_t c = child_begin[id]; c < child_begin[id + 1]; ++c) {
        bfs.push_back(children[c]);
      }
    } else {
      ++st.objects;
    }
    if (tn.rec != none) {
      const record& r = _records[tn.rec];
      nd.mtime = r.mtime;
      storage = r.storage;
      if (!(flags & index::flag_dir)) {
        nd.size = r.size;
      }
      std::string_view etag = std::string_view(_etags).substr(r.etag_off, r.etag_len);
      if (r.etag_form != record::text) {
        std::memcpy(nd.etag, etag.data(), sizeof nd.etag);
        flags |=
            index::flag_etag_md5 | (r.etag_form == record::md5_upper ? index::flag_etag_upper : 0);
      } else if (!etag.empty()) {
        uint64_t off = out._extra.size();
        uint16_t len = static_cast<uint16_t>(etag.size());
        out._extra.append(etag);
        std::memcpy(nd.etag, &off, 8);
        std::memcpy(nd.etag + 8, &len, 2);
        flags |= index::flag_etag_extra;
      }
    }
    nd.pack(out._names.size(), tn.name_len, flags, storage);
    out._names.append(std::string_view(_keys).substr(tn.name_off, tn.name_len));
  }
  out._extra.shrink_to_fit();
  out._stats = st;
  _keys.clear();
  _keys.shrink_to_fit();
  _records.clear();
  _records.shrink_to_fit();
  _runs.clear();
  _runs.shrink_to_fit();
  return out;
}

}  // namespace ossuring::fs
