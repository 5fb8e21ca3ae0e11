// SPDX-License-Identifier: Apache-2.0
// The static build's getaddrinfo() and freeaddrinfo(): numeric hosts only, as if every
// call had AI_NUMERICHOST | AI_NUMERICSERV. Linked into the static binary only (see
// CMakeLists.txt), where they keep libc.a's getaddrinfo.o out of the link, and with it
// NSS, nscd and glibc's DNS resolver (98,368 bytes on amd64; the README's "Size,
// start-up, signals and reaping (issue 21)" has the step).
//
// Why this is enough: lameduck resolves the API host itself (src/kube/resolver.h) and
// hands curl the addresses with CURLOPT_RESOLVE, and an IP literal curl converts without
// a lookup, so curl never asks getaddrinfo for a name. Its code still calls it
// (Curl_getaddrinfo_ex in curl_addrinfo.o), which is what pulled the member in. Should
// curl ever ask for a name, it gets EAI_NONAME ("Could not resolve host"), never a
// blocking lookup in lameduck's loop. Why not a curl without the call: curl 7.88.1's
// configure offers c-ares, the threaded resolver or the synchronous one (ours, with
// --disable-threaded-resolver), never none; dropping it would take a patch to curl and
// a new dependency prefix, for the same bytes this file saves.
//
// What it serves: node NULL (the wildcard with AI_PASSIVE, else the loopback address), an
// IPv4 or IPv6 literal; service NULL or a decimal port; ai_family AF_UNSPEC, AF_INET or
// AF_INET6; one entry, of hints' socket type and protocol (SOCK_STREAM when 0);
// AI_CANONNAME gives the literal. Anything else: EAI_NONAME, EAI_SERVICE or EAI_FAMILY.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct numeric_addrinfo {
  struct addrinfo info;
  union {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
  } address;
  char canonical[INET6_ADDRSTRLEN];
};

static int parse_port(const char* service, unsigned short* port) {
  unsigned long value = 0;
  *port = 0;
  if (service == NULL) return 1;
  if (*service == '\0') return 0;
  for (const char* c = service; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return 0;
    value = value * 10 + (unsigned long)(*c - '0');
    if (value > 65535) return 0;
  }
  *port = htons((unsigned short)value);
  return 1;
}

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                struct addrinfo** result) {
  int family = hints != NULL ? hints->ai_family : AF_UNSPEC;
  int flags = hints != NULL ? hints->ai_flags : 0;
  unsigned short port = 0;
  struct numeric_addrinfo* ai = NULL;
  *result = NULL;
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) return EAI_FAMILY;
  if (node == NULL && service == NULL) return EAI_NONAME;
  if (!parse_port(service, &port)) return EAI_SERVICE;
  ai = calloc(1, sizeof *ai);
  if (ai == NULL) return EAI_MEMORY;
  if (node == NULL) {
    int passive = (flags & AI_PASSIVE) != 0;
    if (family == AF_INET6) {
      ai->address.v6.sin6_addr = passive ? in6addr_any : in6addr_loopback;
      ai->info.ai_family = AF_INET6;
    } else {
      ai->address.v4.sin_addr.s_addr = htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
      ai->info.ai_family = AF_INET;
    }
  } else if (family != AF_INET6 && inet_pton(AF_INET, node, &ai->address.v4.sin_addr) == 1) {
    ai->info.ai_family = AF_INET;
  } else if (family != AF_INET && inet_pton(AF_INET6, node, &ai->address.v6.sin6_addr) == 1) {
    ai->info.ai_family = AF_INET6;
  } else {
    free(ai);
    return EAI_NONAME;  // a name: lameduck's own resolver answers those, never this
  }
  if (ai->info.ai_family == AF_INET) {
    ai->address.v4.sin_family = AF_INET;
    ai->address.v4.sin_port = port;
    ai->info.ai_addrlen = sizeof ai->address.v4;
  } else {
    ai->address.v6.sin6_family = AF_INET6;
    ai->address.v6.sin6_port = port;
    ai->info.ai_addrlen = sizeof ai->address.v6;
  }
  ai->info.ai_addr = (struct sockaddr*)&ai->address;
  ai->info.ai_socktype =
      hints != NULL && hints->ai_socktype != 0 ? hints->ai_socktype : SOCK_STREAM;
  ai->info.ai_protocol = hints != NULL ? hints->ai_protocol : 0;
  if ((flags & AI_CANONNAME) != 0 && node != NULL) {
    strncpy(ai->canonical, node, sizeof ai->canonical - 1);
    ai->info.ai_canonname = ai->canonical;
  }
  *result = &ai->info;
  return 0;
}

void freeaddrinfo(struct addrinfo* list) {
  while (list != NULL) {
    struct addrinfo* next = list->ai_next;
    free(list);  // the entry, its address and its name are one allocation
    list = next;
  }
}
