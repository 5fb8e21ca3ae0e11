//go:build tools

// Package runc pins the OCI runtime that containerd's shim calls. runc needs cgo (its
// nsenter part is C), so scripts/cluster.sh builds it with CGO_ENABLED=1 and without the
// seccomp tag (no libseccomp headers needed; the cluster's Pods run Unconfined).
package runc

import _ "github.com/opencontainers/runc"
