// The command-line tool's configuration file (include/conduit/bridge.h).
#include <charconv>
#include <optional>
#include <string>

#include "conduit/bridge.h"

namespace conduit::bridge {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

struct Parser {
  Config config;
  std::string global_url;
  enum class Section { kGlobal, kOutbound, kInbound, kTopic } section = Section::kGlobal;
  std::vector<bool> outbound_has_url, inbound_has_url;
  int line_no = 0;

  Status error(std::string_view what) const {
    return Status::InvalidArgument("config line " + std::to_string(line_no) + ": " + std::string(what));
  }

  template <class T>
  Status number(std::string_view key, std::string_view v, T* out) const {
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
    if (ec != std::errc() || end != v.data() + v.size())
      return error(std::string(key) + " needs a number, got '" + std::string(v) + "'");
    return Status::OK();
  }
  Status millis(std::string_view key, std::string_view v, std::chrono::milliseconds* out) const {
    std::int64_t n = 0;
    Status s = number(key, v, &n);
    if (!s.ok()) return s;
    if (n < 0) return error(std::string(key) + " is a duration and cannot be negative, got " + std::string(v));
    *out = std::chrono::milliseconds(n);
    return Status::OK();
  }
  Status boolean(std::string_view key, std::string_view v, bool* out) const {
    if (v == "true" || v == "yes" || v == "1")
      *out = true;
    else if (v == "false" || v == "no" || v == "0")
      *out = false;
    else
      return error(std::string(key) + " needs true or false, got '" + std::string(v) + "'");
    return Status::OK();
  }

  Status nats_key(std::string_view k, std::string_view v, NatsOptions* n, bool* has_url) const {
    if (k == "url") {
      n->url = v;
      *has_url = true;
      return Status::OK();
    }
    if (k == "reconnect_wait_ms") return millis(k, v, &n->reconnect_wait);
    if (k == "reconnect_wait_max_ms") return millis(k, v, &n->reconnect_wait_max);
    if (k == "connect_timeout_ms") return millis(k, v, &n->connect_timeout);
    if (k == "request_timeout_ms") return millis(k, v, &n->request_timeout);
    if (k == "name") {
      n->name = v;
      return Status::OK();
    }
    return error("unknown key '" + std::string(k) + "'");
  }

  Status key(std::string_view k, std::string_view v) {
    switch (section) {
      case Section::kGlobal:
        if (k == "data_dir")
          config.data_dir = v;
        else if (k == "url")
          global_url = v;
        else if (k == "stats_interval_ms")
          return millis(k, v, &config.stats_interval);
        else
          return error("unknown key '" + std::string(k) + "'");
        return Status::OK();
      case Section::kTopic: {
        TopicSpec& t = config.topics.back();
        if (k == "durability") {
          if (v == "sync")
            t.durability = Durability::kSync;
          else if (v == "async")
            t.durability = Durability::kAsync;
          else if (v == "memory")
            t.durability = Durability::kMemory;
          else
            return error("durability needs sync, async or memory, got '" + std::string(v) + "'");
          return Status::OK();
        }
        if (k == "dedup_ids") return number(k, v, &t.dedup_ids);
        return error("unknown key '" + std::string(k) + "'");
      }
      case Section::kOutbound: {
        OutboundOptions& o = config.outbound.back();
        if (k == "topic")
          o.topic = v;
        else if (k == "subscriber")
          o.subscriber = v;
        else if (k == "stream")
          o.stream = v;
        else if (k == "subject")
          o.subject = v;
        else if (k == "create_stream")
          return boolean(k, v, &o.create_stream);
        else if (k == "durable_only")
          return boolean(k, v, &o.durable_only);
        else if (k == "max_in_flight")
          return number(k, v, &o.max_in_flight);
        else if (k == "ack_timeout_ms")
          return millis(k, v, &o.ack_timeout);
        else if (k == "commit_interval_ms")
          return millis(k, v, &o.commit_interval);
        else {
          bool has_url = false;
          Status s = nats_key(k, v, &o.nats, &has_url);
          if (has_url) outbound_has_url.back() = true;
          return s;
        }
        return Status::OK();
      }
      case Section::kInbound: {
        InboundOptions& o = config.inbound.back();
        if (k == "topic")
          o.topic = v;
        else if (k == "durable")
          o.durable = v;
        else if (k == "stream")
          o.stream = v;
        else if (k == "subject")
          o.subject = v;
        else if (k == "batch")
          return number(k, v, &o.batch);
        else if (k == "max_ack_pending")
          return number(k, v, &o.max_ack_pending);
        else if (k == "ack_wait_ms")
          return millis(k, v, &o.ack_wait);
        else if (k == "fetch_wait_ms")
          return millis(k, v, &o.fetch_wait);
        else {
          bool has_url = false;
          Status s = nats_key(k, v, &o.nats, &has_url);
          if (has_url) inbound_has_url.back() = true;
          return s;
        }
        return Status::OK();
      }
    }
    return Status::OK();
  }

  Status header(std::string_view h) {
    const std::size_t space = h.find(' ');
    const std::string_view kind = h.substr(0, space);
    const std::string_view name = space == std::string_view::npos ? std::string_view() : trim(h.substr(space));
    if (name.empty()) return error("a section needs a name: [" + std::string(kind) + " NAME]");
    if (kind == "outbound") {
      section = Section::kOutbound;
      config.outbound.emplace_back();
      config.outbound.back().nats.name = "conduit-bridge " + std::string(name);
      outbound_has_url.push_back(false);
    } else if (kind == "inbound") {
      section = Section::kInbound;
      config.inbound.emplace_back();
      config.inbound.back().nats.name = "conduit-bridge " + std::string(name);
      inbound_has_url.push_back(false);
    } else if (kind == "topic") {
      section = Section::kTopic;
      config.topics.push_back(TopicSpec{std::string(name)});
    } else {
      return error("unknown section '" + std::string(kind) + "' (outbound, inbound or topic)");
    }
    return Status::OK();
  }
};

}  // namespace

Result<Config> parse_config(std::string_view text) {
  Parser p;
  while (!text.empty()) {
    ++p.line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']') return p.error("a section header ends with ']'");
      if (Status s = p.header(trim(line.substr(1, line.size() - 2))); !s.ok()) return s;
      continue;
    }
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return p.error("expected key = value");
    const std::string_view k = trim(line.substr(0, eq));
    const std::string_view v = trim(line.substr(eq + 1));
    if (v.empty()) return p.error("'" + std::string(k) + "' has no value");
    if (Status s = p.key(k, v); !s.ok()) return s;
  }
  Config& c = p.config;
  if (c.data_dir.empty()) return Status::InvalidArgument("config: data_dir is required");
  if (c.outbound.empty() && c.inbound.empty())
    return Status::InvalidArgument("config: no [outbound NAME] or [inbound NAME] section");
  for (std::size_t i = 0; i < c.outbound.size(); ++i) {
    OutboundOptions& o = c.outbound[i];
    if (!p.outbound_has_url[i] && !p.global_url.empty()) o.nats.url = p.global_url;
    if (o.topic.empty() || o.subscriber.empty() || o.stream.empty() || o.subject.empty())
      return Status::InvalidArgument("config: outbound bridge " + std::to_string(i + 1) +
                                     " needs topic, subscriber, stream and subject");
  }
  for (std::size_t i = 0; i < c.inbound.size(); ++i) {
    InboundOptions& o = c.inbound[i];
    if (!p.inbound_has_url[i] && !p.global_url.empty()) o.nats.url = p.global_url;
    if (o.topic.empty() || o.durable.empty() || o.stream.empty() || o.subject.empty())
      return Status::InvalidArgument("config: inbound bridge " + std::to_string(i + 1) +
                                     " needs topic, durable, stream and subject");
  }
  return c;
}

namespace {

const char* durability_text(Durability d) {
  switch (d) {
    case Durability::kSync: return "sync";
    case Durability::kAsync: return "async";
    case Durability::kMemory: return "memory";
  }
  return "?";
}

void put(std::string& out, std::string_view key, std::string_view value) {
  out.append(key).append(" = ").append(value).append("\n");
}
void put(std::string& out, std::string_view key, std::chrono::milliseconds ms) {
  put(out, key, std::to_string(ms.count()));
}

// A section's header, and its nats keys: the section's name is the
// connection name's when that is the one the header gives.
void put_nats_section(std::string& out, const char* kind, const NatsOptions& n) {
  constexpr std::string_view kPrefix = "conduit-bridge ";
  const std::string_view named = n.name;
  const bool from_header = named.starts_with(kPrefix) && named.size() > kPrefix.size() &&
                           trim(named.substr(kPrefix.size())) == named.substr(kPrefix.size());
  out.append("\n[")
      .append(kind)
      .append(" ")
      .append(from_header ? named.substr(kPrefix.size()) : "bridge")
      .append("]\n");
  if (!from_header) put(out, "name", n.name);
  put(out, "url", n.url);
  put(out, "connect_timeout_ms", n.connect_timeout);
  put(out, "reconnect_wait_ms", n.reconnect_wait);
  put(out, "reconnect_wait_max_ms", n.reconnect_wait_max);
  put(out, "request_timeout_ms", n.request_timeout);
}

}  // namespace

std::string format_config(const Config& c) {
  std::string out;
  put(out, "data_dir", c.data_dir);
  put(out, "stats_interval_ms", c.stats_interval);
  for (const TopicSpec& t : c.topics) {
    out.append("\n[topic ").append(t.name).append("]\n");
    put(out, "durability", durability_text(t.durability));
    put(out, "dedup_ids", std::to_string(t.dedup_ids));
  }
  for (const OutboundOptions& o : c.outbound) {
    put_nats_section(out, "outbound", o.nats);
    put(out, "topic", o.topic);
    put(out, "subscriber", o.subscriber);
    put(out, "stream", o.stream);
    put(out, "subject", o.subject);
    put(out, "create_stream", o.create_stream ? "true" : "false");
    put(out, "durable_only", o.durable_only ? "true" : "false");
    put(out, "max_in_flight", std::to_string(o.max_in_flight));
    put(out, "ack_timeout_ms", o.ack_timeout);
    put(out, "commit_interval_ms", o.commit_interval);
  }
  for (const InboundOptions& o : c.inbound) {
    put_nats_section(out, "inbound", o.nats);
    put(out, "topic", o.topic);
    put(out, "durable", o.durable);
    put(out, "stream", o.stream);
    put(out, "subject", o.subject);
    put(out, "batch", std::to_string(o.batch));
    put(out, "max_ack_pending", std::to_string(o.max_ack_pending));
    put(out, "ack_wait_ms", o.ack_wait);
    put(out, "fetch_wait_ms", o.fetch_wait);
  }
  return out;
}

}  // namespace conduit::bridge
