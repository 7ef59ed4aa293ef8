package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// detections: the findings of the selected rules (table), or their counts per bucket.
func init() {
	registerType(query.TypeDetections, &typeEngine{plan: planDetections, bucketed: notTable})
}

// prefilterNoticePrefix starts the notice of a detections query whose source was asked only for
// its rules' candidate lines.
const prefilterNoticePrefix = "asked the source only for the selected rules' candidate lines ("

// prefilterPushable reports whether a remote source can apply some field of the prefilter p
// (Loki line filters, CloudWatch filter patterns: query.FilterFields' Push), so that asking for
// it may pull fewer lines: globs alone (users system:*) are not.
func prefilterPushable(p *query.Filter) bool {
	for _, ff := range query.FilterFields {
		if ff.Key == "stages" {
			continue
		}
		if vs := ff.Values(p); len(vs) > 0 && (ff.Pushable(ff.Push.LokiLine, vs) || ff.Pushable(ff.Push.CWPattern, vs)) {
			return true
		}
	}
	return false
}

// planDetections selects the query's rules and, when the wildcard-role rule needs it, reads
// the RBAC look-back before the range.
func planDetections(ctx context.Context, src source.Source, req Request) (func() aggregator, []Notice, error) {
	q := req.Query
	rules, err := detectionRules(q)
	if err != nil {
		return nil, nil, err
	}
	var b *buckets
	if q.Format == query.FormatTimeSeries {
		b = newBuckets(req)
	}
	var preNotices []Notice
	cfg := detectConfig(q, req.Detect)
	if p, u := detectionsPrefilter(rules); p != nil {
		// The notices' counts see only what the prefilter keeps, from any source, so that
		// they do not depend on whether the source applied it.
		cfg.Scope = p.Compile().Match
		if _, files := src.(source.SegmentScanner); !files && filterToSource(req) && prefilterPushable(p) {
			preNotices = append(preNotices, Notice{Info, prefilterNoticePrefix + u.String() + "); every rule and the query's filter ran in the plugin on what it sent, as on files"})
		}
	}
	if cfg.RoleLookback > 0 && slices.ContainsFunc(rules, func(r *detect.Rule) bool { return r.ID == detect.RoleRule }) {
		hist, st, err := roleHistory(ctx, src, req, cfg.RoleLookback)
		switch {
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case err != nil:
			// The findings of the range still stand; say what could not be judged.
			preNotices = append(preNotices, Notice{Warning, fmt.Sprintf("%s: the %s RBAC look-back could not be read (%v); bindings are judged on role writes within the range only", detect.RoleRule, cfg.RoleLookback, err)})
			cfg.RoleLookback = 0
		default:
			cfg.RoleHistory = hist
		}
		for _, n := range sourceNotices(st) {
			preNotices = append(preNotices, Notice{n.Severity, "RBAC look-back: " + n.Text})
		}
	}
	share := detectionsShareKey(q, cfg)
	return func() aggregator { return newDetections(q, rules, cfg, b, share) }, preNotices, nil
}
