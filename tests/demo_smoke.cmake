# conduit-demo smoke test (ctest conduit_demo_smoke): --help lists every
# option with its default; two short runs on one data directory leave one
# work group, 'billing', which the second run resumes where the first
# committed it (conduit-log ls --json shows it caught up); a bad option
# exits 2 with the usage. No timing is asserted.
# Usage: cmake -DDEMO=path/to/conduit-demo -DCONDUIT_LOG=path/to/conduit-log -DWORK_DIR=dir -P demo_smoke.cmake
cmake_minimum_required(VERSION 3.22)

function(fail msg)
  message(FATAL_ERROR "conduit_demo_smoke: ${msg}")
endfunction()

# Runs the program with ARGN; sets OUT, ERR and RC in the caller.
function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK_DIR}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
  set(OUT "${out}" PARENT_SCOPE)
  set(ERR "${err}" PARENT_SCOPE)
  set(RC "${rc}" PARENT_SCOPE)
endfunction()

# 1. --help: the usage line's options each have a line with its default.
run(${DEMO} --help)
if(NOT RC EQUAL 0)
  fail("--help exited ${RC}")
endif()
string(REGEX MATCH "^usage: conduit-demo ([^\n]*)" usage "${OUT}")
string(REGEX MATCHALL "--[a-z-]+" options "${CMAKE_MATCH_1}")
list(LENGTH options n)
if(n LESS 3)
  fail("the usage line names ${n} options: ${OUT}")
endif()
foreach(option IN LISTS options)
  if(NOT OUT MATCHES "\n  ${option} [^\n]*\\(default [^)\n]+\\)\n")
    fail("--help gives no line with the default of ${option}:\n${OUT}")
  endif()
endforeach()

# 2. Two runs, one work group.
set(data ${WORK_DIR}/demo-smoke-data)
file(REMOVE_RECURSE ${data})
foreach(i 1 2)
  run(${DEMO} --messages 1000 --payload 32 --data-dir ${data})
  if(NOT RC EQUAL 0)
    fail("run ${i} exited ${RC}: ${OUT}${ERR}")
  endif()
  set(out${i} "${OUT}")
endforeach()
if(NOT out1 MATCHES "work group 'billing': new, from 0; 1000 acked")
  fail("run 1 did not make the group 'billing' at 0:\n${out1}")
endif()
if(NOT out2 MATCHES "1000 records already in the log" OR
   NOT out2 MATCHES "work group 'billing': resumed at 1000; 1000 acked, ack floor now 2000; this run's records each exactly once: yes")
  fail("run 2 did not resume 'billing' at 1000:\n${out2}")
endif()
run(${CONDUIT_LOG} ls --json ${data} demo.orders)
if(NOT RC EQUAL 0)
  fail("conduit-log ls exited ${RC}: ${ERR}")
endif()
string(JSON count LENGTH "${OUT}" topics 0 positions)
set(groups "")
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  string(JSON kind GET "${OUT}" topics 0 positions ${i} kind)
  string(JSON name GET "${OUT}" topics 0 positions ${i} name)
  if(kind STREQUAL "work group")
    string(JSON position GET "${OUT}" topics 0 positions ${i} position)
    string(JSON lag GET "${OUT}" topics 0 positions ${i} lag)
    list(APPEND groups "${name} at ${position}, lag ${lag}")
  endif()
endforeach()
if(NOT groups STREQUAL "billing at 2000, lag 0")
  fail("after two runs the work groups on disk are '${groups}', not 'billing at 2000, lag 0'")
endif()
file(REMOVE_RECURSE ${data})

# 3. A bad option: the reason and the usage, exit status 2.
foreach(args "--bogus" "--messages;0" "--messages")
  run(${DEMO} ${args})
  if(NOT RC EQUAL 2 OR NOT ERR MATCHES "conduit-demo: ")
    fail("'${args}' exited ${RC}: ${ERR}")
  endif()
endforeach()
