#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the fully static lameduck binary (glibc; amd64 or arm64; <= 2.0 MB stripped).
#
#   scripts/build-static.sh                 -> build-static/lameduck        (amd64)
#   scripts/build-static.sh --arch arm64    -> build-static-arm64/lameduck  (aarch64)
#   scripts/build-static.sh --test-helpers  also builds sigecho (the tests' child), static
#
# --arch other than the build machine's cross-compiles with Debian's cross toolchain
# (g++-aarch64-linux-gnu on an amd64 machine, g++-x86-64-linux-gnu on an arm64 one): the
# same Debian source packages, the same patches, configure flags and config for every
# architecture; only the compiler differs. Each architecture has its own cache prefix.
#
# What it does (idempotent; a second run only rebuilds lameduck itself):
#   1. installs the build tools and the header-only dev packages from Debian,
#   2. fetches Debian's *source* packages of mbedTLS, zlib and curl (pinned versions below,
#      Debian's security patches included), builds mbedTLS (libs only), zlib (libz.a) and a
#      minimal libcurl (HTTP/HTTPS over mbedTLS, gzip bodies, nothing else) as static
#      libraries into a cache prefix, skipping this when the prefix already holds them,
#   3. configures lameduck with -DLAMEDUCK_STATIC=ON (see cmake/static.cmake), builds,
#      strips and reports the binary.
#
# Environment:
#   LAMEDUCK_STATIC_CACHE      cache root (default: $HOME/.cache/lameduck-static)
#   LAMEDUCK_STATIC_BUILD_DIR  CMake build dir (default: <repo>/build-static for amd64,
#                              <repo>/build-static-ARCH otherwise)
#   LAMEDUCK_STATIC_JOBS       parallel jobs (default: nproc)
#   LAMEDUCK_STATIC_SKIP_APT=1 never touch apt (everything must already be installed)
#   LAMEDUCK_STATIC_DEPS_ONLY=1 stop after the mbedTLS + zlib + curl prefix is ready
set -euo pipefail

# ---- pinned Debian source versions (what bookworm serves; bump together with a test) ----
MBEDTLS_DEBVER=2.28.3-1
CURL_DEBVER=7.88.1-10+deb12u15
ZLIB_DEBVER=1:1.2.13.dfsg-1

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-static: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '3,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

HOST_ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
ARCH=$HOST_ARCH
TEST_HELPERS=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --arch) [[ $# -ge 2 ]] || die "--arch needs a value (amd64 or arm64)"; ARCH=$2; shift 2 ;;
    --arch=*) ARCH=${1#--arch=}; shift ;;
    --test-helpers) TEST_HELPERS=1; shift ;;
    -h | --help) usage 0 ;;
    *) printf 'build-static: unknown argument: %s\n' "$1" >&2; usage 2 ;;
  esac
done
case $ARCH in
  amd64 | x86_64 | x86-64) ARCH=amd64 TRIPLET=x86_64-linux-gnu CROSS_PKG=g++-x86-64-linux-gnu CMAKE_PROC=x86_64 ;;
  arm64 | aarch64) ARCH=arm64 TRIPLET=aarch64-linux-gnu CROSS_PKG=g++-aarch64-linux-gnu CMAKE_PROC=aarch64 ;;
  *) die "unsupported --arch $ARCH (amd64 or arm64)" ;;
esac
if [[ $ARCH == "$HOST_ARCH" ]]; then
  CROSS=0 CC=gcc CXX=g++ STRIP=strip SIZE=size
else
  CROSS=1 CC=$TRIPLET-gcc CXX=$TRIPLET-g++ STRIP=$TRIPLET-strip SIZE=$TRIPLET-size
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_ROOT=${LAMEDUCK_STATIC_CACHE:-${HOME:-/root}/.cache/lameduck-static}
PREFIX=$CACHE_ROOT/${ARCH}_${MBEDTLS_DEBVER}_${CURL_DEBVER}_zlib${ZLIB_DEBVER#*:}
if [[ $ARCH == amd64 ]]; then DEFAULT_BUILD_DIR=$REPO/build-static; else DEFAULT_BUILD_DIR=$REPO/build-static-$ARCH; fi
BUILD_DIR=${LAMEDUCK_STATIC_BUILD_DIR:-$DEFAULT_BUILD_DIR}
JOBS=${LAMEDUCK_STATIC_JOBS:-$(nproc 2>/dev/null || echo 2)}

# Reproducibility: fixed locale/timezone, no stray flags from the caller's environment.
export LC_ALL=C TZ=UTC
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
unset CFLAGS CXXFLAGS CPPFLAGS LDFLAGS LIBS MAKEFLAGS
export PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig"

# Packages: build tools, source unpacking, and lameduck's header-only deps.
# (The header-only deps are architecture-independent: the same headers serve every --arch.)
TOOL_PKGS=(build-essential cmake dpkg-dev file patch autoconf automake libtool pkg-config)
DEV_PKGS=(libspdlog-dev libfmt-dev nlohmann-json3-dev)
# A cross build also needs the cross compiler (it pulls in the target's libc6-dev and
# libstdc++-dev, and binutils).
if [[ $CROSS == 1 ]]; then TOOL_PKGS+=("$CROSS_PKG"); fi

# CMake settings that select the (cross) compiler, for mbedTLS and lameduck alike.
CMAKE_COMPILER_ARGS=(-DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX")
if [[ $CROSS == 1 ]]; then
  CMAKE_COMPILER_ARGS+=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$CMAKE_PROC")
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi

APT_UPDATED=0
apt_update_once() {
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    "${SUDO[@]}" apt-get update -qq
    APT_UPDATED=1
  fi
}

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
      missing+=("$p")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ ${LAMEDUCK_STATIC_SKIP_APT:-0} == 1 ]] && die "missing packages: ${missing[*]} (LAMEDUCK_STATIC_SKIP_APT=1)"
  log "installing ${missing[*]}"
  # A fresh image (e.g. debian:bookworm) has empty package lists: update first when apt
  # knows no installation candidate for one of them.
  local cand
  for p in "${missing[@]}"; do
    cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [[ -z $cand || $cand == "(none)" ]]; then apt_update_once; break; fi
  done
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || { apt_update_once; DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
}

have_deb_src_entry() {
  grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
  grep -qsiE '^Types:.*[[:space:]]deb-src([[:space:]]|$)' /etc/apt/sources.list.d/*.sources && return 0
  return 1
}

# Add deb-src entries mirroring the configured Debian (deb) entries.
ensure_deb_src() {
  have_deb_src_entry && return 0
  [[ ${LAMEDUCK_STATIC_SKIP_APT:-0} == 1 ]] && die "no deb-src entry in apt sources (LAMEDUCK_STATIC_SKIP_APT=1)"
  local deb822=/etc/apt/sources.list.d/debian.sources
  if [[ -f $deb822 ]]; then
    # bookworm images: deb822 format. Same URIs/suites/keys, source type only.
    log "adding deb-src entries (from $deb822)"
    sed -E 's/^Types:.*$/Types: deb-src/' "$deb822" \
      | "${SUDO[@]}" tee /etc/apt/sources.list.d/lameduck-deb-src.sources >/dev/null
  elif grep -qsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list; then
    log "adding deb-src entries (from /etc/apt/sources.list)"
    sed -nE 's/^[[:space:]]*deb([[:space:]])/deb-src\1/p' /etc/apt/sources.list \
      | "${SUDO[@]}" tee /etc/apt/sources.list.d/lameduck-deb-src.list >/dev/null
  else
    log "adding default bookworm deb-src entries"
    "${SUDO[@]}" tee /etc/apt/sources.list.d/lameduck-deb-src.sources >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  APT_UPDATED=0
}

src_version_available() { # PKG VERSION
  local out
  out=$(apt-cache showsrc "$1" 2>/dev/null) || return 1
  grep -qxF "Version: $2" <<<"$out"
}

ensure_source_versions() {
  ensure_deb_src
  if ! src_version_available mbedtls "$MBEDTLS_DEBVER" || ! src_version_available curl "$CURL_DEBVER" \
     || ! src_version_available zlib "$ZLIB_DEBVER"; then
    [[ ${LAMEDUCK_STATIC_SKIP_APT:-0} == 1 ]] && die "pinned source versions not known to apt (LAMEDUCK_STATIC_SKIP_APT=1)"
    apt_update_once
  fi
  local pkg ver
  for pkg in mbedtls zlib curl; do
    case $pkg in
      mbedtls) ver=$MBEDTLS_DEBVER ;;
      zlib) ver=$ZLIB_DEBVER ;;
      *) ver=$CURL_DEBVER ;;
    esac
    if ! src_version_available "$pkg" "$ver"; then
      die "Debian source package $pkg=$ver (pinned in scripts/build-static.sh) is not available from apt.
  Available: $(apt-cache showsrc "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -u | tr '\n' ' ')
  Update the pin (MBEDTLS_DEBVER / ZLIB_DEBVER / CURL_DEBVER) to a version bookworm serves and re-test."
    fi
  done
}

# ---------------------------------------------------------------------------------------
# mbedTLS: static libs only. The config is trimmed to what a TLS 1.2 client talking to a
# kube-apiserver (Go crypto/tls) can use; smaller, and a smaller attack surface:
#  - no TLS 1.0/1.1, DTLS, server side, debug strings, self tests, context serialization
#  - key exchange: ECDHE-ECDSA, ECDHE-RSA (no static RSA, PSK, DHE, static ECDH)
#  - ciphers: AES-GCM, ChaCha20-Poly1305 (no CBC/CTR, ARC4/3DES/Blowfish/Camellia/XTEA/CCM)
#  - no renegotiation, max fragment length, encrypt-then-MAC (CBC only), fallback SCSV,
#    key export, CRLs (lameduck never passes one)
#  - curves: P-256, P-384, P-521, X25519; hashes SHA-1/SHA-2 (no MD5/RIPEMD160)
#  - no PKCS#5/#12 (encrypted keys), PSA crypto, HKDF, key/prime generation, VIA padlock
MBEDTLS_DISABLE=(
  MBEDTLS_SSL_PROTO_TLS1 MBEDTLS_SSL_PROTO_TLS1_1 MBEDTLS_SSL_CBC_RECORD_SPLITTING
  MBEDTLS_SSL_PROTO_DTLS MBEDTLS_SSL_DTLS_ANTI_REPLAY MBEDTLS_SSL_DTLS_HELLO_VERIFY
  MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE MBEDTLS_SSL_DTLS_BADMAC_LIMIT
  MBEDTLS_SSL_SRV_C MBEDTLS_SSL_COOKIE_C MBEDTLS_SSL_CACHE_C MBEDTLS_SSL_TICKET_C
  MBEDTLS_SSL_TRUNCATED_HMAC MBEDTLS_SSL_CONTEXT_SERIALIZATION
  MBEDTLS_DEBUG_C MBEDTLS_SELF_TEST
  MBEDTLS_KEY_EXCHANGE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED
  MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED
  MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED
  MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED MBEDTLS_DHM_C
  MBEDTLS_ARC4_C MBEDTLS_BLOWFISH_C MBEDTLS_CAMELLIA_C MBEDTLS_CCM_C MBEDTLS_DES_C
  MBEDTLS_XTEA_C MBEDTLS_CIPHER_MODE_CFB MBEDTLS_CIPHER_MODE_OFB MBEDTLS_CIPHER_MODE_XTS
  MBEDTLS_MD5_C MBEDTLS_RIPEMD160_C MBEDTLS_HKDF_C MBEDTLS_PADLOCK_C MBEDTLS_GENPRIME
  MBEDTLS_PKCS5_C MBEDTLS_PKCS12_C
  MBEDTLS_PSA_CRYPTO_C MBEDTLS_PSA_CRYPTO_STORAGE_C MBEDTLS_PSA_ITS_FILE_C
  MBEDTLS_ECP_DP_SECP192R1_ENABLED MBEDTLS_ECP_DP_SECP224R1_ENABLED
  MBEDTLS_ECP_DP_SECP192K1_ENABLED MBEDTLS_ECP_DP_SECP224K1_ENABLED
  MBEDTLS_ECP_DP_SECP256K1_ENABLED MBEDTLS_ECP_DP_BP256R1_ENABLED
  MBEDTLS_ECP_DP_BP384R1_ENABLED MBEDTLS_ECP_DP_BP512R1_ENABLED MBEDTLS_ECP_DP_CURVE448_ENABLED
  MBEDTLS_KEY_EXCHANGE_RSA_ENABLED MBEDTLS_CIPHER_MODE_CBC MBEDTLS_CIPHER_MODE_CTR
  MBEDTLS_CIPHER_PADDING_PKCS7 MBEDTLS_CIPHER_PADDING_ONE_AND_ZEROS
  MBEDTLS_CIPHER_PADDING_ZEROS_AND_LEN MBEDTLS_CIPHER_PADDING_ZEROS
  MBEDTLS_SSL_ENCRYPT_THEN_MAC MBEDTLS_SSL_RENEGOTIATION MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
  MBEDTLS_SSL_EXPORT_KEYS MBEDTLS_SSL_FALLBACK_SCSV MBEDTLS_SSL_ALL_ALERT_MESSAGES
  MBEDTLS_X509_CRL_PARSE_C MBEDTLS_VERSION_FEATURES MBEDTLS_PK_RSA_ALT_SUPPORT
)
# Smaller variants of what stays (a few KiB each; speed does not matter for a handshake or
# two per drain): AES with one 2 KiB table instead of four, SHA-256/512 without unrolling.
MBEDTLS_ENABLE=(MBEDTLS_AES_FEWER_TABLES MBEDTLS_SHA256_SMALLER MBEDTLS_SHA512_SMALLER)

# mbedTLS 2.28 checks only dNSName SANs, so a certificate could never be verified for an
# IP-literal URL (https://$KUBERNETES_SERVICE_HOST is one; the apiserver's certificate
# carries the Service IP as an iPAddress SAN). Backport of the iPAddress check that
# mbed TLS 3.5 has (exact 4/16-octet match; no effect on DNS names).
MBEDTLS_IP_SAN_PATCH=$(cat <<'PATCH'
--- a/library/x509_crt.c
+++ b/library/x509_crt.c
@@ -39,6 +39,7 @@
 #include "mbedtls/platform_util.h"
 
 #include <string.h>
+#include <arpa/inet.h> /* lameduck: inet_pton() for iPAddress SAN checks */
 
 #if defined(MBEDTLS_PEM_PARSE_C)
 #include "mbedtls/pem.h"
@@ -3029,6 +3030,20 @@
         return x509_crt_check_cn(name, cn, cn_len);
     }
 
+    /* iPAddress (lameduck: backport of the IP SAN check of mbed TLS 3.5): the
+     * reference identity is an IP literal, compared with the 4 or 16 octets. */
+    if (san_type == MBEDTLS_X509_SAN_IP_ADDRESS) {
+        unsigned char ip[16];
+        (void) cn_len; /* cn is NUL-terminated (see x509_crt_verify_name) */
+        if (name->len == 4 && inet_pton(AF_INET, cn, ip) == 1) {
+            return memcmp(name->p, ip, 4) == 0 ? 0 : -1;
+        }
+        if (name->len == 16 && inet_pton(AF_INET6, cn, ip) == 1) {
+            return memcmp(name->p, ip, 16) == 0 ? 0 : -1;
+        }
+        return -1;
+    }
+
     /* (We may handle other types here later.) */
 
     /* Unrecognized type */
PATCH
)

build_mbedtls() { # SRC_DIR
  local src=$1 name cfg=$1/include/mbedtls/config.h
  printf '%s\n' "$MBEDTLS_IP_SAN_PATCH" | patch -d "$src" -p1 -s -F0 --no-backup-if-mismatch \
    || die "mbedTLS: the iPAddress SAN patch does not apply"
  for name in "${MBEDTLS_DISABLE[@]}"; do
    grep -qE "^#define ${name}([[:space:]]|$)" "$cfg" || die "mbedTLS config: $name not found in $cfg"
    sed -i -E "s|^#define ${name}([[:space:]]\|$)|//#define ${name}\1|" "$cfg"
  done
  for name in "${MBEDTLS_ENABLE[@]}"; do
    grep -qE "^//#define ${name}([[:space:]]|$)" "$cfg" || die "mbedTLS config: //$name not found in $cfg"
    sed -i -E "s|^//#define ${name}([[:space:]]\|$)|#define ${name}\1|" "$cfg"
  done
  cmake -S "$src" -B "$src/_build" "${CMAKE_COMPILER_ARGS[@]}" \
    -DCMAKE_BUILD_TYPE=MinSizeRel \
    -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables -ffile-prefix-map=$src=mbedtls" \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" -DLIB_INSTALL_DIR=lib \
    -DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF -DENABLE_ZLIB_SUPPORT=OFF \
    -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
    -DMBEDTLS_FATAL_WARNINGS=OFF -DINSTALL_MBEDTLS_HEADERS=ON >/dev/null
  cmake --build "$src/_build" -j "$JOBS"
  cmake --install "$src/_build" >/dev/null
}

# zlib: the static library only (libz.a, zlib.h, zlib.pc), for curl's gzip/deflate
# decoding of API responses (lameduck asks with Accept-Encoding). curl uses inflate only;
# --gc-sections drops the rest (deflate, gz* file I/O).
build_zlib() { # SRC_DIR
  local src=$1
  (cd "$src" && CHOST=$TRIPLET CC=$CC \
     CFLAGS="-Os -ffunction-sections -fdata-sections -ffile-prefix-map=$src=zlib" \
     ./configure --static --prefix="$PREFIX" >"$src/_configure.log" 2>&1) \
     || { tail -40 "$src/_configure.log" >&2; die "zlib: configure failed (see above)"; }
  make -C "$src" -j "$JOBS" libz.a >/dev/null
  make -C "$src" install >/dev/null
}

# curl: HTTP + HTTPS (mbedTLS) only, gzip/deflate bodies (zlib); no other protocols,
# brotli/zstd, IDN, PSL, HTTP/2, cookies, proxy, unix sockets, no HTTP auth schemes
# (lameduck sends its bearer token as a header), no verbose strings (CURLOPT_ERRORBUFFER
# keeps its messages), no socketpair wake-up (lameduck never calls curl_multi_wakeup),
# no pthreads, no compiled-in CA bundle/path
# (lameduck passes CURLOPT_CAINFO), no threaded resolver (no threads; the API host is an
# IP literal, which curl converts itself without calling getaddrinfo; a host name given
# with --api-server is resolved by lameduck's own resolver, src/kube/resolver.h, and
# handed to curl with CURLOPT_RESOLVE; curl's getaddrinfo call is served by the
# numeric-only src/base/static_getaddrinfo.c, which keeps glibc's NSS out of the link).
CURL_CONFIGURE_ARGS=(
  --disable-shared --enable-static --with-pic=no
  --disable-dependency-tracking --disable-silent-rules
  --disable-debug --disable-curldebug --disable-warnings --disable-werror
  --enable-symbol-hiding --disable-versioned-symbols
  --with-mbedtls="$PREFIX" --without-openssl --without-gnutls --without-wolfssl
  --without-bearssl --without-rustls --without-nss --without-default-ssl-backend
  --without-ca-bundle --without-ca-path --without-ca-fallback
  --enable-http --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp
  --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb
  --disable-smtp --disable-gopher --disable-mqtt --disable-websockets
  --disable-proxy --disable-cookies --disable-crypto-auth --disable-ntlm --disable-ntlm-wb
  --disable-tls-srp --disable-sspi --disable-doh --disable-mime --disable-dateparse
  --disable-netrc --disable-progress-meter --disable-alt-svc --disable-hsts
  --disable-headers-api --disable-dnsshuffle --disable-get-easy-options
  --disable-manual --disable-libcurl-option --disable-ares --disable-threaded-resolver
  --disable-verbose --disable-http-auth --disable-unix-sockets --disable-socketpair
  --disable-pthreads --enable-ipv6
  --with-zlib="$PREFIX" --without-brotli --without-zstd --without-libidn2 --without-winidn
  --without-libpsl --without-libgsasl --without-nghttp2 --without-ngtcp2 --without-nghttp3
  --without-quiche --without-msh3 --without-hyper --without-libssh2 --without-libssh
  --without-wolfssh --without-librtmp --without-gssapi
  --without-zsh-functions-dir --without-fish-functions-dir
)

# Without verbose strings curl still formats the peer's certificate for a verbose handle
# (mbedtls_x509_crt_info and its OID tables) only to drop the text; compile that out.
CURL_CERT_DUMP_PATCH=$(cat <<'PATCH'
--- a/lib/vtls/mbedtls.c
+++ b/lib/vtls/mbedtls.c
@@ -754,6 +754,7 @@
 
   peercert = mbedtls_ssl_get_peer_cert(&backend->ssl);
 
+#ifndef CURL_DISABLE_VERBOSE_STRINGS /* lameduck: no certificate dump without verbose strings */
   if(peercert && data->set.verbose) {
     const size_t bufsize = 16384;
     char *buffer = malloc(bufsize);
@@ -768,6 +769,7 @@
 
     free(buffer);
   }
+#endif
 
   if(pinnedpubkey) {
     int size;
PATCH
)

build_curl() { # SRC_DIR
  local src=$1 p
  # Debian's last two patches turn the tree into the GnuTLS / NSS flavour; debian/rules
  # pops them for the OpenSSL flavour, and so do we.
  for p in 99_nss.patch 90_gnutls.patch; do
    grep -qxF "$p" "$src/debian/patches/series" || die "curl: $p not in debian/patches/series"
    patch -d "$src" -R -p1 -s -F0 <"$src/debian/patches/$p"
  done
  printf '%s\n' "$CURL_CERT_DUMP_PATCH" | patch -d "$src" -p1 -s -F0 --no-backup-if-mismatch \
    || die "curl: the certificate-dump patch does not apply"
  # Debian patches touch configure.ac/Makefile.am: regenerate like debian/rules does
  # (./buildconf, then restore Debian's patched ltmain.sh).
  cp "$src/ltmain.sh" "$src/ltmain.sh.debian"
  (cd "$src" && autoreconf -fi >/dev/null 2>&1) || die "curl: autoreconf failed"
  cp "$src/ltmain.sh.debian" "$src/ltmain.sh"
  local host=()
  if [[ $CROSS == 1 ]]; then host=(--build="$(gcc -dumpmachine)" --host="$TRIPLET"); fi
  (cd "$src" && CC=$CC \
     CFLAGS="-Os -ffunction-sections -fdata-sections -ffile-prefix-map=$src=curl" \
     ./configure --prefix="$PREFIX" "${host[@]}" "${CURL_CONFIGURE_ARGS[@]}" >"$src/_configure.log" 2>&1) \
     || { tail -40 "$src/_configure.log" >&2; die "curl: configure failed (see above)"; }
  make -C "$src/lib" -j "$JOBS" >/dev/null
  make -C "$src/lib" install >/dev/null
  make -C "$src/include" install >/dev/null
  make -C "$src" install-pkgconfigDATA >/dev/null
  cp "$src/_configure.log" "$PREFIX/curl-configure.log"
}

# The recipe (pins + build functions + flags + compiler) identifies a cache entry: editing
# any of it, or a new compiler, forces a rebuild of the prefix.
recipe_id() {
  { declare -p MBEDTLS_DEBVER CURL_DEBVER ZLIB_DEBVER MBEDTLS_DISABLE MBEDTLS_ENABLE MBEDTLS_IP_SAN_PATCH \
      CURL_CONFIGURE_ARGS CURL_CERT_DUMP_PATCH \
      ARCH TRIPLET CROSS CMAKE_COMPILER_ARGS
    declare -f build_mbedtls build_zlib build_curl
    "$CC" --version | head -1; } | sha256sum | cut -c1-16
}

deps_cached() {
  [[ -f $PREFIX/lib/libcurl.a && -f $PREFIX/lib/libmbedtls.a && -f $PREFIX/lib/libmbedx509.a \
     && -f $PREFIX/lib/libmbedcrypto.a && -f $PREFIX/lib/libz.a && -f $PREFIX/include/curl/curl.h ]] \
    && [[ $(cat "$PREFIX/.lameduck-recipe" 2>/dev/null) == "$(recipe_id)" ]]
}

build_deps() {
  ensure_source_versions
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/lameduck-static.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  # let apt's unprivileged _apt user write the downloads (avoids the "unsandboxed" warning)
  if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
  log "fetching Debian sources: mbedtls=$MBEDTLS_DEBVER zlib=$ZLIB_DEBVER curl=$CURL_DEBVER"
  (cd "$work" && apt-get source -qq --download-only "mbedtls=$MBEDTLS_DEBVER" "zlib=$ZLIB_DEBVER" \
                   "curl=$CURL_DEBVER") \
    || die "apt-get source failed"
  (cd "$work" && dpkg-source -x "mbedtls_${MBEDTLS_DEBVER#*:}.dsc" mbedtls >/dev/null \
              && dpkg-source -x "zlib_${ZLIB_DEBVER#*:}.dsc" zlib >/dev/null \
              && dpkg-source -x "curl_${CURL_DEBVER#*:}.dsc" curl >/dev/null) \
    || die "dpkg-source -x failed"
  rm -rf "$PREFIX"
  mkdir -p "$PREFIX"
  log "building mbedTLS $MBEDTLS_DEBVER ($ARCH) -> $PREFIX"
  build_mbedtls "$work/mbedtls"
  log "building zlib $ZLIB_DEBVER ($ARCH) -> $PREFIX"
  build_zlib "$work/zlib"
  log "building libcurl $CURL_DEBVER ($ARCH) -> $PREFIX"
  build_curl "$work/curl"
  recipe_id >"$PREFIX/.lameduck-recipe"
  rm -rf "$work"
  trap - EXIT
}

# ---------------------------------------------------------------------------------------
ensure_packages "${TOOL_PKGS[@]}" "${DEV_PKGS[@]}"

# One builder at a time per cache root (several checkouts may share it).
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
if ! flock -n 9; then
  log "waiting for another build-static.sh holding $CACHE_ROOT/.lock"
  flock 9
fi
if deps_cached; then
  log "using cached mbedTLS + zlib + curl in $PREFIX"
else
  build_deps
fi
exec 9>&-
[[ ${LAMEDUCK_STATIC_DEPS_ONLY:-0} == 1 ]] && { log "deps ready in $PREFIX"; exit 0; }

# The header-only deps, copied from the Debian packages into the build dir: a cross
# compiler must not search the build machine's /usr/include (its libc and libstdc++
# headers would shadow the target's), and the copy is the same for every architecture.
HEADERS=$BUILD_DIR/_headers
rm -rf "$HEADERS"
mkdir -p "$HEADERS"
for d in spdlog fmt nlohmann; do
  [[ -d /usr/include/$d ]] || die "/usr/include/$d missing (header-only dev packages: ${DEV_PKGS[*]})"
  cp -a "/usr/include/$d" "$HEADERS/"
done

log "configuring lameduck (static, $ARCH) in $BUILD_DIR"
cmake -S "$REPO" -B "$BUILD_DIR" "${CMAKE_COMPILER_ARGS[@]}" \
  -DLAMEDUCK_STATIC=ON -DLAMEDUCK_TESTS=OFF -DCMAKE_BUILD_TYPE=MinSizeRel \
  -DLAMEDUCK_STATIC_PREFIX="$PREFIX" -DLAMEDUCK_STATIC_HEADERS="$HEADERS"
targets=(lameduck)
if [[ $TEST_HELPERS == 1 ]]; then targets+=(sigecho_static); fi
log "building ${targets[*]}"
cmake --build "$BUILD_DIR" --target "${targets[@]}" -j "$JOBS"

BIN=$BUILD_DIR/lameduck
"$STRIP" --strip-all "$BIN"
if [[ $TEST_HELPERS == 1 ]]; then
  "$STRIP" --strip-all "$BUILD_DIR/sigecho_static"
  log "built $BUILD_DIR/sigecho_static"
fi
log "built $BIN"
printf '%s\n' "size: $(stat -c %s "$BIN") bytes (limit 2516582, target 2097152)"
"$SIZE" "$BIN" || true
file "$BIN"
sha256sum "$BIN"
