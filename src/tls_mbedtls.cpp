#include "tls_mbedtls.h"

#ifdef LAMEDUCK_MBEDTLS

#include <arpa/inet.h>
#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <cstring>

namespace lameduck {
namespace {

// lameduck talks to one API server; its address is what every handshake must match.
struct ExpectedIp {
  unsigned char bytes[16] = {};
  std::size_t len = 0;
};

ExpectedIp& expected_ip() {
  static ExpectedIp ip;
  return ip;
}

// "https://[fd00::1]:443/apis" -> "fd00::1"; "https://10.0.0.1/x" -> "10.0.0.1".
std::string host_of(const std::string& url) {
  auto start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  if (start < url.size() && url[start] == '[') {
    auto close = url.find(']', start);
    return close == std::string::npos ? std::string() : url.substr(start + 1, close - start - 1);
  }
  auto end = url.find_first_of(":/?", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

int verify(void* data, mbedtls_x509_crt* crt, int depth, uint32_t* flags) {
  const auto* ip = static_cast<const ExpectedIp*>(data);
  if (depth == 0 && ip->len != 0 && (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0 &&
      extensions_have_ip_san(crt->v3_ext.p, crt->v3_ext.len, ip->bytes, ip->len)) {
    *flags &= ~static_cast<uint32_t>(MBEDTLS_X509_BADCERT_CN_MISMATCH);
  }
  return 0;
}

CURLcode on_ssl_config(CURL*, void* config, void* data) {
  mbedtls_ssl_conf_verify(static_cast<mbedtls_ssl_config*>(config), &verify, data);
  return CURLE_OK;
}

}  // namespace

bool extensions_have_ip_san(const unsigned char* der, std::size_t len, const unsigned char* ip,
                            std::size_t ip_len) {
  if (der == nullptr) return false;
  auto* p = const_cast<unsigned char*>(der);
  const unsigned char* end = der + len;
  std::size_t n = 0;
  // Extensions ::= SEQUENCE OF Extension
  if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
    return false;
  }
  end = p + n;
  static const unsigned char kSanOid[] = {0x55, 0x1d, 0x11};  // 2.5.29.17
  while (p < end) {
    // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTETS }
    if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
      return false;
    }
    unsigned char* next = p + n;
    std::size_t oid_len = 0;
    if (mbedtls_asn1_get_tag(&p, next, &oid_len, MBEDTLS_ASN1_OID) != 0) return false;
    bool is_san = oid_len == sizeof kSanOid && std::memcmp(p, kSanOid, oid_len) == 0;
    p += oid_len;
    int critical = 0;
    mbedtls_asn1_get_bool(&p, next, &critical);  // optional
    std::size_t value_len = 0;
    if (mbedtls_asn1_get_tag(&p, next, &value_len, MBEDTLS_ASN1_OCTET_STRING) != 0) return false;
    if (is_san) {
      // GeneralNames ::= SEQUENCE OF GeneralName; iPAddress is [7] IMPLICIT OCTET STRING.
      unsigned char* q = p;
      const unsigned char* value_end = p + value_len;
      std::size_t names_len = 0;
      if (mbedtls_asn1_get_tag(&q, value_end, &names_len,
                               MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
        return false;
      }
      const unsigned char* names_end = q + names_len;
      while (q < names_end) {
        unsigned char tag = *q++;
        std::size_t name_len = 0;
        if (mbedtls_asn1_get_len(&q, names_end, &name_len) != 0) return false;
        if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && name_len == ip_len &&
            std::memcmp(q, ip, ip_len) == 0) {
          return true;
        }
        q += name_len;
      }
    }
    p = next;
  }
  return false;
}

void enable_ip_san_check(CURL* easy, const std::string& url) {
  ExpectedIp& ip = expected_ip();
  std::string host = host_of(url);
  if (inet_pton(AF_INET, host.c_str(), ip.bytes) == 1) {
    ip.len = 4;
  } else if (inet_pton(AF_INET6, host.c_str(), ip.bytes) == 1) {
    ip.len = 16;
  } else {
    ip.len = 0;  // a DNS name: mbedTLS's own check is the right one
  }
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &on_ssl_config);
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, &ip);
}

}  // namespace lameduck

#endif
