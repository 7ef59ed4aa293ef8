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
	return func() aggregator { return newDetections(q, rules, cfg, b) }, preNotices, nil
}
