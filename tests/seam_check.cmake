# The one-way seams (CMakeLists.txt, "library"): a file of common/ sees no
# other layer; a file of persistence/ sees common/ but never engine/.
# Builds the probes (common/seam_probe.inc, persistence/seam_probe.inc) as
# their layers' files are built: each must build as it stands, and must fail
# on that very include where it includes a layer above its own. Also refuses
# an include whose path holds "..": from a file of a layer it could climb
# out of the layer's include path.
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... [-DCONFIG=...] -P seam_check.cmake

set(failures "")

# probe(TARGET HEADER): TARGET builds when HEADER is empty; otherwise its
# build fails because HEADER is not found.
function(probe target header)
  set(args --build ${BUILD_DIR} --target ${target})
  if(CONFIG)
    list(APPEND args --config ${CONFIG})
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(header STREQUAL "")
    if(NOT rc EQUAL 0)
      string(APPEND failures "${target} should build and does not:\n${out}\n")
    endif()
  elseif(rc EQUAL 0)
    string(APPEND failures "${target} builds, but it includes ${header}, a layer it must not see\n")
  elseif(NOT out MATCHES "${header}'?: No such file|'${header}' file not found")
    # GCC: "engine/segment.h: No such file or directory"; clang: "'engine/segment.h' file not found".
    string(APPEND failures "${target} fails, but not for want of ${header}:\n${out}\n")
  else()
    message(STATUS "${target}: ${header} is out of reach, as it must be")
  endif()
  set(failures "${failures}" PARENT_SCOPE)
endfunction()

probe(seam_probe_common "")
probe(seam_probe_common_persistence "persistence/storage.h")
probe(seam_probe_common_engine "engine/segment.h")
probe(seam_probe_persistence "")
probe(seam_probe_persistence_engine "engine/segment.h")

file(GLOB layer_files ${SOURCE_DIR}/common/* ${SOURCE_DIR}/persistence/*)
foreach(f IN LISTS layer_files)
  file(STRINGS ${f} climbing REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<][^\">]*\\.\\./")
  if(climbing)
    string(APPEND failures "${f}: an include by a path with '..' may leave its layer: ${climbing}\n")
  endif()
endforeach()

if(failures)
  message(FATAL_ERROR "${failures}")
endif()
