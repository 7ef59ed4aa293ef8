package detect

import (
	"math"
	"strings"
	"time"
)

// A window rule keeps candidates until Finish, and a kept segment's detector keeps them for as
// long as the engine's cache does: a day of a busy cluster holds tens of thousands, and a
// Finding is ~350 bytes before its strings. So a detector keeps each candidate as a kept: its
// strings interned in the detector's table (users, source IPs, agents and resources repeat all
// day), its time as nanoseconds, and its Finding rebuilt when a rule decides to emit it.

// strtab is a detector's string table. Only the detector that owns it appends to it, while it
// observes; detectors that merged it only read it (a detector is done observing when merged).
type strtab struct {
	strs []string
	ids  map[string]uint32
}

func newStrtab() *strtab { return &strtab{strs: []string{""}, ids: map[string]uint32{"": 0}} }

// id interns s.
func (t *strtab) id(s string) uint32 {
	if id, ok := t.ids[s]; ok {
		return id
	}
	id := uint32(len(t.strs))
	t.strs = append(t.strs, s)
	t.ids[s] = id
	return id
}

// unique adds s without interning it: for values that do not repeat (auditIDs).
func (t *strtab) unique(s string) uint32 {
	if s == "" {
		return 0
	}
	t.strs = append(t.strs, s)
	return uint32(len(t.strs) - 1)
}

// intern returns the table's copy of s.
func (t *strtab) intern(s string) string { return t.strs[t.id(s)] }

// The strings of a kept candidate's finding.
const (
	sUser = iota
	sSourceIP
	sUserAgent
	sVerb
	sResource
	sNamespace
	sName
	sDetail
	sAuditID
	sGenerateName
	sImages // joined by listSep
	sGroups // joined by listSep
	nStrings
)

// listSep joins a list in one interned string; no audit value holds a NUL.
const listSep = "\x00"

// kept is a candidate as a detector keeps it.
type kept struct {
	key, item string // interned
	t         int64  // the finding's time, Unix nanoseconds
	tab       *strtab
	s         [nStrings]uint32
}

// keep packs c into t.
func (t *strtab) keep(c candidate) kept {
	f := &c.f
	k := kept{key: t.intern(c.key), item: t.intern(c.item), t: noTime, tab: t}
	if !f.Time.IsZero() {
		k.t = f.Time.UnixNano()
	}
	k.s[sUser] = t.id(f.User)
	k.s[sSourceIP] = t.id(f.SourceIP)
	k.s[sUserAgent] = t.id(f.UserAgent)
	k.s[sVerb] = t.id(f.Verb)
	k.s[sResource] = t.id(f.Resource)
	k.s[sNamespace] = t.id(f.Namespace)
	k.s[sName] = t.id(f.Name)
	k.s[sDetail] = t.id(f.Detail)
	k.s[sAuditID] = t.unique(f.AuditID)
	k.s[sGenerateName] = t.id(f.generateName)
	k.s[sImages] = t.id(strings.Join(f.Images, listSep))
	k.s[sGroups] = t.id(strings.Join(f.groups, listSep))
	return k
}

func (k *kept) str(i int) string { return k.tab.strs[k.s[i]] }

func (k *kept) list(i int) []string {
	if k.s[i] == 0 {
		return nil
	}
	return strings.Split(k.str(i), listSep)
}

// noTime stands for an event without a time (zero), which sorts first.
const noTime = math.MinInt64

// time is the candidate's time.
func (k *kept) time() time.Time {
	if k.t == noTime {
		return time.Time{}
	}
	return time.Unix(0, k.t).UTC()
}

// auditID is the candidate's auditID.
func (k *kept) auditID() string { return k.str(sAuditID) }

// finding rebuilds the candidate's finding.
func (k *kept) finding() Finding {
	return Finding{
		Time: k.time(), User: k.str(sUser), SourceIP: k.str(sSourceIP), UserAgent: k.str(sUserAgent), Verb: k.str(sVerb),
		Resource: k.str(sResource), Namespace: k.str(sNamespace), Name: k.str(sName), Detail: k.str(sDetail),
		AuditID: k.auditID(), Images: k.list(sImages), groups: k.list(sGroups), generateName: k.str(sGenerateName),
	}
}

// sub is the time from o to k.
func (k *kept) sub(o *kept) time.Duration { return time.Duration(k.t - o.t) }
