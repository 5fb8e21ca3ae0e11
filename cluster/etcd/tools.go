//go:build tools

// Package etcd pins the etcd server that scripts/cluster.sh builds (go.etcd.io/etcd/server/v3
// is the etcd binary's main package). etcd's own go.mod replaces its sibling modules with
// ../ paths; those replaces apply only inside etcd's repository, so here each sibling comes
// in at its published version of the same release.
package etcd

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
