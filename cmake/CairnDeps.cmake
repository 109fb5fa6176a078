# One imported target per foreign library: cairn::<name>.
# Debian 12 ships pkg-config files for all but libs3, which is found by hand.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

macro(cairn_pkg target module)
  pkg_check_modules(${target} REQUIRED IMPORTED_TARGET ${module})
  add_library(cairn::${target} ALIAS PkgConfig::${target})
endmacro()

cairn_pkg(rocksdb rocksdb)
cairn_pkg(fuse3 fuse3)
cairn_pkg(xxhash libxxhash)
cairn_pkg(jansson jansson)
cairn_pkg(inih inih)
cairn_pkg(microhttpd libmicrohttpd)
cairn_pkg(curl libcurl)
cairn_pkg(crypto libcrypto)
cairn_pkg(cmocka cmocka)

find_path(LIBS3_INCLUDE_DIR libs3.h REQUIRED)
find_library(LIBS3_LIBRARY NAMES s3 REQUIRED)
add_library(cairn::s3 UNKNOWN IMPORTED)
set_target_properties(cairn::s3 PROPERTIES
  IMPORTED_LOCATION ${LIBS3_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LIBS3_INCLUDE_DIR})
