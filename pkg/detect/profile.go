package detect

import (
	"path"
	"sort"
	"strconv"
	"strings"
)

// Exception leaves out the findings of some rules that match every one of its non-empty
// fields: what a cluster does every day by design, which a rule cannot tell from an attack on
// its own. Users, Namespaces and Names are `*` globs (Names also match the generateName of a
// workload created without a name, as controllers create pods); Images match when the finding
// has images and every one of them matches a glob, so that a known workload's name with
// another image is still reported.
type Exception struct {
	Rules                            []string // rule ids (globs)
	Users, Namespaces, Names, Images []string
	Why                              string
}

// ProfileKnownGood is the name of the known-good profile.
const ProfileKnownGood = "knownGood"

// Profiles are the shipped sets of exceptions, by name (the datasource setting
// detections.profile). Each is off unless named.
var Profiles = map[string][]Exception{ProfileKnownGood: KnownGood}

// imageGlobs matches an image by its repository's last path element: "name:tag",
// "name@sha256:…", and the same from any registry.
func imageGlobs(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n+":*", n+"@*", "*/"+n+":*", "*/"+n+"@*")
	}
	return out
}

// KnownGood is what stock clusters (EKS in particular) and their common add-ons do by design
// and the catalogue reports: see docs/detections.md.
var KnownGood = []Exception{
	{
		Rules: []string{"secrets-list-wide"},
		Users: []string{"system:serviceaccount:*:kube-state-metrics"},
		Why:   "kube-state-metrics lists and watches every secret to export their metadata",
	},
	{
		Rules: []string{"privileged-workload"}, Namespaces: []string{"kube-system"}, Names: []string{"kube-proxy*"},
		Images: imageGlobs("kube-proxy"),
		Why:    "kube-proxy runs privileged on the host network to program every node's service rules",
	},
	{
		Rules: []string{"privileged-workload"}, Namespaces: []string{"kube-system"}, Names: []string{"aws-node*"},
		Images: imageGlobs("amazon-k8s-cni", "amazon-k8s-cni-init", "aws-network-policy-agent"),
		Why:    "aws-node (the Amazon VPC CNI) runs privileged on the host network to wire pod networking",
	},
	{
		Rules: []string{"privileged-workload"}, Namespaces: []string{"kube-system"}, Names: []string{"ebs-csi-node*"},
		Images: imageGlobs("aws-ebs-csi-driver", "csi-node-driver-registrar", "livenessprobe"),
		Why:    "the EBS CSI node plugin runs privileged to mount volumes on the host",
	},
	{
		Rules: []string{"privileged-workload"}, Names: []string{"*node-exporter*"},
		Images: imageGlobs("node-exporter", "kube-rbac-proxy"),
		Why:    "Prometheus node-exporter reads the host's /proc and /sys on the host network and PID namespace",
	},
	{
		Rules: []string{"*"}, Users: []string{"eks:*"},
		Why: "eks:* users are EKS's own control-plane components, which AWS operates (eks:addon-manager calls from AWS addresses)",
	},
}

// excepted reports whether an exception of the profile covers the rule's finding.
func excepted(profile []Exception, rule string, f *Finding) bool {
	for i := range profile {
		if profile[i].covers(rule, f) {
			return true
		}
	}
	return false
}

func (x *Exception) covers(rule string, f *Finding) bool {
	ok := false
	for _, p := range x.Rules {
		if m, _ := path.Match(p, rule); m {
			ok = true
			break
		}
	}
	switch {
	case !ok:
		return false
	case len(x.Users) > 0 && !globAny(x.Users, f.User):
		return false
	case len(x.Namespaces) > 0 && !globAny(x.Namespaces, f.Namespace):
		return false
	case len(x.Names) > 0 && !globAny(x.Names, f.Name) && (f.Name != "" || !globAny(x.Names, f.generateName)):
		return false
	}
	if len(x.Images) > 0 {
		if len(f.Images) == 0 {
			return false
		}
		for _, img := range f.Images {
			if !globAny(x.Images, img) {
				return false
			}
		}
	}
	return true
}

// profileNotice says how many findings the profile left out, by rule.
func (d *Detector) profileNotice() string {
	total := 0
	ids := make([]string, 0, len(d.profiled))
	for id, n := range d.profiled {
		total += n
		ids = append(ids, id)
	}
	if total == 0 {
		return ""
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id + " " + strconv.Itoa(d.profiled[id])
	}
	return "the " + d.cfg.Profile + " profile (detections.profile) left out " + strconv.Itoa(total) + " findings of what clusters do by design: " +
		strings.Join(parts, ", ")
}
