//go:build tools

// Package kube pins the upstream Kubernetes components that scripts/cluster.sh builds.
// k8s.io/kubernetes cannot be required as it is: its go.mod points the k8s.io/* staging
// modules at ./staging, so go.mod replaces each with its published v0.X.Y of the same
// release. The blank imports keep every component's packages in go.sum.
package kube

import (
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
