// SPDX-License-Identifier: Apache-2.0
#include "kube/kube_config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "base/small_file.h"
#include "base/text.h"
#include "kube/host_lookup.h"

namespace lameduck {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// The namespace file's first line (a namespace name is at most 63 bytes).
std::string first_line(const std::string& path) {
  SmallFile file = read_small_file("the namespace file", path, 4096);
  std::string line = file.data.substr(0, file.data.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// Global-scope addresses of the Pod's interfaces: what a Pod IP looks like.
std::vector<std::string> interface_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || (it->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (it->ifa_addr->sa_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(it->ifa_addr);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(it->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) || IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) {
        continue;
      }
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    } else {
      continue;
    }
    out.emplace_back(text);
  }
  freeifaddrs(list);
  return out;
}

}  // namespace

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c == ',' || c == ' ') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

std::string in_cluster_url(const std::string& host, const std::string& port) {
  if (host.empty()) return {};
  bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return "https://" + (ipv6 ? "[" + host + "]" : host) + ":" + (port.empty() ? "443" : port);
}

KubeConfig resolve_kube_config(const KubeOptions& api) {
  KubeConfig config;
  std::string sa = kServiceAccountDir;
  config.api_server = api.api_server.empty() ? in_cluster_url(env("KUBERNETES_SERVICE_HOST"),
                                                              env("KUBERNETES_SERVICE_PORT"))
                                             : api.api_server;
  while (!config.api_server.empty() && config.api_server.back() == '/') {
    config.api_server.pop_back();
  }
  config.token_file = api.token_file.empty() ? sa + "/token" : api.token_file;
  config.ca_file = api.ca_file.empty() ? sa + "/ca.crt" : api.ca_file;
  if (config.api_server.empty()) {
    config.problems.emplace_back("no API server (KUBERNETES_SERVICE_HOST unset, no --api-server)");
  } else if (config.api_server.rfind("https://", 0) != 0) {
    config.problems.push_back("--api-server must be an https:// URL, got '" + config.api_server +
                              "'");
  }
  // A FIFO, a directory or a huge file there is caught now, before the app starts; the
  // drain reads both again, with the same checks.
  if (auto error = check_small_file("the token", config.token_file, kMaxTokenBytes);
      !error.empty()) {
    config.problems.push_back(error);
  }
  if (auto error = check_small_file("the CA", config.ca_file, kMaxCaBytes); !error.empty()) {
    config.problems.push_back(error);
  }
  for (auto& problem : config.problems) problem = clean_text(problem, 500);
  // A host name is resolved from now on, on a thread, never in the loop (host_lookup.h).
  if (config.usable()) prefetch_host(config.api_server);
  return config;
}

std::vector<std::string> check_api_setup(const KubeOptions& api) {
  std::vector<std::string> out;
  std::string sa = kServiceAccountDir;
  auto check = [&out](const char* what, const std::string& path, std::size_t max_bytes) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return;  // mounted at run time
    if (auto error = check_small_file(what, path, max_bytes); !error.empty()) {
      out.push_back(error);
    }
  };
  check("the token", api.token_file.empty() ? sa + "/token" : api.token_file, kMaxTokenBytes);
  check("the CA", api.ca_file.empty() ? sa + "/ca.crt" : api.ca_file, kMaxCaBytes);
  if (!api.api_server.empty()) {
    std::string host;
    std::string port;
    if (api.api_server.rfind("https://", 0) != 0 || !url_host_port(api.api_server, host, port)) {
      out.push_back("--api-server must be an https:// URL, got '" +
                    clean_text(api.api_server, 200) + "'");
    } else if (!is_ip_literal(host)) {
      out.push_back("note: --api-server names a host (" + clean_text(host, 200) +
                    "): lameduck resolves it at start-up on a thread and never in its loop; "
                    "a drain whose lookup has no answer within the connect timeout falls back "
                    "to --delay (an IP literal, like KUBERNETES_SERVICE_HOST, needs no DNS)");
    }
  }
  return out;
}

ResolvedIdentity resolve_identity(const KubeOptions& api) {
  ResolvedIdentity id;
  if (!api.pod_ips.empty()) {
    id.pod.ips = api.pod_ips;
    id.ips_from = "--pod-ip";
  } else if (auto ips = split_list(env("POD_IPS")); !ips.empty()) {
    id.pod.ips = ips;
    id.ips_from = "POD_IPS";
  } else if (auto ip = split_list(env("POD_IP")); !ip.empty()) {
    id.pod.ips = ip;
    id.ips_from = "POD_IP";
  } else {
    id.pod.ips = interface_addresses();
    id.ips_from = "interface addresses";
  }

  if (!api.pod_name.empty()) {
    id.pod.name = api.pod_name;
    id.name_from = "--pod-name";
  } else if (auto name = env("POD_NAME"); !name.empty()) {
    id.pod.name = name;
    id.name_from = "POD_NAME";
  } else {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) id.pod.name = host;
    id.name_from = "hostname";
  }

  std::string namespace_file = std::string(kServiceAccountDir) + "/namespace";
  if (!api.namespace_name.empty()) {
    id.pod.namespace_name = api.namespace_name;
    id.namespace_from = "--namespace";
  } else if (auto ns = env("POD_NAMESPACE"); !ns.empty()) {
    id.pod.namespace_name = ns;
    id.namespace_from = "POD_NAMESPACE";
  } else if (auto from_file = first_line(namespace_file); !from_file.empty()) {
    id.pod.namespace_name = from_file;
    id.namespace_from = namespace_file;
  }
  // From the environment, flags and files: cleaned once here (a name that had to be
  // cleaned matches no slice, which is the safe side: the wait falls back or runs long).
  id.pod.name = clean_text(id.pod.name, 253);
  id.pod.namespace_name = clean_text(id.pod.namespace_name, 253);
  for (auto& ip : id.pod.ips) ip = clean_text(ip, 64);
  return id;
}

std::string describe_identity(const ResolvedIdentity& id) {
  std::string ips;
  for (const auto& ip : id.pod.ips) ips += (ips.empty() ? "" : ",") + ip;
  return "pod " + (id.pod.name.empty() ? std::string("?") : id.pod.name) + " (from " +
         id.name_from + ") in namespace " +
         (id.pod.namespace_name.empty() ? std::string("?") : id.pod.namespace_name) +
         (id.namespace_from.empty() ? "" : " (from " + id.namespace_from + ")") + ", IPs " +
         (ips.empty() ? std::string("none") : ips) + " (from " + id.ips_from + ")";
}

}  // namespace lameduck
