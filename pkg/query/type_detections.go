package query

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
)

// detectionSeverities are the severities of detection rules (pkg/detect), and "*", a
// variable's All.
var detectionSeverities = []string{"low", "medium", "high", "critical", "*"}

// detections: security findings of the rule catalogue in pkg/detect.
func init() {
	register(&TypeSpec{
		Type:        TypeDetections,
		Label:       "Detections",
		Description: "Security findings: exec into pods, secret harvesting, RBAC escalation, privileged pods and more.",
		Order:       70,
		Formats:     []string{FormatTable, FormatTimeSeries},
		Limits:      Limits{DefaultLimit: 100, MaxLimit: 10000, LimitOf: "findings"},
		// Rules pick the stage that fits them (ResponseStarted for exec, the completing event
		// otherwise); none judges RequestReceived.
		Defaults: Defaults{Stages: StringList{"ResponseStarted", "ResponseComplete", "Panic"}},
		validate: validateDetections,
	})
}

// findingDimensions are the groupBy dimensions of detections in their timeseries format:
// the finding's own fields, which label each series beside rule and severity.
var findingDimensions = map[string]func(f detect.Finding) string{
	"user.username":       func(f detect.Finding) string { return f.User },
	"objectRef.namespace": func(f detect.Finding) string { return f.Namespace },
	"objectRef.resource":  func(f detect.Finding) string { return f.Resource },
	"objectRef.name":      func(f detect.Finding) string { return f.Name },
	"verb":                func(f detect.Finding) string { return f.Verb },
	"sourceIPs":           func(f detect.Finding) string { return f.SourceIP },
	"userAgent":           func(f detect.Finding) string { return f.UserAgent },
}

// FindingValue is a finding's value of a groupBy dimension of detections (validated by Parse).
func FindingValue(dim string, f detect.Finding) string {
	if v, ok := findingDimensions[dim]; ok {
		return v(f)
	}
	return ""
}

func validateDetections(q *Query) error {
	if q.Format == FormatTimeSeries {
		for _, g := range q.GroupBy {
			if _, ok := findingDimensions[g]; !ok {
				names := slices.Sorted(maps.Keys(findingDimensions))
				return errorf("detections cannot be grouped by %s: use %s (findings are grouped by rule and severity already)", g, strings.Join(names, ", "))
			}
		}
	}
	for _, sev := range q.Severities {
		if !slices.Contains(detectionSeverities, sev) {
			return errorf("unknown severity %q: use low, medium, high or critical", sev)
		}
	}
	if q.BurstThreshold < 0 {
		return errorf("burstThreshold must not be negative")
	}
	if q.Allow != nil {
		for _, n := range q.Allow.SourceNetworks {
			n = strings.TrimSpace(n)
			if _, err := netip.ParsePrefix(n); err != nil {
				if _, err := netip.ParseAddr(n); err != nil {
					return errorf("allow.sourceNetworks: %q is neither a CIDR nor an IP address", n)
				}
			}
		}
	}
	if q.BurstWindow != "" {
		if d, err := time.ParseDuration(q.BurstWindow); err != nil || d <= 0 {
			return errorf("burstWindow %q is not a positive duration such as 5m", q.BurstWindow)
		}
	}
	return nil
}
