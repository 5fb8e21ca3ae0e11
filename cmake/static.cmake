# SPDX-License-Identifier: Apache-2.0
# Fully static build of lameduck (glibc; amd64 or arm64, native or cross). Included by
# CMakeLists.txt when LAMEDUCK_STATIC=ON; normally driven by scripts/build-static.sh, which
# builds the minimal static libcurl + mbedTLS + zlib from Debian's sources for the target and
# passes -DLAMEDUCK_STATIC_PREFIX=<prefix>, the compiler, and
# -DLAMEDUCK_STATIC_HEADERS=<dir> (a copy of the header-only deps, so that a cross
# compiler never searches the build machine's /usr/include).
#
# Sets LAMEDUCK_DEPS (linked PUBLIC by lameduck_core):
#   nlohmann-json              header-only (Debian package)
#   spdlog + fmt               header-only mode (Debian ships no libfmt.a / libspdlog.a)
#   curl + mbedTLS + zlib      static libs from LAMEDUCK_STATIC_PREFIX
# plus size-oriented compile/link options for every target in this directory.

set(LAMEDUCK_STATIC_PREFIX "" CACHE PATH
    "Prefix with static libcurl + mbedTLS + zlib (made by scripts/build-static.sh)")
if(NOT LAMEDUCK_STATIC_PREFIX)
  message(FATAL_ERROR
    "LAMEDUCK_STATIC=ON needs -DLAMEDUCK_STATIC_PREFIX=<prefix with static curl + mbedTLS + zlib>; "
    "use scripts/build-static.sh")
endif()

# --- header-only dependencies ------------------------------------------------------------
set(LAMEDUCK_STATIC_HEADERS "" CACHE PATH
    "Directory with the header-only deps (spdlog, fmt, nlohmann); made by scripts/build-static.sh")
if(NOT LAMEDUCK_STATIC_HEADERS)
  message(FATAL_ERROR "LAMEDUCK_STATIC=ON needs -DLAMEDUCK_STATIC_HEADERS=<dir>; use scripts/build-static.sh")
endif()
foreach(_h spdlog/spdlog.h fmt/format.h fmt/format-inl.h nlohmann/json.hpp)
  if(NOT EXISTS "${LAMEDUCK_STATIC_HEADERS}/${_h}")
    message(FATAL_ERROR "${LAMEDUCK_STATIC_HEADERS}/${_h} not found (fmt needs format-inl.h for header-only mode)")
  endif()
endforeach()

add_library(lameduck_static_headers INTERFACE)
target_include_directories(lameduck_static_headers SYSTEM INTERFACE "${LAMEDUCK_STATIC_HEADERS}")
# The values match the headers' own #defines (spdlog/common.h, Debian's spdlog/tweakme.h,
# fmt-config.cmake) so there are no redefinition warnings.
target_compile_definitions(lameduck_static_headers INTERFACE
  "SPDLOG_HEADER_ONLY="
  "SPDLOG_FMT_EXTERNAL=1"
  "FMT_HEADER_ONLY=1"
  # fmt without std::locale: its locale_ref (the thousands separator and decimal point of
  # {:L}, which lameduck never uses) constructed std::locale(), the last thing that linked
  # libstdc++'s locale_init and every facet. 0 = no separator, '.' as the decimal point:
  # what the classic "C" locale that lameduck runs in gives. (The dev build links the
  # compiled libfmt, which never includes format-inl.h: nothing to define there.)
  "FMT_STATIC_THOUSANDS_SEPARATOR=0")

# --- static curl + mbedTLS + zlib ------------------------------------------------------------
foreach(_lib curl mbedtls mbedx509 mbedcrypto z)
  set(_a "${LAMEDUCK_STATIC_PREFIX}/lib/lib${_lib}.a")
  if(NOT EXISTS "${_a}")
    message(FATAL_ERROR "${_a} not found; run scripts/build-static.sh (LAMEDUCK_STATIC_PREFIX=${LAMEDUCK_STATIC_PREFIX})")
  endif()
  add_library(lameduck_static::${_lib} STATIC IMPORTED)
  set_target_properties(lameduck_static::${_lib} PROPERTIES
    IMPORTED_LOCATION "${_a}"
    IMPORTED_LINK_INTERFACE_LANGUAGES C)
endforeach()
if(NOT EXISTS "${LAMEDUCK_STATIC_PREFIX}/include/curl/curl.h")
  message(FATAL_ERROR "${LAMEDUCK_STATIC_PREFIX}/include/curl/curl.h not found")
endif()
# Link order: curl -> mbedtls -> mbedx509 -> mbedcrypto, then zlib (curl's gzip decoding).
set_target_properties(lameduck_static::mbedx509 PROPERTIES
  INTERFACE_LINK_LIBRARIES lameduck_static::mbedcrypto)
set_target_properties(lameduck_static::mbedtls PROPERTIES
  INTERFACE_LINK_LIBRARIES lameduck_static::mbedx509)
# Not SYSTEM on purpose: the prefix's curl/curl.h must win over a distro libcurl-dev's.
set_target_properties(lameduck_static::curl PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${LAMEDUCK_STATIC_PREFIX}/include"
  INTERFACE_COMPILE_DEFINITIONS CURL_STATICLIB
  INTERFACE_LINK_LIBRARIES "lameduck_static::mbedtls;lameduck_static::z")

set(LAMEDUCK_DEPS
  lameduck_static_headers
  lameduck_static::curl)

# --- size and reproducibility ---------------------------------------------------------------
# CMAKE_BUILD_TYPE=MinSizeRel gives -Os -DNDEBUG; make sure -Os holds whatever the type.
add_compile_options(
  -Os
  -ffunction-sections -fdata-sections
  "-ffile-prefix-map=${CMAKE_SOURCE_DIR}/="
  # (after the line above: GCC tries the last map first; the build dir may be in the repo)
  "-ffile-prefix-map=${LAMEDUCK_STATIC_HEADERS}/=/usr/include/")
add_link_options(
  -static
  -static-libstdc++ -static-libgcc
  -Wl,--gc-sections
  -Wl,-O1)

# Link-time optimization: lameduck's code and the header-only libraries it instantiates
# (spdlog, fmt, nlohmann-json, the std templates) are optimized for size as one
# program, so code only one caller needs is inlined or dropped.
include(CheckIPOSupported)
check_ipo_supported(RESULT _lameduck_ipo OUTPUT _lameduck_ipo_why LANGUAGES C CXX)
if(_lameduck_ipo)
  set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
else()
  message(WARNING "lameduck: no link-time optimization with this compiler: ${_lameduck_ipo_why}")
endif()

message(STATUS "lameduck: fully static build with curl + mbedTLS + zlib from ${LAMEDUCK_STATIC_PREFIX}")
