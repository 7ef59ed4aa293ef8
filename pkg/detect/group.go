package detect

import "strings"

// groupKey is what makes two findings repeats of one another: everything but when, which
// request (auditID) and how often.
type groupKey struct {
	rule, user, sourceIP, userAgent, verb, resource, namespace, name, detail, images string
}

// Group folds repeated findings (the same rule, user, source IP, user agent, verb, object and
// detail) into one, newest first: its Count is the sum of theirs, FirstSeen and LastSeen span
// them, and its Time and AuditID are those of the newest. fs is sorted newest first, as Finish
// returns it.
func Group(fs []Finding) []Finding {
	index := map[groupKey]int{}
	var out []Finding
	for _, f := range fs {
		k := groupKey{f.RuleID, f.User, f.SourceIP, f.UserAgent, f.Verb, f.Resource, f.Namespace, f.Name, f.Detail,
			strings.Join(f.Images, "\x00")}
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, f)
			continue
		}
		g := &out[i]
		g.Count += f.Count
		if f.FirstSeen.Before(g.FirstSeen) {
			g.FirstSeen = f.FirstSeen
		}
		if f.LastSeen.After(g.LastSeen) {
			g.LastSeen = f.LastSeen
		}
	}
	for i := range out {
		if g := &out[i]; g.LastSeen.After(g.Time) {
			g.Time = g.LastSeen
		}
	}
	sortNewestFirst(out)
	return out
}
