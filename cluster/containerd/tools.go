//go:build tools

// Package containerd pins the container runtime of scripts/cluster.sh: containerd 2.x
// with its built-in CRI plugin, its runc shim and ctr (for image imports).
package containerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
