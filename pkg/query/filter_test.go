package query_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// ev describes a fixture-like audit event; line renders it as kube-apiserver would.
type ev struct {
	id, stage, verb, user, ns, resource, sub, name, apiGroup, ip, ua, level, decision, reason string
	groups                                                                                    []string
	code                                                                                      int
}

func (e ev) line() []byte {
	m := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": or(e.level, "Metadata"),
		"auditID": or(e.id, "00000000-0000-0000-0000-000000000001"), "stage": or(e.stage, audit.StageResponseComplete),
		"requestURI": "/api/v1/namespaces/" + e.ns + "/" + e.resource + "?limit=500&resourceVersion=0",
		"verb":       or(e.verb, "get"),
		"user":       map[string]any{"username": e.user, "groups": e.groups},
		"sourceIPs":  []string{or(e.ip, "10.0.0.1"), "127.0.0.1"},
		"userAgent":  or(e.ua, "kubectl/v1.30.1 (linux/amd64) kubernetes/6911225"),
		"objectRef": map[string]any{"resource": e.resource, "namespace": e.ns, "name": e.name,
			"subresource": e.sub, "apiGroup": e.apiGroup, "apiVersion": "v1"},
		"requestReceivedTimestamp": "2024-05-01T10:00:00.000000Z",
		"stageTimestamp":           "2024-05-01T10:00:00.012345Z",
	}
	if e.stage != audit.StageRequestReceived {
		m["responseStatus"] = map[string]any{"metadata": map[string]any{}, "code": or(e.code, 200)}
	}
	if e.decision != "" {
		m["annotations"] = map[string]string{audit.AnnotationDecision: e.decision, audit.AnnotationReason: e.reason}
	}
	b, err := json.Marshal(m) // escapes & as \u0026, like kube-apiserver
	if err != nil {
		panic(err)
	}
	return b
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

var (
	alice = ev{user: "alice", groups: []string{"system:authenticated", "dev"}, verb: "get", ns: "default",
		resource: "pods", name: "web-1", code: 200, decision: "allow", reason: `RBAC: allowed by RoleBinding "dev/default"`}
	sa = ev{user: "system:serviceaccount:kube-system:replicaset-controller", groups: []string{"system:serviceaccounts",
		"system:serviceaccounts:kube-system", "system:authenticated"}, verb: "create", ns: "default", resource: "pods",
		code: 201, decision: "allow"}
	node = ev{user: "system:node:ip-10-0-1-23.ec2.internal", groups: []string{"system:nodes", "system:authenticated"},
		verb: "patch", ns: "kube-node-lease", resource: "leases", apiGroup: "coordination.k8s.io", name: "ip-10-0-1-23", code: 200,
		decision: "allow", ua: "kubelet/v1.30.1 (linux/amd64) kubernetes/6911225"}
	forbidden = ev{user: "bob@example.com", groups: []string{"system:authenticated", "contractors"}, verb: "list",
		ns: "kube-system", resource: "secrets", code: 403, decision: "forbid", ip: "203.0.113.7"}
	unauth  = ev{user: "", verb: "get", resource: "namespaces", code: 401, stage: audit.StageResponseStarted, ip: "198.51.100.9"}
	anon    = ev{user: "system:anonymous", groups: []string{"system:unauthenticated"}, verb: "get", code: 403, decision: "forbid"}
	eks     = ev{user: "eks:k8s-metrics", groups: []string{"system:authenticated"}, verb: "list", ns: "kube-system", resource: "deployments", apiGroup: "apps", code: 200, decision: "allow"}
	exec    = ev{user: "alice", groups: []string{"dev"}, verb: "create", ns: "prod", resource: "pods", sub: "exec", name: "db-0", code: 101, decision: "allow", stage: audit.StageResponseStarted}
	oops    = ev{user: "system:kube-controller-manager", verb: "update", ns: "default", resource: "configmaps", code: 500, stage: audit.StagePanic, level: "Request"}
	recvd   = ev{user: "alice", verb: "get", ns: "default", resource: "pods", stage: audit.StageRequestReceived}
	allEvts = map[string]ev{"alice": alice, "sa": sa, "node": node, "forbidden": forbidden, "unauth": unauth,
		"anon": anon, "eks": eks, "exec": exec, "oops": oops, "recvd": recvd}
)

// matches returns the names of the events the filter matches, scanned with exactly the fields
// the matcher says it needs.
func matches(t *testing.T, filterJSON string) map[string]bool {
	t.Helper()
	q, err := query.Parse([]byte(`{"queryType":"events","filter":`+filterJSON+`}`), "")
	if err != nil {
		t.Fatalf("filter %s: %v", filterJSON, err)
	}
	m := q.Filter.Compile()
	s := audit.NewScanner(m.Needs())
	var r audit.Record
	out := map[string]bool{}
	for name, e := range allEvts {
		line := e.line()
		if !m.MatchLine(line) {
			continue
		}
		if err := s.Scan(line, &r); err != nil {
			t.Fatalf("scan %s: %v", name, err)
		}
		if m.Match(&r) {
			out[name] = true
		}
	}
	return out
}

func TestFilterMatching(t *testing.T) {
	check := func(filter string, want ...string) {
		t.Helper()
		got := matches(t, filter)
		wantSet := map[string]bool{}
		for _, w := range want {
			wantSet[w] = true
		}
		for name := range allEvts {
			if got[name] != wantSet[name] {
				t.Errorf("filter %s: %s matched = %v, want %v (matched %v)", filter, name, got[name], wantSet[name], keys(got))
			}
		}
	}
	// The default stage filter keeps the event that completes each request: ResponseComplete,
	// Panic, and the lone ResponseStarted 401 of a failed authentication (unauth), nothing else
	// (not the ResponseStarted of exec, not RequestReceived).
	final := []string{"alice", "sa", "node", "forbidden", "anon", "eks", "oops", "unauth"}
	check(`{}`, final...)
	// Stages: explicit lists replace the default.
	check(`{"stages":["ResponseStarted"]}`, "unauth", "exec")
	check(`{"stages":["RequestReceived","Panic"]}`, "recvd", "oops")
	check(`{"stages":["!RequestReceived"]}`, "alice", "sa", "node", "forbidden", "unauth", "anon", "eks", "exec", "oops")
	check(`{"stages":"Response*"}`, "alice", "sa", "node", "forbidden", "unauth", "anon", "eks", "exec")
	// Lists match any value.
	check(`{"verbs":["get","list"]}`, "alice", "forbidden", "anon", "eks", "unauth")
	check(`{"verbs":"patch"}`, "node")
	// Fields combine with AND.
	check(`{"verbs":["get","list"],"namespaces":["kube-system"]}`, "forbidden", "eks")
	check(`{"verbs":["list"],"namespaces":["kube-system"],"codes":["403"]}`, "forbidden")
	check(`{"resources":["pods"],"users":["alice"]}`, "alice")
	// Globs: prefix, suffix, middle, several stars, a lone star.
	check(`{"users":["system:serviceaccount:*"]}`, "sa")
	check(`{"users":["*@example.com"]}`, "forbidden")
	check(`{"users":["system:*:kube-system:*"]}`, "sa")
	check(`{"users":["sys*node*internal"]}`, "node")
	check(`{"users":["*:k8s-*"]}`, "eks")
	check(`{"users":["*"]}`, final...) // matches the empty username too
	check(`{"users":["a*e"]}`, "alice")
	check(`{"users":["alic*e*"]}`, "alice")
	check(`{"users":["*lice*"]}`, "alice")
	check(`{"users":["ali*ice"]}`) // the prefix and suffix must not overlap
	check(`{"userAgents":["kubelet/*"]}`, "node")
	check(`{"apiGroups":["*.k8s.io"]}`, "node")
	// Exact matching is case-sensitive.
	check(`{"users":["Alice"]}`)
	check(`{"verbs":["GET"]}`)
	// Exclusions.
	check(`{"users":["system:*","!system:node:*"]}`, "sa", "anon", "oops")
	check(`{"users":["!system:*"]}`, "alice", "forbidden", "eks", "unauth")
	check(`{"users":["!system:*","!eks:*"]}`, "alice", "forbidden", "unauth")
	check(`{"namespaces":["!kube-system","!kube-node-lease"]}`, "alice", "sa", "anon", "oops", "unauth")
	check(`{"users":["alice","!alice"]}`) // exclusion wins
	// Empty values are ignored.
	check(`{"users":[""],"verbs":[]}`, final...)
	// Groups: any group matches; an excluded group excludes.
	check(`{"groups":["dev"]}`, "alice")
	check(`{"groups":["system:serviceaccounts:*"]}`, "sa")
	check(`{"groups":["system:authenticated"]}`, "alice", "sa", "node", "forbidden", "eks")
	check(`{"groups":["system:authenticated","!contractors"]}`, "alice", "sa", "node", "eks")
	check(`{"groups":["!system:nodes"]}`, "alice", "sa", "forbidden", "anon", "eks", "oops", "unauth") // no groups: nothing excluded
	check(`{"groups":["!system:authenticated","!system:unauthenticated"]}`, "oops", "unauth")
	check(`{"groups":["dev","contractors"]}`, "alice", "forbidden")
	// Codes: exact, classes, exclusions.
	check(`{"codes":["403"]}`, "forbidden", "anon")
	check(`{"codes":[403]}`, "forbidden", "anon")
	check(`{"codes":["4xx"]}`, "forbidden", "anon", "unauth")
	check(`{"codes":["4XX","5xx"]}`, "forbidden", "anon", "oops", "unauth")
	check(`{"codes":["!2xx"]}`, "forbidden", "anon", "oops", "unauth")
	check(`{"codes":["!2xx","!5xx"]}`, "forbidden", "anon", "unauth")
	check(`{"codes":["2xx","!201"]}`, "alice", "node", "eks")
	check(`{"codes":["401","403"],"stages":["ResponseStarted","ResponseComplete"]}`, "unauth", "forbidden", "anon")
	check(`{"codes":["1xx"],"stages":["ResponseStarted"]}`, "exec")
	// Decisions, including none (401s and events without annotations).
	check(`{"decisions":["forbid"]}`, "forbidden", "anon")
	check(`{"decisions":["allow"]}`, "alice", "sa", "node", "eks")
	check(`{"decisions":["none"]}`, "oops", "unauth")
	check(`{"decisions":["none"],"stages":["ResponseStarted"]}`, "unauth")
	check(`{"decisions":["!allow"]}`, "forbidden", "anon", "oops", "unauth")
	check(`{"decisions":["forbid","none"]}`, "forbidden", "anon", "oops", "unauth")
	// User kinds.
	check(`{"userKinds":["human"]}`, "alice", "forbidden")
	check(`{"userKinds":["serviceaccount"]}`, "sa")
	check(`{"userKinds":["node"]}`, "node")
	check(`{"userKinds":["system"]}`, "eks", "oops")
	check(`{"userKinds":["anonymous"],"stages":["ResponseStarted","ResponseComplete"]}`, "unauth", "anon")
	check(`{"userKinds":["!human","!system"]}`, "sa", "node", "anon", "unauth")
	// Other string fields.
	check(`{"subresources":["exec"],"stages":["ResponseStarted"]}`, "exec")
	check(`{"names":["web-*"]}`, "alice")
	check(`{"sourceIPs":["203.0.113.*"]}`, "forbidden") // the first IP
	check(`{"sourceIPs":["127.0.0.1"]}`)                // not the last
	check(`{"levels":["Request"]}`, "oops")             // level filter
	check(`{"levels":["!Metadata"]}`, "oops")           // level exclusion
	check(`{"apiGroups":["apps"],"resources":["deployments"]}`, "eks")
	// Search: a substring of the raw line, or of the line as shown (JSON escapes undone).
	check(`{"search":"contractors"}`, "forbidden")
	check(`{"search":"kubelet/v1.30"}`, "node")
	check(`{"search":"limit=500\\u0026resourceVersion"}`, final...)
	check(`{"search":"limit=500&resourceVersion"}`, final...) // the raw line has \u0026: & finds it
	check(`{"search":"nothing has this"}`)
	check(`{"search":"alice","verbs":["create"],"stages":["ResponseStarted"]}`, "exec")
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFilterNeeds(t *testing.T) {
	q, err := query.Parse([]byte(`{"filter":{"verbs":["get"],"groups":["dev"],"codes":["4xx"],"decisions":["none"],"userKinds":["human"],"sourceIPs":["10.*"],"levels":["Metadata"],"subresources":["exec"],"names":["x"],"apiGroups":["apps"],"userAgents":["k*"],"resources":["pods"],"namespaces":["ns"]}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	needs := q.Filter.Compile().Needs()
	for _, f := range []audit.Field{audit.FieldVerb, audit.FieldGroups, audit.FieldCode, audit.FieldAnnotations,
		audit.FieldUsername, audit.FieldSourceIPs, audit.FieldLevel, audit.FieldSubresource, audit.FieldName,
		audit.FieldAPIGroup, audit.FieldUserAgent, audit.FieldResource, audit.FieldNamespace, audit.FieldStage} {
		if !needs.Has(f) {
			t.Errorf("Needs() lacks field %d", f)
		}
	}
	// An empty filter needs the stage and code only (for the default final-event check).
	empty := (&query.Filter{}).Compile()
	if n := empty.Needs(); !n.Has(audit.FieldStage) || !n.Has(audit.FieldCode) || n.Has(audit.FieldVerb) || n.Has(audit.FieldAnnotations) {
		t.Errorf("empty filter Needs() = %b", n)
	}
	if !empty.MatchLine([]byte("anything")) {
		t.Errorf("empty search rejects a line")
	}
}

func TestFilterOnRealFixtures(t *testing.T) {
	// The matcher on real lines: every forbidden event (decision forbid) has a 403 code and every
	// matched line really has the value.
	q, err := query.Parse([]byte(`{"filter":{"decisions":["forbid"],"stages":["*"]}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	m := q.Filter.Compile()
	s := audit.NewScanner(m.Needs().With(audit.FieldCode))
	var r audit.Record
	n := 0
	for _, line := range fixtureLines(t) {
		if s.Scan(line, &r) != nil {
			t.Fatalf("fixture line rejected: %.100s", line)
		}
		if m.Match(&r) {
			n++
			if string(r.Decision()) != "forbid" {
				t.Errorf("matched decision %q", r.Decision())
			}
			if r.Code != 403 {
				t.Errorf("forbidden event with code %d: %.200s", r.Code, line)
			}
		} else if string(r.Decision()) == "forbid" {
			t.Errorf("forbid event not matched: %.200s", line)
		}
	}
	if n == 0 {
		t.Errorf("no forbidden event among the fixtures")
	}
	// Counting requests: by default, the event that completes each request.
	def := (&query.Filter{}).Compile()
	s = audit.NewScanner(def.Needs())
	for _, line := range fixtureLines(t) {
		if s.Scan(line, &r) != nil {
			continue
		}
		want := r.IsTerminal() || r.Code == 401 && string(r.Stage()) == audit.StageResponseStarted
		if got := def.Match(&r); got != want || got != query.IsRequestFinal(&r) {
			t.Errorf("default stage filter on stage %q = %v, want %v", r.Stage(), got, want)
		}
	}
}

func fixtureLines(t *testing.T) [][]byte {
	t.Helper()
	data := readAll(t, "../../testdata/audit/")
	var out [][]byte
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, []byte(l))
		}
	}
	return out
}

// TestFilterSourceNetworks: sourceIPs takes CIDRs (the first source IP inside the network
// matches), IP addresses compared as addresses, and globs on the text, each excludable.
func TestFilterSourceNetworks(t *testing.T) {
	check := func(filter string, want ...string) {
		t.Helper()
		got := matches(t, filter)
		for name := range allEvts {
			if got[name] != slices.Contains(want, name) {
				t.Errorf("filter %s: %s matched = %v (matched %v)", filter, name, got[name], keys(got))
			}
		}
	}
	final := []string{"alice", "sa", "node", "forbidden", "anon", "eks", "oops", "unauth"}
	check(`{"sourceIPs":["203.0.113.0/24"]}`, "forbidden")
	check(`{"sourceIPs":"203.0.113.0/24"}`, "forbidden")
	check(`{"sourceIPs":["203.0.113.200/24"]}`, "forbidden") // host bits are masked
	check(`{"sourceIPs":["198.51.100.0/24","203.0.113.0/24"]}`, "forbidden", "unauth")
	check(`{"sourceIPs":["198.51.*","203.0.113.0/24"]}`, "forbidden", "unauth") // globs and networks mix
	check(`{"sourceIPs":["0.0.0.0/0"]}`, final...)
	check(`{"sourceIPs":["!10.0.0.0/8"]}`, "forbidden", "unauth")
	check(`{"sourceIPs":["0.0.0.0/0","!203.0.113.7"]}`, "alice", "sa", "node", "anon", "eks", "oops", "unauth")
	check(`{"sourceIPs":["10.0.0.0/8","!10.0.0.1/32"]}`) // the exclusion wins
	check(`{"sourceIPs":["203.0.113.7"]}`, "forbidden")
	check(`{"sourceIPs":["::ffff:203.0.113.7"]}`, "forbidden") // an IPv4-mapped address is the IPv4 address
	check(`{"sourceIPs":["127.0.0.0/8"]}`)                     // the first IP, not the last
	check(`{"sourceIPs":["2001:db8::/32"]}`)
	check(`{"sourceIPs":["!0.0.0.0/0"]}`)

	// IPv6 sources.
	v6 := alice
	v6.ip = "2001:db8:0:1::5"
	m := func(filter string) bool {
		t.Helper()
		q, err := query.Parse([]byte(`{"filter":`+filter+`}`), "")
		if err != nil {
			t.Fatal(err)
		}
		mt := q.Filter.Compile()
		var r audit.Record
		if err := audit.NewScanner(mt.Needs()).Scan(v6.line(), &r); err != nil {
			t.Fatal(err)
		}
		return mt.Match(&r)
	}
	for filter, want := range map[string]bool{
		`{"sourceIPs":["2001:db8::/32"]}`:            true,
		`{"sourceIPs":["2001:db8:0:2::/64"]}`:        false,
		`{"sourceIPs":["2001:DB8:0:1:0:0:0:5"]}`:     true, // compared as addresses, not text
		`{"sourceIPs":["!2001:db8::/32"]}`:           false,
		`{"sourceIPs":["10.0.0.0/8"]}`:               false,
		`{"sourceIPs":["2001:db8:*"]}`:               true,
		`{"sourceIPs":["2001:db8:*","!::/0"]}`:       false,
		`{"sourceIPs":["fe80::1%eth0","::/0"]}`:      true, // a zone is accepted and ignored
		`{"sourceIPs":["0.0.0.0/0","::/0"]}`:         true,
		`{"sourceIPs":["0.0.0.0/0","!2001:db8::5"]}`: false,
	} {
		if got := m(filter); got != want {
			t.Errorf("filter %s on %s: %v, want %v", filter, v6.ip, got, want)
		}
	}
}

func TestFilterSourceIPErrors(t *testing.T) {
	for raw, want := range map[string]string{
		`["10.0.0.0/33"]`:  `invalid sourceIPs network "10.0.0.0/33": use a CIDR such as 10.0.0.0/8`,
		`["!10.0.0.0/x"]`:  `invalid sourceIPs network "!10.0.0.0/x"`,
		`["10.0.0.256"]`:   `invalid sourceIPs value "10.0.0.256": use an IP address (10.0.0.1), a CIDR (10.0.0.0/8) or a glob (10.0.*)`,
		`["localhost"]`:    `invalid sourceIPs value "localhost"`,
		`["10.0.0.1","x"]`: `invalid sourceIPs value "x"`,
	} {
		_, err := query.Parse([]byte(`{"filter":{"sourceIPs":`+raw+`}}`), "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("sourceIPs %s: error %v, want %q", raw, err, want)
		}
	}
}

// TestNarrowedBy: a filter narrowed by a prefilter keeps its own includes, adds the
// prefilter's values where it has none (its exclusions stay), and keeps its search.
func TestNarrowedBy(t *testing.T) {
	f := query.Filter{Users: query.StringList{"!system:*"}, Resources: query.StringList{"pods", "secrets"}, Stages: query.StringList{"ResponseComplete"}, Search: "kubectl"}
	p := query.Filter{Users: query.StringList{"alice", "bob*"}, Resources: query.StringList{"pods"}, Subresources: query.StringList{"exec"}, Codes: query.StringList{"403"}}
	got := f.NarrowedBy(p)
	want := query.Filter{Users: query.StringList{"!system:*", "alice", "bob*"}, Resources: query.StringList{"pods"}, Subresources: query.StringList{"exec"},
		Codes: query.StringList{"403"}, Stages: query.StringList{"ResponseComplete"}, Search: "kubectl"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A dashboard's All (`*`) and a code class give way to the prefilter's exact values; exact
	// codes stay the query's (403 and 0403 are one code); lists with nothing in common stay.
	dash := query.Filter{Resources: query.StringList{"*"}, Verbs: query.StringList{"*", "!watch"}, Codes: query.StringList{"4xx"}, Namespaces: query.StringList{"prod"}}
	got = dash.NarrowedBy(query.Filter{Resources: query.StringList{"secrets"}, Verbs: query.StringList{"get", "list"}, Codes: query.StringList{"401", "403"}, Namespaces: query.StringList{"kube-system"}})
	want = query.Filter{Resources: query.StringList{"secrets"}, Verbs: query.StringList{"!watch", "get", "list"}, Codes: query.StringList{"401", "403"}, Namespaces: query.StringList{"prod"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dashboard: got %+v\nwant %+v", got, want)
	}
	codes := query.Filter{Codes: query.StringList{"0403"}}.NarrowedBy(query.Filter{Codes: query.StringList{"401", "403"}})
	if !slices.Equal(codes.Codes, []string{"0403"}) {
		t.Errorf("codes: %v", codes.Codes)
	}
	if !reflect.DeepEqual(f.NarrowedBy(query.Filter{}), f) {
		t.Errorf("narrowed by nothing: %+v", f.NarrowedBy(query.Filter{}))
	}
}
