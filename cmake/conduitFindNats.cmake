# libnats for conduit::bridge, found the same way by conduit's own build and
# by an installed conduit's package config (conduitConfig.cmake), so that the
# exported conduit::bridge names a target the consumer has too: the imported
# target conduit::nats, from pkg-config's libnats, else from the plain
# library and header (Debian: libnats-dev). Left undefined when libnats is
# absent; the caller decides whether that is an error.
if(NOT TARGET conduit::nats)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(CONDUIT_NATS_PC QUIET IMPORTED_TARGET libnats)
  endif()
  if(TARGET PkgConfig::CONDUIT_NATS_PC)
    add_library(conduit::nats INTERFACE IMPORTED)
    set_property(TARGET conduit::nats PROPERTY INTERFACE_LINK_LIBRARIES PkgConfig::CONDUIT_NATS_PC)
  else()
    find_library(CONDUIT_NATS_LIBRARY nats)
    find_path(CONDUIT_NATS_INCLUDE_DIR nats/nats.h)
    if(CONDUIT_NATS_LIBRARY AND CONDUIT_NATS_INCLUDE_DIR)
      add_library(conduit::nats INTERFACE IMPORTED)
      set_property(TARGET conduit::nats PROPERTY INTERFACE_LINK_LIBRARIES ${CONDUIT_NATS_LIBRARY})
      set_property(TARGET conduit::nats PROPERTY INTERFACE_INCLUDE_DIRECTORIES ${CONDUIT_NATS_INCLUDE_DIR})
    endif()
  endif()
endif()
