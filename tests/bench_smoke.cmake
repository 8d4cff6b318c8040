# conduit-bench smoke test (ctest conduit_bench_smoke): a short memory run
# and a short sync run with --json, whose JSON must parse and hold the
# expected fields; bad options must exit 2 with a message. No timing is
# asserted. With -DMICRO_BENCH=path/to/micro_bench, also runs every
# micro-benchmark once, briefly, and checks each reported its rates.
# Usage: cmake -DBENCH=path/to/conduit-bench [-DMICRO_BENCH=...] -DWORK_DIR=dir -P bench_smoke.cmake
cmake_minimum_required(VERSION 3.22)

function(fail msg)
  message(FATAL_ERROR "conduit_bench_smoke: ${msg}")
endfunction()

# Runs conduit-bench with ARGN; sets OUT, ERR and RC in the caller.
function(run_bench)
  execute_process(COMMAND ${BENCH} ${ARGN} WORKING_DIRECTORY ${WORK_DIR}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
  set(OUT "${out}" PARENT_SCOPE)
  set(ERR "${err}" PARENT_SCOPE)
  set(RC "${rc}" PARENT_SCOPE)
endfunction()

# Fails unless the JSON member at the path (ARGN) exists and is not null.
function(expect_member json)
  string(JSON value ERROR_VARIABLE error GET "${json}" ${ARGN})
  if(error OR value STREQUAL "null" OR value STREQUAL "")
    fail("JSON has no ${ARGN}: ${error}")
  endif()
endfunction()

# Fails unless the JSON member at the path (ARGN) is null (string(JSON)
# gives a null as "" or "null", depending on the CMake version).
function(expect_null json what)
  string(JSON value ERROR_VARIABLE error GET "${json}" ${ARGN})
  if(error OR NOT (value STREQUAL "null" OR value STREQUAL ""))
    fail("${what}: ${ARGN} is '${value}' ${error}")
  endif()
endfunction()

function(expect_run json which)
  foreach(field system ok verified seconds published msgs_per_s)
    expect_member("${json}" ${which} ${field})
  endforeach()
  string(JSON ok GET "${json}" ${which} ok)
  string(JSON verified GET "${json}" ${which} verified)
  if(NOT ok OR NOT verified)
    string(JSON e GET "${json}" ${which} error)
    fail("${which} run not ok (${e}) or not verified")
  endif()
  string(JSON published GET "${json}" ${which} published)
  if(published LESS 1)
    fail("${which} published nothing")
  endif()
endfunction()

# 1. Memory, fan-out and a work group, closed loop, with its moodycamel baseline.
run_bench(--json --duration 0.5 --subscribers 1 --group-consumers 1 --payload 64)
if(NOT RC EQUAL 0)
  fail("memory run exited ${RC}: ${ERR}")
endif()
foreach(path "machine;kernel" "machine;cores" "machine;date_utc" "config;payload" "config;durability"
             "conduit;latency;publish_to_receive;p99_ns" "conduit;latency;publish_to_receive;p99.99_ns"
             "conduit;latency;publish_to_receive;max_ns" "baseline;latency;publish_to_receive;p50_ns"
             "ratios;throughput" "ratios;latency_note")
  expect_member("${OUT}" ${path})
endforeach()
# Closed loop, publish->receive is the backlog: no latency ratio.
foreach(p p50 p99 p99.9)
  expect_null("${OUT}" "closed-loop memory run printed a latency ratio" ratios ${p})
endforeach()
# Each run's peak RSS is at least its RSS, read at the same moment.
foreach(which conduit baseline)
  string(JSON rss GET "${OUT}" ${which} memory rss_mib)
  string(JSON peak GET "${OUT}" ${which} memory peak_rss_mib)
  if(NOT rss GREATER 0 OR peak LESS rss)
    fail("${which}: peak RSS ${peak} MiB below RSS ${rss} MiB")
  endif()
endforeach()
expect_run("${OUT}" conduit)
expect_run("${OUT}" baseline)
string(JSON system GET "${OUT}" baseline system)
if(NOT system STREQUAL "moodycamel")
  fail("memory baseline is '${system}', not moodycamel")
endif()
string(JSON deliveries GET "${OUT}" conduit deliveries)
string(JSON published GET "${OUT}" conduit published)
math(EXPR both "${published} * 2")
if(NOT deliveries EQUAL both)
  fail("conduit delivered ${deliveries} for ${published} published to a subscriber and a work group")
endif()

# 2. Sync durability, open loop, on a data directory under WORK_DIR: the
# publish->durable latency and the raw fdatasync baseline.
run_bench(--json --duration 0.5 --durability sync --rate 2000 --dir ${WORK_DIR}/bench-smoke-data)
if(NOT RC EQUAL 0)
  fail("sync run exited ${RC}: ${ERR}")
endif()
expect_member("${OUT}" conduit latency publish_to_durable p99_ns)
expect_member("${OUT}" baseline latency publish_to_durable p99_ns)
expect_member("${OUT}" ratios p99)
expect_run("${OUT}" conduit)
string(JSON mode GET "${OUT}" config mode)
if(NOT mode STREQUAL "open")
  fail("--rate did not make an open-loop run")
endif()
file(GLOB leftovers ${WORK_DIR}/bench-smoke-data/*)
if(leftovers)
  fail("the data directory was not removed: ${leftovers}")
endif()

# 3. No subscriber and no work group: no queue to compare with, so no
# baseline and no ratio, in the JSON and in the table.
run_bench(--json --duration 0.3 --subscribers 0)
if(NOT RC EQUAL 0)
  fail("--subscribers 0 run exited ${RC}: ${ERR}")
endif()
expect_run("${OUT}" conduit)
expect_null("${OUT}" "--subscribers 0 ran a baseline over queues nobody reads" baseline)
expect_null("${OUT}" "--subscribers 0 compared with queues nobody reads" ratios throughput)
run_bench(--duration 0.3 --subscribers 0)
if(NOT RC EQUAL 0 OR OUT MATCHES "moodycamel" OR NOT OUT MATCHES "conduit / baseline \\(none[^)]*\\): n/a")
  fail("--subscribers 0 table: ${OUT}")
endif()

# 4. Bad options: a message naming the problem, the usage, exit status 2.
foreach(args "--bogus" "--producers;zero" "--payload;8" "--durability;disk" "--duration" "--rate;-5"
             "--retain-bytes;1M")
  run_bench(${args})
  if(NOT RC EQUAL 2)
    fail("'${args}' exited ${RC}, not 2")
  endif()
  if(NOT ERR MATCHES "conduit-bench: " OR NOT ERR MATCHES "usage: conduit-bench")
    fail("'${args}' gave no clear message and usage: ${ERR}")
  endif()
endforeach()

# 5. The micro-benchmarks: each family runs (a few ms each) without an error
# and reports bytes/s and items/s.
if(DEFINED MICRO_BENCH)
  execute_process(COMMAND ${MICRO_BENCH} --benchmark_min_time=0.001 --benchmark_format=json
                  WORKING_DIRECTORY ${WORK_DIR}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
  if(NOT rc EQUAL 0)
    fail("micro_bench exited ${rc}: ${err}")
  endif()
  string(JSON count LENGTH "${out}" benchmarks)
  set(seen "")
  math(EXPR last "${count} - 1")
  foreach(i RANGE ${last})
    string(JSON name GET "${out}" benchmarks ${i} name)
    string(JSON error ERROR_VARIABLE no_error GET "${out}" benchmarks ${i} error_occurred)
    if(NOT no_error AND error)
      string(JSON message GET "${out}" benchmarks ${i} error_message)
      # The one benchmark a CPU may not have hardware for.
      if(NOT name MATCHES "^BM_Crc32cHardware")
        fail("${name}: ${message}")
      endif()
      continue()
    endif()
    expect_member("${out}" benchmarks ${i} bytes_per_second)
    expect_member("${out}" benchmarks ${i} items_per_second)
    string(REGEX REPLACE "/.*" "" family "${name}")
    list(APPEND seen ${family})
  endforeach()
  foreach(family BM_RecordEncode BM_RecordDecodeVerify BM_Crc32cPortable BM_EnvelopeEncode BM_EnvelopeDecode
                 BM_ClaimPublish BM_CursorPollBatch)
    if(NOT family IN_LIST seen)
      fail("micro_bench did not run ${family}")
    endif()
  endforeach()
endif()
