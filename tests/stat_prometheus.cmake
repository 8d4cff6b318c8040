# conduit-log stat --prometheus checked by promtool (ctest stat_prometheus):
# a conduit-demo run leaves its counters file, whose exposition
# `promtool check metrics` (Debian's prometheus package) must accept,
# lint included. Without promtool the test says SKIPPED (CI installs it).
# Usage: cmake -DDEMO=... -DCONDUIT_LOG=... -DWORK_DIR=dir -P stat_prometheus.cmake
cmake_minimum_required(VERSION 3.22)

find_program(PROMTOOL promtool)
if(NOT PROMTOOL)
  message("SKIPPED: promtool not found (apt install prometheus); stat --prometheus not checked")
  return()
endif()
set(data ${WORK_DIR}/stat-prometheus-data)
file(REMOVE_RECURSE ${data})
execute_process(COMMAND ${DEMO} --messages 1000 --payload 32 --data-dir ${data}
                OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "stat_prometheus: conduit-demo exited ${rc}: ${err}")
endif()
execute_process(COMMAND ${CONDUIT_LOG} stat ${data} --prometheus
                OUTPUT_FILE ${data}.prom ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "stat_prometheus: conduit-log stat exited ${rc}: ${err}")
endif()
file(READ ${data}.prom text)
if(NOT text MATCHES "conduit_topic_published_total{topic=\"demo.orders\"} 1000\n")
  message(FATAL_ERROR "stat_prometheus: no published count of 1000 for demo.orders:\n${text}")
endif()
execute_process(COMMAND ${PROMTOOL} check metrics INPUT_FILE ${data}.prom
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "stat_prometheus: promtool check metrics exited ${rc}:\n${out}${err}")
endif()
file(REMOVE_RECURSE ${data} ${data}.prom)
message(STATUS "promtool accepts conduit-log stat --prometheus")
