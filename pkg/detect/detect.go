// Package detect is the catalogue of security detections evaluated over audit events: exec into
// pods, secrets read by unexpected principals, RBAC escalations, privileged workloads, denial
// bursts and more. It is pure Go: the engine feeds it scanned records and turns its findings
// into frames.
//
// Each request is judged once, on the stage that fits the rule: the event that completes the
// request for most rules; for exec, attach and port-forward, whichever of its ResponseStarted
// (the earliest sign of a stream that may stay open for hours) and completing events the data
// holds, since many audit policies omit ResponseStarted. Those requests are deduplicated by
// auditID across stages and across merged detectors.
package detect

import (
	"cmp"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// Severity of a rule.
type Severity string

// Severities, from least to most severe.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Severities lists the severities in increasing order.
var Severities = []Severity{Low, Medium, High, Critical}

// Rule is one detection.
type Rule struct {
	ID          string
	Title       string
	Severity    Severity
	Description string
	// Fields name what explains a finding.
	Fields []string
	// NeedsBody names the resources whose request body the rule reads: at Metadata level those
	// requests cannot be judged, and a notice says so.
	NeedsBody []string
	// Prefilter is a superset of the events the rule can look at (see Prefilter); nil when
	// the rule needs every event.
	Prefilter *Prefilter

	// stream rules judge a streaming request (exec, attach, port-forward) on whichever of its
	// ResponseStarted and completing events the data holds, once per request (by auditID):
	// their findings are held until Finish, preferring the ResponseStarted event's.
	stream bool
	// withoutStarted says what the rule misses when the audit policy omits ResponseStarted,
	// for the notice.
	withoutStarted string

	// eval judges one event and emits its findings.
	eval func(e *event, emit func(Finding))
	// window rules collect candidates per worker and decide after merging (bursts, sequences).
	collect func(e *event) (candidate, bool)
	decide  func(cands []kept, cfg Config, emit func(Finding))
	// apart is how far apart in time two candidates of one key must be for decide to judge
	// them independently (its window); 0 when no candidate can be decided before Finish (see
	// early.go).
	apart func(cfg Config) time.Duration
	// live marks the candidates of one key (sorted by time) that can change what decide finds;
	// the others may be left out once their window is complete. nil: every candidate.
	live func(cs []kept, cfg Config) []bool
	// notes explain, after the decision, what the window rule could not judge.
	notes func(cands []kept, cfg Config) []string
	// state rules keep a summary per worker instead of candidates (the permission sweep).
	state func(cfg Config) ruleState
}

// Finding is one detection hit.
type Finding struct {
	Time      time.Time
	RuleID    string
	Title     string
	Severity  Severity
	User      string
	SourceIP  string
	UserAgent string
	Verb      string
	Resource  string
	Namespace string
	Name      string
	Detail    string
	AuditID   string
	// Images are the container images of a workload finding, from the request body when the
	// audit level records it (each once, in the order of the pod spec).
	Images []string
	// Count is how many occurrences the finding stands for (requests, or repeats once Group
	// has folded them); FirstSeen and LastSeen are the first and the last of them.
	Count               int
	FirstSeen, LastSeen time.Time

	groups       []string // for the groups allow-list
	generateName string   // metadata.generateName of a workload created without a name, for the profile
}

// Config holds tunables and allow-lists applied per rule.
type Config struct {
	// BurstThreshold and BurstWindow: 401/403 bursts from one source IP or user (defaults 10, 5m).
	BurstThreshold int
	BurstWindow    time.Duration
	// SecretsThreshold distinct secrets read by one principal within SecretsWindow (defaults 10, 10m).
	SecretsThreshold int
	SecretsWindow    time.Duration
	// SequenceWindow: an RBAC change followed by a workload change by the same user (default 10m).
	SequenceWindow time.Duration
	// SweepThreshold distinct resource types read by one principal within about BurstWindow,
	// some forbidden and some allowed, make a permission sweep (default 10).
	SweepThreshold int
	// RoleHistory holds the role writes from before the range (oldest first) for
	// binding-to-wildcard-role; RoleLookback says how far back they were read.
	RoleHistory  []RoleWrite
	RoleLookback time.Duration
	// Allow-lists: findings whose user, any group, namespace, image or source IP matches are
	// dropped. Users, groups, namespaces and images accept `*` globs; networks are CIDRs or IPs.
	AllowUsers, AllowGroups, AllowNamespaces, AllowImages, AllowNetworks []string
	// RuleAllow adds allow-lists for single rules, by rule id.
	RuleAllow map[string]Allow
	// Profile names a shipped set of exceptions (Profiles) whose findings are left out and
	// counted in a notice; "" for none.
	Profile string
	// ClusterNetworks are the cluster's own networks (CIDRs or IPs: nodes, pods, control plane):
	// a service-account or node credential, or an anonymous request, from outside them is a
	// finding. Empty: those rules judge nothing and a notice says what they could not judge.
	ClusterNetworks []string
	// Scope, when set, limits the counts behind the detector's notices (ResponseStarted
	// events among long-running requests, bodies of changes) to the events it accepts: the
	// selected rules' prefilter (UnionPrefilter), so that a source that sends only those lines
	// gives the same notices as the whole log. Every rule still sees every event.
	Scope func(r *audit.Record) bool
}

// Allow is one set of allow-lists.
type Allow struct {
	Users, Groups, Namespaces, Images, Networks []string
}

func (c Config) withDefaults() Config {
	if c.BurstThreshold <= 0 {
		c.BurstThreshold = 10
	}
	if c.BurstWindow <= 0 {
		c.BurstWindow = 5 * time.Minute
	}
	if c.SecretsThreshold <= 0 {
		c.SecretsThreshold = 10
	}
	if c.SecretsWindow <= 0 {
		c.SecretsWindow = 10 * time.Minute
	}
	if c.SequenceWindow <= 0 {
		c.SequenceWindow = 10 * time.Minute
	}
	if c.SweepThreshold <= 0 {
		c.SweepThreshold = sweepTypes
	}
	return c
}

// Rules is the catalogue, in a stable order.
func Rules() []*Rule { return catalogue }

// Lookup finds a rule by id.
func Lookup(id string) (*Rule, bool) {
	for _, r := range catalogue {
		if r.ID == id {
			return r, true
		}
	}
	return nil, false
}

// Select returns the rules whose id matches one of ids (`*` globs; all when empty) and whose
// severity is one of severities (all when empty or when it holds "*").
func Select(ids []string, severities []string) []*Rule {
	if slices.Contains(severities, "*") {
		severities = nil
	}
	var out []*Rule
	for _, r := range catalogue {
		if len(ids) > 0 && !slices.ContainsFunc(ids, func(p string) bool { ok, _ := path.Match(p, r.ID); return ok }) {
			continue
		}
		if len(severities) > 0 && !slices.Contains(severities, string(r.Severity)) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Needs are the fields rules read.
var Needs = audit.Fields(0).With(audit.FieldVerb, audit.FieldStage, audit.FieldAuditID, audit.FieldRequestURI,
	audit.FieldUserAgent, audit.FieldUsername, audit.FieldGroups, audit.FieldImpersonatedUsername,
	audit.FieldImpersonatedGroups, audit.FieldSourceIPs, audit.FieldResource, audit.FieldNamespace, audit.FieldName,
	audit.FieldSubresource, audit.FieldCode, audit.FieldStageTimestamp, audit.FieldRequestObject)

// candidate is an event a window rule keeps for its decision after all events are seen
// (as a kept, in the detector's string table).
type candidate struct {
	key  string // what the window groups by (source IP, user)
	item string // what is counted distinct (secret name), or the event kind in a sequence
	f    Finding
}

// Detector evaluates rules over records. Each scan worker has its own; Merge joins them.
type Detector struct {
	cfg Config
	// atFinish: the window rules are decided at Finish only (DecideAtFinish), not early.
	atFinish  bool
	rules     []*Rule
	allow     *allowList
	ruleAllow map[string]*allowList
	profile   []Exception
	// profiled counts, per rule, the findings the profile left out.
	profiled map[string]int

	// found are the findings emitted while observing, packed; findings those of Finish.
	found    []foundFinding
	findings []Finding
	tab      *strtab // the strings of cands, early, found and held
	// cands are the window rules' candidates still open, by rule id; early the findings they
	// decided before Finish (Release), emitted at Finish in the rule's place.
	cands, early keptSets
	// span is the time of the events observed, and what was decided early (see early.go);
	// parts those of the detectors merged.
	span  timeSpan
	parts []timeSpan
	// overlaps counts the parts merged whose events met another's decided zone (overlapNotice).
	overlaps int
	// openAfter counts the candidates and state cells the last early decision left open;
	// mergedSince those merged since (Merge decides again once they are as many: see there).
	openAfter, mergedSince int
	states                 []ruleState // by rule index; nil for rules without state
	ev                     event       // reused for each record
	cur                    *Rule       // the rule being evaluated, for emitFn
	emitFn                 func(Finding)
	// bodiless counts, per resource, the changes whose body a rule needed but the event did not
	// carry (Metadata level); bodied those that carried it. Each change counts once.
	bodiless, bodied map[string]int
	// bodyRules names, per resource, the selected rules that read its request body.
	bodyRules map[string][]string
	// held are the stream rules' findings, one per rule and request.
	held map[heldKey]heldFinding
	// heldNoID are the stream rules' findings of events without an auditID (no dedupe possible).
	heldNoID []heldFinding
	// started counts ResponseStarted events; longDone the completing events of successful
	// long-running requests (which have a ResponseStarted event unless the policy omits it).
	started, longDone int
	notes             []string
	// finishing is set by Finish: findings emitted from then on are kept unpacked.
	finishing bool
}

type heldKey struct{ rule, auditID string }

// foundFinding is a finding a rule emitted while the detector observed, packed like a
// candidate (its rule, severity and counts are set again when it is unpacked).
type foundFinding struct {
	rule *Rule
	k    kept
}

// heldFinding is a stream rule's finding waiting for Finish. fromStarted: judged on the
// ResponseStarted event (preferred over the completing one).
type heldFinding struct {
	rule        *Rule
	k           kept
	fromStarted bool
}

// better reports whether h should be kept over o, the same request's finding from another
// event: the ResponseStarted event's, then the earlier, then (identical lines) the smaller detail,
// so that the choice does not depend on the order events or detectors come in.
func (h heldFinding) better(o heldFinding) bool {
	if h.fromStarted != o.fromStarted {
		return h.fromStarted
	}
	if h.k.t != o.k.t {
		return h.k.t < o.k.t
	}
	return h.k.str(sDetail) < o.k.str(sDetail)
}

// New returns a detector for rules.
func New(rules []*Rule, cfg Config) *Detector {
	cfg = cfg.withDefaults()
	d := &Detector{cfg: cfg, rules: rules, allow: newAllowList(cfg), tab: newStrtab(), cands: newKeptSets(), early: newKeptSets(), span: newSpan(),
		bodiless: map[string]int{}, bodied: map[string]int{}, bodyRules: map[string][]string{}, held: map[heldKey]heldFinding{},
		profile: Profiles[cfg.Profile], profiled: map[string]int{}}
	for _, r := range rules {
		for _, res := range r.NeedsBody {
			d.bodyRules[res] = append(d.bodyRules[res], r.ID)
		}
	}
	for id, a := range cfg.RuleAllow {
		if d.ruleAllow == nil {
			d.ruleAllow = map[string]*allowList{}
		}
		d.ruleAllow[id] = newAllowList(Config{AllowUsers: a.Users, AllowGroups: a.Groups, AllowNamespaces: a.Namespaces,
			AllowImages: a.Images, AllowNetworks: a.Networks})
	}
	d.states = make([]ruleState, len(rules))
	for i, r := range rules {
		if r.state != nil {
			d.states[i] = r.state(cfg)
		}
	}
	d.emitFn = func(f Finding) {
		if d.cur.stream {
			d.hold(heldFinding{rule: d.cur, k: d.tab.keep(candidate{f: f}), fromStarted: d.ev.started})
			return
		}
		d.emit(d.cur, f)
	}
	return d
}

// hold keeps a stream rule's finding, one per rule and request.
func (d *Detector) hold(h heldFinding) {
	id := h.k.auditID()
	if id == "" {
		d.heldNoID = append(d.heldNoID, h)
		return
	}
	k := heldKey{h.rule.ID, id}
	if o, ok := d.held[k]; !ok || h.better(o) {
		d.held[k] = h
	}
}

// Observe evaluates every rule on one record.
func (d *Detector) Observe(r *audit.Record) {
	e := &d.ev
	e.reset(r)
	d.span.saw(r.Time)
	if !e.final && !e.started {
		return // no rule judges a request on its RequestReceived event
	}
	inScope := func() bool { return d.cfg.Scope == nil || d.cfg.Scope(r) }
	if e.started {
		if inScope() {
			d.started++
		}
	} else if e.code > 0 && e.code < 400 && e.r.LongRunning() && inScope() {
		d.longDone++
	}
	if len(d.bodyRules) > 0 && e.final && e.code < 400 && e.writes() && len(e.sub) == 0 {
		if _, ok := d.bodyRules[string(e.resource)]; ok && inScope() {
			if len(r.RequestObject()) == 0 {
				d.bodiless[string(e.resource)]++
			} else {
				d.bodied[string(e.resource)]++
			}
		}
	}
	for i, rule := range d.rules {
		d.cur = rule
		if s := d.states[i]; s != nil {
			s.observe(e)
		}
		if rule.eval != nil {
			rule.eval(e, d.emitFn)
		}
		if rule.collect != nil {
			if c, ok := rule.collect(e); ok {
				d.cands.own[rule.ID] = append(d.cands.own[rule.ID], d.tab.keep(c))
			}
		}
	}
}

func (d *Detector) emit(rule *Rule, f Finding) {
	if d.allow.drops(f) {
		return
	}
	if a, ok := d.ruleAllow[rule.ID]; ok && a.drops(f) {
		return
	}
	if excepted(d.profile, rule.ID, &f) {
		d.profiled[rule.ID]++
		return
	}
	if !d.finishing {
		d.found = append(d.found, foundFinding{rule, d.tab.keep(candidate{f: f})})
		return
	}
	d.add(rule, f)
}

// add keeps a finding that passed the allow-lists and the profile.
func (d *Detector) add(rule *Rule, f Finding) {
	f.RuleID, f.Title, f.Severity = rule.ID, rule.Title, rule.Severity
	if f.Count == 0 {
		f.Count = 1
	}
	if f.FirstSeen.IsZero() {
		f.FirstSeen = f.Time
	}
	if f.LastSeen.IsZero() {
		f.LastSeen = f.Time
	}
	d.findings = append(d.findings, f)
}

// Release drops what the detector keeps only while observing (the last record and its
// buffers), and decides what no event outside the time it observed can change (early.go), so
// that a detector kept after its records (a cached partial) holds only its state and the
// candidates near the edges of its time. Observe may still be called afterwards.
func (d *Detector) Release() {
	d.ev = event{}
	d.cur = nil
	if !d.atFinish {
		d.decideEarly(!d.releasedAny())
	}
	d.span.released = true
}

// mergeSlack is how many candidates and state cells (about 100 bytes each) a detector merging
// released ones lets accumulate before it decides early again (Merge): a refresh of cached
// segments then decides once or twice, not at every segment, for about a megabyte held a query.
var mergeSlack = 1 << 14

// open counts the window rules' candidates and the states' cells d keeps open.
func (d *Detector) open() int {
	n := d.cands.count()
	for _, s := range d.states {
		if s != nil {
			n += s.held()
		}
	}
	return n
}

// DecideAtFinish makes d decide its window rules at Finish only, never early (Release, Merge):
// for the segments of several streams (files of several API servers), which hold the same
// time, so that no segment's decision can miss another's events. Its memory then grows with
// the range, as a detector's did before early decisions.
func (d *Detector) DecideAtFinish() { d.atFinish = true }

// releasedAny reports whether the detector, or one it merged, was released.
func (d *Detector) releasedAny() bool {
	return d.span.released || slices.ContainsFunc(d.parts, func(p timeSpan) bool { return p.released })
}

// Merge adds other's state (another worker's, or a kept partial's) to d. other is not
// changed, and what d keeps of it d only reads (and other never changes: it is done
// observing), so one detector can be merged into many, concurrently.
func (d *Detector) Merge(other *Detector) {
	d.found = append(d.found, other.found...)
	d.mergedSince += other.open()
	d.cands.merge(&other.cands)
	d.early.merge(&other.early)
	d.meetParts(other)
	d.parts = append(append(d.parts, other.span), other.parts...)
	for res, n := range other.bodiless {
		d.bodiless[res] += n
	}
	for res, n := range other.bodied {
		d.bodied[res] += n
	}
	for id, n := range other.profiled {
		d.profiled[id] += n
	}
	for _, h := range other.held {
		d.hold(h)
	}
	d.heldNoID = append(d.heldNoID, other.heldNoID...)
	d.started += other.started
	d.longDone += other.longDone
	for i, s := range d.states {
		if s != nil {
			s.merge(other.states[i])
		}
	}
	if other.releasedAny() && !d.atFinish && d.mergedSince > max(d.openAfter, mergeSlack) {
		// Segments come in time order: what lies between the first and the newest is decided
		// now, so that merging a day of segments keeps about one segment's edges open. Not
		// after every merge: a burst that keeps its threshold all day stays open whatever is
		// merged, and deciding over it again at each of a day's segments costs the square of
		// the segments. Deciding once what was merged since the last decision is as much as
		// it left open, and more than mergeSlack, keeps at most twice what one decision
		// leaves plus mergeSlack, and sorts each candidate a few times at most.
		d.decideEarly(false)
	}
}

// Finish decides the window rules and returns every finding, newest first, and notices.
func (d *Detector) Finish() ([]Finding, []string) {
	d.finishing = true
	d.findings = slices.Grow(d.findings, len(d.found)+len(d.held)+len(d.heldNoID))
	for i := range d.found {
		d.add(d.found[i].rule, d.found[i].k.finding())
	}
	d.found = nil
	for _, h := range d.held {
		d.emit(h.rule, h.k.finding())
	}
	for _, h := range d.heldNoID {
		d.emit(h.rule, h.k.finding())
	}
	d.held, d.heldNoID = map[heldKey]heldFinding{}, nil
	for i, rule := range d.rules {
		if s := d.states[i]; s != nil {
			d.cur = rule
			s.decide(d.emitFn)
		}
		if rule.decide == nil {
			continue
		}
		for _, part := range d.early.all(rule.ID) {
			for i := range part {
				d.emit(rule, part[i].finding())
			}
		}
		cands := byTime(d.cands.all(rule.ID))
		d.cur = rule
		rule.decide(cands, d.cfg, d.emitFn)
		if rule.notes != nil {
			d.notes = append(d.notes, rule.notes(cands, d.cfg)...)
		}
	}
	sortNewestFirst(d.findings)
	notices := d.notes
	if n := d.overlapNotice(); n != "" {
		notices = append(notices, n)
	}
	if n := d.startedNotice(); n != "" {
		notices = append(notices, n)
	}
	if n := d.profileNotice(); n != "" {
		notices = append(notices, n)
	}
	if n := d.outsideNotice(); n != "" {
		notices = append(notices, n)
	}
	for _, res := range sortedKeys(d.bodiless) {
		n, all := d.bodiless[res], d.bodiless[res]+d.bodied[res]
		how := strconv.Itoa(n) + " of " + strconv.Itoa(all)
		if n == all {
			how = "all " + strconv.Itoa(n)
		}
		notices = append(notices, "needs Request level for "+res+": "+how+" changes to "+res+
			" were audited at Metadata level (no request body), so "+andList(d.bodyRules[res])+" could not judge them")
	}
	return d.findings, notices
}

// sortNewestFirst orders findings newest first, then by rule and auditID, ties in the order
// they came (a stable sort, done as an unstable one on places whose last key is the place:
// far fewer comparisons, and a Finding is large, so it moves once, in place). The times are
// taken out into small keys first: most comparisons end on the time, and a key compares two
// integers where Time.Compare would reach into two large Findings.
func sortNewestFirst(fs []Finding) {
	type key struct {
		sec  int64
		nsec int32
		i    int32
	}
	keys := make([]key, len(fs))
	for i := range fs {
		t := fs[i].Time
		keys[i] = key{sec: t.Unix(), nsec: int32(t.Nanosecond()), i: int32(i)}
	}
	slices.SortFunc(keys, func(x, y key) int {
		if x.sec != y.sec {
			return cmp.Compare(y.sec, x.sec)
		}
		if x.nsec != y.nsec {
			return cmp.Compare(y.nsec, x.nsec)
		}
		a, b := &fs[x.i], &fs[y.i]
		if c := strings.Compare(a.RuleID, b.RuleID); c != 0 {
			return c
		}
		if c := strings.Compare(a.AuditID, b.AuditID); c != 0 {
			return c
		}
		return cmp.Compare(x.i, y.i)
	})
	// Move each Finding once, following the permutation's cycles in place: no second slice
	// of Findings to allocate and copy back (a Finding holds pointers, so every move is a
	// barriered write while the collector runs). A place that is done is marked with -1.
	for start := range keys {
		if keys[start].i < 0 || int(keys[start].i) == start {
			continue
		}
		held := fs[start]
		dst := start
		for {
			src := int(keys[dst].i)
			keys[dst].i = -1
			if src == start {
				fs[dst] = held
				break
			}
			fs[dst] = fs[src]
			dst = src
		}
	}
}

// startedNotice says which rules miss what when the data holds completed long-running requests
// but no ResponseStarted event at all: the audit policy omits that stage (omitStages).
func (d *Detector) startedNotice() string {
	if d.started > 0 || d.longDone == 0 {
		return ""
	}
	var loss []string
	byLoss := map[string][]string{}
	for _, r := range d.rules {
		if r.withoutStarted == "" {
			continue
		}
		if _, ok := byLoss[r.withoutStarted]; !ok {
			loss = append(loss, r.withoutStarted)
		}
		byLoss[r.withoutStarted] = append(byLoss[r.withoutStarted], r.ID)
	}
	if len(loss) == 0 {
		return ""
	}
	parts := make([]string, len(loss))
	for i, l := range loss {
		parts[i] = andList(byLoss[l]) + " " + l
	}
	return "no ResponseStarted events among " + strconv.Itoa(d.longDone) + " completed long-running requests (watch, exec, " +
		"attach, port-forward, proxy, log): the audit policy omits that stage (omitStages), or the query's stages filter does, so " +
		strings.Join(parts, "; ")
}

// andList joins names as "a", "a and b", "a, b and c".
func andList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// byTime returns the candidates of parts in one new slice, ordered by time, then auditID,
// ties in the order of parts (stable, as an unstable sort whose last key is the place).
func byTime(parts [][]kept) []kept {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	all := make([]kept, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &all[i], &all[j]
		if a.t != b.t {
			return cmp.Compare(a.t, b.t)
		}
		if c := strings.Compare(a.auditID(), b.auditID()); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	out := make([]kept, n)
	for i, j := range order {
		out[i] = all[j]
	}
	return out
}
