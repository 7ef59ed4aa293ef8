package main

import _ "unsafe" // for go:linkname

// A Kubernetes release build stamps its version into k8s.io/component-base/version and
// k8s.io/client-go/pkg/version (hack/lib/version.sh, -ldflags -X); `go run` leaves both at
// v0.0.0-master+$Format:%H$. The recorder stamps the version it records, so the apiserver's
// own loopback requests carry the user agent of a released kube-apiserver. The module zip has
// no git commit: the commit is a placeholder (gitCommit).

//go:linkname baseGitVersion k8s.io/component-base/version.gitVersion
var baseGitVersion string

//go:linkname baseGitCommit k8s.io/component-base/version.gitCommit
var baseGitCommit string

//go:linkname baseGitMajor k8s.io/component-base/version.gitMajor
var baseGitMajor string

//go:linkname baseGitMinor k8s.io/component-base/version.gitMinor
var baseGitMinor string

//go:linkname baseGitTreeState k8s.io/component-base/version.gitTreeState
var baseGitTreeState string

//go:linkname clientGitVersion k8s.io/client-go/pkg/version.gitVersion
var clientGitVersion string

//go:linkname clientGitCommit k8s.io/client-go/pkg/version.gitCommit
var clientGitCommit string

//go:linkname clientGitMajor k8s.io/client-go/pkg/version.gitMajor
var clientGitMajor string

//go:linkname clientGitMinor k8s.io/client-go/pkg/version.gitMinor
var clientGitMinor string

//go:linkname clientGitTreeState k8s.io/client-go/pkg/version.gitTreeState
var clientGitTreeState string

func init() {
	commit := gitCommit + "000000000000000000000000000000000"
	baseGitVersion, baseGitCommit, baseGitMajor, baseGitMinor, baseGitTreeState = k8sVersion, commit, "1", "37", "clean"
	clientGitVersion, clientGitCommit, clientGitMajor, clientGitMinor, clientGitTreeState = k8sVersion, commit, "1", "37", "clean"
}
