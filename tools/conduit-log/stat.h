// stat: the engine's live counters (DATA_DIR/counters, common/counters.h),
// as a table, JSON or the Prometheus text format; stat_listen.cpp serves
// the latter over HTTP.
#pragma once

#include <string>
#include <vector>

#include "common/counters.h"

namespace conduit_log {

// The rows of DIR's counters file, TOPIC's only when given (and the engine
// row). Empty with *error set when the file cannot be read.
std::vector<conduit::counters::Row> read_counters(const std::string& data_dir, const std::string* topic,
                                                  std::string* error);
// The Prometheus text exposition format (version 0.0.4) of `rows`.
std::string prometheus_text(const std::vector<conduit::counters::Row>& rows);
// Serves GET /metrics on ADDR:PORT until killed; each scrape reads the
// file again. Returns an exit code when it cannot listen.
int serve_metrics(const std::string& data_dir, const std::string* topic, const std::string& listen);

}  // namespace conduit_log
