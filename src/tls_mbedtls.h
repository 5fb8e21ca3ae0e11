// The static build's TLS is mbedTLS 2.28 (Debian bookworm), which matches a server
// certificate against DNS names only. In a Pod the API server is reached by IP
// (KUBERNETES_SERVICE_HOST) and its certificate names that IP as an iPAddress SAN, so
// without help every in-cluster request would fail with BADCERT_CN_MISMATCH. This adds
// the missing iPAddress check; chain, expiry and signature checks stay mbedTLS's own.
#pragma once

#ifdef LAMEDUCK_MBEDTLS

#include <curl/curl.h>

#include <cstddef>
#include <string>

namespace lameduck {

// True when the DER-encoded X.509 v3 extensions (mbedtls_x509_crt::v3_ext) hold a
// subjectAltName iPAddress equal to ip (4 or 16 bytes).
bool extensions_have_ip_san(const unsigned char* der, std::size_t len, const unsigned char* ip,
                            std::size_t ip_len);

// Installs the check on a request to url (an https URL whose host may be an IP literal).
void enable_ip_san_check(CURL* easy, const std::string& url);

}  // namespace lameduck

#endif
