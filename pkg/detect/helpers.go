package detect

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

func execDetail(x audit.ExecInfo, code int) string {
	var b strings.Builder
	b.WriteString(x.Subresource)
	if len(x.Command) > 0 {
		b.WriteString(" " + x.CommandLine())
	}
	if x.Container != "" {
		b.WriteString(" in container " + x.Container)
	}
	if x.TTY {
		b.WriteString(" (tty)")
	}
	b.WriteString(codeSuffix(code))
	return b.String()
}

func codeSuffix(code int) string {
	if code >= 400 {
		return fmt.Sprintf(" — failed with %d", code)
	}
	return ""
}

var shells = []string{"sh", "bash", "zsh", "ash", "dash", "ksh", "csh", "tcsh", "fish", "busybox"}

// riskyCommand says why an exec command is risky, or "".
func riskyCommand(cmd []string) string {
	if len(cmd) == 0 {
		return ""
	}
	line := strings.Join(cmd, " ")
	switch {
	case strings.Contains(line, "169.254.169.254") || strings.Contains(line, "metadata.google.internal") || strings.Contains(line, "fd00:ec2::254"):
		return "reaches the cloud metadata endpoint"
	case strings.Contains(line, "/var/run/secrets/kubernetes.io/serviceaccount") || strings.Contains(line, "/run/secrets/kubernetes.io"):
		return "reads the service-account token"
	case strings.Contains(line, "kubeconfig") || strings.Contains(line, ".kube/config") || strings.Contains(line, "/etc/kubernetes/admin.conf"):
		return "reads a kubeconfig"
	}
	for _, arg := range cmd {
		base := path.Base(arg)
		if slices.Contains(shells, base) {
			return "opens a shell"
		}
		if base == "curl" || base == "wget" || base == "nc" || base == "ncat" || base == "socat" {
			return "runs " + base
		}
	}
	return ""
}

// healthEndpoint reports the endpoints anonymous users may reach by default.
func healthEndpoint(uri string) bool {
	p, _, _ := strings.Cut(uri, "?")
	switch {
	case p == "/healthz", p == "/livez", p == "/readyz", p == "/version", p == "/version/",
		strings.HasPrefix(p, "/healthz/"), strings.HasPrefix(p, "/livez/"), strings.HasPrefix(p, "/readyz/"),
		p == "/.well-known/openid-configuration", p == "/openid/v1/jwks":
		return true
	}
	return false
}

// byKey splits time-sorted candidates by key, keys in order of first appearance, each group
// still sorted by time.
func byKey(cands []kept) [][]kept {
	// Two passes: count each group, then fill it, so that no group grows by copying.
	index := map[string]int{}
	var sizes []int
	for i := range cands {
		g, ok := index[cands[i].key]
		if !ok {
			g = len(sizes)
			index[cands[i].key] = g
			sizes = append(sizes, 0)
		}
		sizes[g]++
	}
	groups := make([][]kept, len(sizes))
	for g, n := range sizes {
		groups[g] = make([]kept, 0, n)
	}
	for i := range cands {
		g := index[cands[i].key]
		groups[g] = append(groups[g], cands[i])
	}
	return groups
}

// slide moves a window of width window over cs (one key's candidates, sorted by time) and
// calls at for each candidate i with the first candidate the window holds and how many it
// holds: candidates, or with distinct their distinct items.
func slide(cs []kept, window time.Duration, distinct bool, at func(start, i, n int)) {
	start := 0
	var inWindow map[string]int
	if distinct {
		inWindow = map[string]int{}
	}
	for i := range cs {
		c := &cs[i]
		if distinct {
			inWindow[c.item]++
		}
		for c.sub(&cs[start]) > window {
			if distinct {
				k := cs[start].item
				if inWindow[k]--; inWindow[k] == 0 {
					delete(inWindow, k)
				}
			}
			start++
		}
		n := i - start + 1
		if distinct {
			n = len(inWindow)
		}
		at(start, i, n)
	}
}

// bursts finds, per key, the runs in which at least threshold candidates fall within window of
// each other (a sliding window), and calls hit once per run, when it ends: with its first and
// last candidate and how many it holds. A run lasts as long as the window keeps the threshold,
// so an attack that goes on for an hour is one finding, not one per threshold reached.
// cands are sorted by time.
func bursts(cands []kept, window time.Duration, threshold int, hit func(first, last *kept, n int)) {
	for _, cs := range byKey(cands) {
		runFirst := -1
		slide(cs, window, false, func(start, i, n int) {
			switch {
			case n >= threshold && runFirst < 0:
				runFirst = start
			case n >= threshold:
			case runFirst >= 0:
				// The window lost the threshold with c: the run ended with the candidate before.
				hit(&cs[runFirst], &cs[i-1], i-runFirst)
				runFirst = -1
			}
		})
		if runFirst >= 0 {
			hit(&cs[runFirst], &cs[len(cs)-1], len(cs)-runFirst)
		}
	}
}

// burstApart is how far apart candidates of a key are judged apart by bursts and
// distinctBursts: a window that holds one candidate (or item) is under a threshold of 2 or
// more, so a gap wider than the window ends every run. With a threshold of 1 a run never ends.
func burstApart(window time.Duration, threshold int) time.Duration {
	if threshold < 2 {
		return 0
	}
	return window
}

// inBursts marks the candidates of one key (sorted by time) that some window of bursts (or
// distinctBursts, with distinct) holding the threshold holds: only those can be in a run. The
// others can be left out without changing any run: every window they are in is under the
// threshold, and stays so without them.
func inBursts(cs []kept, window time.Duration, threshold int, distinct bool) []bool {
	in := make([]bool, len(cs))
	next := 0 // the first candidate not yet marked
	slide(cs, window, distinct, func(start, i, n int) {
		if n < threshold {
			return
		}
		for j := max(start, next); j <= i; j++ {
			in[j] = true
		}
		next = i + 1
	})
	return in
}

// distinctBursts is bursts counting distinct items (c.item) rather than candidates; n is the
// number of distinct items in the whole run.
func distinctBursts(cands []kept, window time.Duration, threshold int, hit func(first, last *kept, n int)) {
	for _, cs := range byKey(cands) {
		runFirst := -1
		var runItems map[string]bool
		slide(cs, window, true, func(start, i, n int) {
			switch {
			case n >= threshold && runFirst < 0:
				runFirst, runItems = start, map[string]bool{}
				for _, d := range cs[start : i+1] {
					runItems[d.item] = true
				}
			case n >= threshold:
				runItems[cs[i].item] = true
			case runFirst >= 0:
				// The window lost the threshold with c: the run ended with the candidate before.
				hit(&cs[runFirst], &cs[i-1], len(runItems))
				runFirst = -1
			}
		})
		if runFirst >= 0 {
			hit(&cs[runFirst], &cs[len(cs)-1], len(runItems))
		}
	}
}

// span says how long a run lasted, for details: "within 1m50s".
func span(first, last *kept) time.Duration {
	return last.sub(first).Round(time.Second)
}

var escalationVerbs = []string{"escalate", "bind", "impersonate"}

// dangerousRules explains what in a role's rules grants too much.
func dangerousRules(rules []policyRule) []string {
	var why []string
	add := func(s string) {
		if !slices.Contains(why, s) {
			why = append(why, s)
		}
	}
	for _, r := range rules {
		if slices.Contains(r.Verbs, "*") {
			add("all verbs (*)")
		}
		if slices.Contains(r.Resources, "*") {
			add("all resources (*)")
		}
		if slices.Contains(r.APIGroups, "*") && !slices.Contains(why, "all resources (*)") {
			add("all API groups (*)")
		}
		for _, v := range escalationVerbs {
			if slices.Contains(r.Verbs, v) {
				add("verb " + v)
			}
		}
		if slices.Contains(r.Resources, "pods/exec") || slices.Contains(r.Resources, "pods/attach") {
			add("pods/exec")
		}
		if slices.Contains(r.APIGroups, "rbac.authorization.k8s.io") && writesAny(r.Verbs) {
			add("writes RBAC")
		}
	}
	return why
}

// wildcardRules reports rules that allow every verb or every resource.
func wildcardRules(rules []policyRule) bool {
	for _, r := range rules {
		if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") {
			return true
		}
	}
	return false
}

func writesAny(verbs []string) bool {
	for _, v := range verbs {
		switch v {
		case "*", "create", "update", "patch", "delete", "deletecollection":
			return true
		}
	}
	return false
}

var dangerousCaps = []string{"ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH", "DAC_OVERRIDE", "SYS_RAWIO", "BPF", "PERFMON", "NET_RAW"}

var sensitiveHostPaths = []string{"/", "/etc", "/root", "/home", "/proc", "/sys", "/boot", "/dev", "/var/run", "/run",
	"/var/run/docker.sock", "/run/containerd", "/var/run/containerd", "/var/run/crio", "/var/lib/kubelet",
	"/var/lib/docker", "/var/lib/containerd", "/etc/kubernetes", "/var/log"}

// podRisks lists what makes a pod spec dangerous, and its images.
func podRisks(p *podSpec) (why, images []string) {
	images = p.images()
	if p.HostNetwork {
		why = append(why, "hostNetwork")
	}
	if p.HostPID {
		why = append(why, "hostPID")
	}
	if p.HostIPC {
		why = append(why, "hostIPC")
	}
	for _, group := range [][]container{p.InitContainers, p.Containers, p.EphemeralContainers} {
		for _, c := range group {
			sc := c.SecurityContext
			if sc == nil {
				continue
			}
			if sc.Privileged != nil && *sc.Privileged {
				why = append(why, "privileged container "+c.Name)
			}
			if sc.Capabilities != nil {
				for _, cp := range sc.Capabilities.Add {
					cp = strings.TrimPrefix(strings.ToUpper(cp), "CAP_")
					if slices.Contains(dangerousCaps, cp) {
						why = append(why, "capability "+cp+" in "+c.Name)
					}
				}
			}
		}
	}
	for _, v := range p.Volumes {
		if v.HostPath == nil {
			continue
		}
		hp := path.Clean("/" + v.HostPath.Path)
		if slices.Contains(sensitiveHostPaths, hp) {
			why = append(why, "hostPath "+hp)
		}
	}
	return why, images
}

var credentialWords = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "api-key", "access_key", "accesskey",
	"private_key", "privatekey", "credential", "aws_access_key_id", "aws_secret_access_key", "client_secret"}

func credentialKey(k string) bool {
	l := strings.ToLower(k)
	for _, w := range credentialWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// credentialValue reports values that carry credentials (as Falco's rule looks for them).
func credentialValue(v string) bool {
	l := strings.ToLower(v)
	for _, w := range []string{"aws_access_key_id", "aws-access-key-id", "aws_s3_access_key_id", "aws-s3-access-key-id",
		"aws_secret_access_key", "aws-secret-access-key", "password", "passphrase", "private key-----"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// privilegedIdentity reports users whose rights exceed any ordinary principal's: cluster
// admins, control-plane components, nodes and kube-system service accounts.
func privilegedIdentity(user string) bool {
	switch user {
	case "system:admin", "kubernetes-admin", "cluster-admin", "admin":
		return true
	}
	for _, p := range []string{"system:kube-", "system:node:", "system:serviceaccount:kube-system:", "eks:", "system:apiserver"} {
		if strings.HasPrefix(user, p) {
			return true
		}
	}
	return false
}

var enumerationTools = []string{"kubectl-who-can", "rakkess", "kubiscan", "peirates", "kube-hunter", "kubeletctl", "rbac-police", "kdigger"}

var enumerationToolBytes = func() [][]byte {
	out := make([][]byte, len(enumerationTools))
	for i, t := range enumerationTools {
		out[i] = []byte(t)
	}
	return out
}()

// obviouslyPrivate rejects the common private, loopback and link-local forms cheaply, before
// an address is parsed.
func obviouslyPrivate(ip []byte) bool {
	s := string(ip) // no allocation: only compared
	switch {
	case len(s) == 0, strings.HasPrefix(s, "10."), strings.HasPrefix(s, "192.168."), strings.HasPrefix(s, "127."),
		strings.HasPrefix(s, "169.254."), s == "::1", strings.HasPrefix(s, "fd"), strings.HasPrefix(s, "fe80:"):
		return true
	case strings.HasPrefix(s, "172.") && len(s) > 6:
		second := s[4:6]
		return second >= "16" && second <= "31" && s[6] == '.'
	}
	return false
}

// kubeletMetricsRead reports a GET through nodes/proxy of the kubelet's read-only monitoring
// endpoints (/metrics, /metrics/cadvisor, /metrics/resource, /metrics/probes, /stats/summary,
// /healthz), which Prometheus and metrics agents scrape continuously.
func kubeletMetricsRead(e *event) bool {
	if string(e.verb) != "get" {
		return false
	}
	p, _, _ := strings.Cut(string(e.uri), "?")
	_, rest, ok := strings.Cut(p, "/proxy")
	if !ok {
		return false
	}
	switch rest {
	case "/metrics", "/metrics/cadvisor", "/metrics/resource", "/metrics/probes", "/stats/summary", "/healthz", "/stats/summary/":
		return true
	}
	return false
}

// singleObject reports a list or watch narrowed to one object by name
// (fieldSelector=metadata.name=x), as kubelets watch the secrets their pods mount.
func singleObject(uri []byte) bool {
	_, q, ok := strings.Cut(string(uri), "?")
	if !ok {
		return false
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return false
	}
	fs := v.Get("fieldSelector")
	return strings.HasPrefix(fs, "metadata.name=") && !strings.Contains(fs, ",")
}

// withBody adds what the request body says of a workload (when the audit level recorded it)
// to its finding: the images, and the name or generateName the object is created with.
func withBody(f Finding, e *event) Finding {
	w, ok := decodeBody[workload](e.r.RequestObject())
	if !ok {
		return f
	}
	f.Images = w.pod().images()
	if f.Name == "" {
		f.Name = w.Metadata.Name
	}
	f.generateName = w.Metadata.GenerateName
	return f
}

// runCell is the cell of a time bucket of a rule that reports runs of adjacent buckets. Early
// decisions (early.go) fold the cells of a run's complete buckets into one, which then stands
// for them.
type runCell[C any] interface {
	*C
	folded() int64 // how many buckets before its own the cell stands for
	add(o *C)      // folds o, the cell of the next bucket, into the cell
}

// bucketRuns returns the cells of a principal's time buckets in time order, split into runs of
// adjacent buckets: a use that goes on across buckets is one run.
func bucketRuns[C any, P runCell[C]](buckets map[int64]*C) [][]*C {
	var runs [][]*C
	for _, ids := range adjacentRuns[C, P](buckets) {
		runs = append(runs, cellsOf(buckets, ids))
	}
	return runs
}

// adjacentRuns are the bucket ids of buckets, sorted, in runs of adjacent ones.
func adjacentRuns[C any, P runCell[C]](buckets map[int64]*C) [][]int64 {
	ids := slices.Sorted(maps.Keys(buckets))
	var runs [][]int64
	for i, b := range ids {
		if i == 0 || b-P(buckets[b]).folded() != ids[i-1]+1 {
			runs = append(runs, nil)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], b)
	}
	return runs
}

func cellsOf[C any](buckets map[int64]*C, ids []int64) []*C {
	cells := make([]*C, len(ids))
	for i, id := range ids {
		cells[i] = buckets[id]
	}
	return cells
}
