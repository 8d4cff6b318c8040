# The house rules a reader of the repository relies on (ctest: house_check):
#   - README.md is for users and stays at most 300 lines;
#   - no tracked text refers to the brief documents that lived outside the
#     repository (a clone has none of them).
# Usage: cmake -DSOURCE_DIR=... -P tests/house_check.cmake
file(READ ${SOURCE_DIR}/README.md readme)
string(REGEX MATCHALL "\n" newlines "${readme}")
list(LENGTH newlines n)
if(n GREATER 300)
  message(FATAL_ERROR "README.md has ${n} lines; at most 300 (move detail to doc/)")
endif()

file(GLOB_RECURSE texts RELATIVE ${SOURCE_DIR}
     ${SOURCE_DIR}/*.md ${SOURCE_DIR}/*.h ${SOURCE_DIR}/*.cpp ${SOURCE_DIR}/*.inc ${SOURCE_DIR}/*.txt
     ${SOURCE_DIR}/*.cmake ${SOURCE_DIR}/*.sh ${SOURCE_DIR}/*.py)
set(bad "")
foreach(f IN LISTS texts)
  if(f MATCHES "^(build|\\.git)[^/]*/" OR f STREQUAL "tests/house_check.cmake")
    continue()
  endif()
  file(READ ${SOURCE_DIR}/${f} body)
  if(body MATCHES "shared/DESIGN|DESIGN\\.md|STYLE\\.md|IPC-NOTES")
    list(APPEND bad ${f})
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "these refer to documents outside the repository: ${bad}")
endif()
message(STATUS "README.md: ${n} lines; no reference outside the repository")
