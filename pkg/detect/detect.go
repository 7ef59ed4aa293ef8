// Package detect is the catalogue of security detections evaluated over audit events: exec into
// pods, secrets read by unexpected principals, RBAC escalations, privileged workloads, denial
// bursts and more. It is pure Go: the engine feeds it scanned records and turns its findings
// into frames.
//
// Each request is judged once, on the stage that fits the rule: the event that completes the
// request for most rules, the ResponseStarted event for exec, attach and port-forward (the
// earliest sign of a stream that may stay open for hours).
package detect

import (
	"path"
	"slices"
	"sort"
	"strconv"
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

	// eval judges one event and emits its findings.
	eval func(e *event, emit func(Finding))
	// window rules collect candidates per worker and decide after merging (bursts, sequences).
	collect func(e *event) (candidate, bool)
	decide  func(cands []candidate, cfg Config, emit func(Finding))
	// notes explain, after the decision, what the window rule could not judge.
	notes func(cands []candidate, cfg Config) []string
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

	groups []string // for the groups allow-list
	images []string // for the images allow-list
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

// candidate is an event a window rule keeps for its decision after all events are seen.
type candidate struct {
	key  string // what the window groups by (source IP, user)
	item string // what is counted distinct (secret name), or the event kind in a sequence
	f    Finding
}

// Detector evaluates rules over records. Each scan worker has its own; Merge joins them.
type Detector struct {
	cfg       Config
	rules     []*Rule
	allow     *allowList
	ruleAllow map[string]*allowList

	findings []Finding
	cands    map[string][]candidate // by rule id
	states   []ruleState            // by rule index; nil for rules without state
	ev       event                  // reused for each record
	cur      *Rule                  // the rule being evaluated, for emitFn
	emitFn   func(Finding)
	// bodiless counts requests whose body a rule needed but the event did not carry (Metadata level).
	bodiless map[string]int
	notes    []string
}

// New returns a detector for rules.
func New(rules []*Rule, cfg Config) *Detector {
	cfg = cfg.withDefaults()
	d := &Detector{cfg: cfg, rules: rules, allow: newAllowList(cfg), cands: map[string][]candidate{}, bodiless: map[string]int{}}
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
	d.emitFn = func(f Finding) { d.emit(d.cur, f) }
	return d
}

// Observe evaluates every rule on one record.
func (d *Detector) Observe(r *audit.Record) {
	e := &d.ev
	e.reset(r)
	if !e.final && !e.started {
		return // no rule judges a request on its RequestReceived event
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
				c.f.RuleID = rule.ID
				d.cands[rule.ID] = append(d.cands[rule.ID], c)
			}
		}
		if len(rule.NeedsBody) > 0 && e.final && e.code < 400 && len(r.RequestObject()) == 0 && e.writes() &&
			e.is(rule.NeedsBody...) {
			d.bodiless[string(e.resource)]++
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
	f.RuleID, f.Title, f.Severity = rule.ID, rule.Title, rule.Severity
	d.findings = append(d.findings, f)
}

// Merge adds other's state (another worker's) to d.
func (d *Detector) Merge(other *Detector) {
	d.findings = append(d.findings, other.findings...)
	for id, cs := range other.cands {
		d.cands[id] = append(d.cands[id], cs...)
	}
	for res, n := range other.bodiless {
		d.bodiless[res] += n
	}
	for i, s := range d.states {
		if s != nil {
			s.merge(other.states[i])
		}
	}
}

// Finish decides the window rules and returns every finding, newest first, and notices.
func (d *Detector) Finish() ([]Finding, []string) {
	for i, rule := range d.rules {
		if s := d.states[i]; s != nil {
			d.cur = rule
			s.decide(d.emitFn)
		}
		if rule.decide == nil {
			continue
		}
		cands := d.cands[rule.ID]
		sort.Slice(cands, func(i, j int) bool {
			if !cands[i].f.Time.Equal(cands[j].f.Time) {
				return cands[i].f.Time.Before(cands[j].f.Time)
			}
			return cands[i].f.AuditID < cands[j].f.AuditID
		})
		d.cur = rule
		rule.decide(cands, d.cfg, d.emitFn)
		if rule.notes != nil {
			d.notes = append(d.notes, rule.notes(cands, d.cfg)...)
		}
	}
	sort.Slice(d.findings, func(i, j int) bool {
		a, b := d.findings[i], d.findings[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.After(b.Time)
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.AuditID < b.AuditID
	})
	notices := d.notes
	for _, res := range sortedKeys(d.bodiless) {
		notices = append(notices, "needs Request level for "+res+": "+strconv.Itoa(d.bodiless[res])+
			" changes were audited at Metadata level, so the rules that read their body could not judge them")
	}
	return d.findings, notices
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
