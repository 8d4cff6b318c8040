#include "bridge/envelope_headers.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

namespace conduit::bridge::detail {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool must_escape(unsigned char c, bool edge, bool list) {
  if (c == '%' || c < 0x20 || c == 0x7f) return true;
  if (c == ' ' && edge) return true;  // libnats trims the value's ends
  return list && (c == '&' || c == '=');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Sets `name` to the encoded `value`; an empty value means "absent".
natsStatus set(natsMsg* m, const char* name, std::string_view value) {
  if (value.empty()) return NATS_OK;
  return natsMsgHeader_Set(m, name, percent_encode(value).c_str());
}

// The decoded value of `name`, or "" when absent.
Status get(natsMsg* m, const char* name, std::string* out) {
  const char* v = nullptr;
  out->clear();
  if (natsMsgHeader_Get(m, name, &v) != NATS_OK || v == nullptr) return Status::OK();
  auto decoded = percent_decode(v);
  if (!decoded.ok()) return Status::InvalidArgument(std::string(name) + ": " + decoded.status().message());
  *out = std::move(decoded).value();
  return Status::OK();
}

template <class T>
Status get_number(natsMsg* m, const char* name, T* out) {
  std::string text;
  Status s = get(m, name, &text);
  if (!s.ok() || text.empty()) return s;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (ec != std::errc() || end != text.data() + text.size())
    return Status::InvalidArgument(std::string(name) + ": not a number: '" + text + "'");
  return Status::OK();
}

bool is_reserved(std::string_view name) {
  auto starts = [&](std::string_view p) {
    if (name.size() < p.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(name[i])) != p[i]) return false;
    return true;
  };
  return starts("nats-") || starts("conduit-");
}

}  // namespace

std::string percent_encode(std::string_view in, bool list) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (must_escape(c, i == 0 || i + 1 == in.size(), list)) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Result<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    const int hi = i + 2 < in.size() ? hex_value(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return Status::InvalidArgument("bad percent escape at byte " + std::to_string(i));
    out += static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  return out;
}

Result<natsMsg*> to_nats(const RecordView& r, std::string_view topic, const char* subject) {
  natsMsg* m = nullptr;
  const std::string_view payload = r.payload();
  natsStatus s = natsMsg_Create(&m, subject, nullptr, payload.data(), static_cast<int>(payload.size()));
  if (s != NATS_OK) return nats_error("creating a message", s);

  const std::string seq = std::to_string(r.sequence());
  std::string id(r.id());
  if (id.empty()) id = "conduit:" + std::string(topic) + ":" + seq;
  std::string headers;
  for (std::size_t i = 0; i < r.header_count(); ++i) {
    const Header h = r.header(i);
    if (i != 0) headers += '&';
    headers += percent_encode(h.name, true);
    headers += '=';
    headers += percent_encode(h.value, true);
  }
  const natsStatus steps[] = {
      set(m, hdr::kMsgId, id),
      set(m, hdr::kSequence, seq),
      set(m, hdr::kTimestamp, std::to_string(r.timestamp_ns())),
      set(m, hdr::kKey, r.key()),
      set(m, hdr::kCorrelationId, r.correlation_id()),
      set(m, hdr::kReplyTo, r.reply_to()),
      set(m, hdr::kTraceId, r.trace_id()),
      set(m, hdr::kContentType, r.content_type()),
      set(m, hdr::kSchemaVersion, r.schema_version() == 0 ? std::string() : std::to_string(r.schema_version())),
      // Already encoded, entry by entry.
      r.header_count() == 0 ? NATS_OK : natsMsgHeader_Set(m, hdr::kHeaders, ("1:" + headers).c_str()),
  };
  for (natsStatus step : steps) {
    if (step != NATS_OK) {
      natsMsg_Destroy(m);
      return nats_error("setting a header", step);
    }
  }
  return m;
}

Message Envelope::message() {
  headers.clear();
  for (std::size_t i = 0; i < names.size(); ++i) headers.push_back(Header{names[i], values[i]});
  Message m;
  m.payload = payload;
  m.id = id;
  m.key = key;
  m.correlation_id = correlation_id;
  m.reply_to = reply_to;
  m.trace_id = trace_id;
  m.content_type = content_type;
  m.schema_version = schema_version;
  m.headers = headers;
  m.timestamp_ns = timestamp_ns;
  return m;
}

Status from_nats(natsMsg* msg, std::string_view fallback_id, Envelope* out) {
  const char* data = natsMsg_GetData(msg);
  out->payload.assign(data == nullptr ? "" : data, static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  out->names.clear();
  out->values.clear();
  out->timestamp_ns = 0;
  out->schema_version = 0;
  for (Status s : {get(msg, hdr::kMsgId, &out->id), get(msg, hdr::kKey, &out->key),
                   get(msg, hdr::kCorrelationId, &out->correlation_id), get(msg, hdr::kReplyTo, &out->reply_to),
                   get(msg, hdr::kTraceId, &out->trace_id), get(msg, hdr::kContentType, &out->content_type),
                   get_number(msg, hdr::kTimestamp, &out->timestamp_ns),
                   get_number(msg, hdr::kSchemaVersion, &out->schema_version)}) {
    if (!s.ok()) return s;
  }
  if (out->id.empty()) out->id = fallback_id;

  const char* raw = nullptr;
  if (natsMsgHeader_Get(msg, hdr::kHeaders, &raw) == NATS_OK && raw != nullptr) {
    const std::string_view list(raw);
    if (list.rfind("1:", 0) != 0) return Status::InvalidArgument("Conduit-Headers: unknown version");
    std::string_view rest = std::string_view(list).substr(2);
    while (true) {
      const std::size_t amp = rest.find('&');
      const std::string_view item = rest.substr(0, amp);
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) return Status::InvalidArgument("Conduit-Headers: an entry without '='");
      auto name = percent_decode(item.substr(0, eq));
      auto value = percent_decode(item.substr(eq + 1));
      if (!name.ok() || !value.ok()) return Status::InvalidArgument("Conduit-Headers: bad percent escape");
      out->names.push_back(std::move(name).value());
      out->values.push_back(std::move(value).value());
      if (amp == std::string_view::npos) break;
      rest = rest.substr(amp + 1);
    }
  }

  // Headers set by other NATS publishers come in as user headers, as they are.
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
    for (int i = 0; i < count; ++i) {
      if (is_reserved(keys[i])) continue;
      const char** vals = nullptr;
      int nvals = 0;
      if (natsMsgHeader_Values(msg, keys[i], &vals, &nvals) != NATS_OK) continue;
      for (int j = 0; j < nvals; ++j) {
        out->names.emplace_back(keys[i]);
        out->values.emplace_back(vals[j]);
      }
      std::free(static_cast<void*>(vals));
    }
    std::free(static_cast<void*>(keys));
  }
  return Status::OK();
}

Status nats_error(std::string_view what, natsStatus s) {
  std::string msg = "nats: " + std::string(what) + ": " + natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text != nullptr && *text != '\0' && std::strcmp(text, natsStatus_GetText(s)) != 0)
    msg += std::string(" (") + text + ")";
  return Status::IOError(std::move(msg));
}

}  // namespace conduit::bridge::detail
