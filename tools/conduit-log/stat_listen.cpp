// stat --listen: /metrics over HTTP (Debian's cpp-httplib, header-only;
// only conduit-log links it, never the library).
#include <cstdio>

#include "commands.h"
#include "stat.h"

#ifdef CONDUIT_LOG_HTTP  // set by CMakeLists.txt where cpp-httplib is found
#include <httplib.h>
#endif

namespace conduit_log {

int serve_metrics(const std::string& data_dir, const std::string* topic, const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  const auto port = colon == std::string::npos ? std::nullopt : parse_u64(std::string_view(listen).substr(colon + 1));
  if (!port || *port > 65535)
    return fail("stat", "--listen wants ADDR:PORT (e.g. 127.0.0.1:9464; port 0: any free one), got '" + listen + "'",
                kExitUsage);
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
#ifdef CONDUIT_LOG_HTTP
  httplib::Server server;
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    std::string error;
    const auto rows = read_counters(data_dir, topic, &error);
    if (!error.empty()) {
      res.status = 503;
      res.set_content(error + "\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_content(prometheus_text(rows), "text/plain; version=0.0.4; charset=utf-8");
  });
  // Port 0: one the kernel picks, said on stderr (the tests use it).
  const int bound = *port == 0
                        ? server.bind_to_any_port(host.c_str())
                        : (server.bind_to_port(host.c_str(), static_cast<int>(*port)) ? static_cast<int>(*port) : -1);
  if (bound <= 0) return fail("stat", "cannot listen on " + listen, kExitProblem);
  const bool v6 = host.find(':') != std::string::npos;
  std::fprintf(stderr, "conduit-log stat: serving http://%s%s%s:%d/metrics\n", v6 ? "[" : "", host.c_str(),
               v6 ? "]" : "", bound);
  std::fflush(stderr);
  server.listen_after_bind();
  return kExitOk;
#else
  (void)data_dir, (void)topic, (void)host;
  return fail("stat", "--listen: this conduit-log was built without cpp-httplib (libcpp-httplib-dev)", kExitProblem);
#endif
}

}  // namespace conduit_log
