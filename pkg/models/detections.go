package models

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
)

// DetectionSettings are the datasource-wide settings of the detections query (jsonData.detections):
// allow-lists for every rule and for single rules, and the burst tunables. Queries add theirs.
type DetectionSettings struct {
	Allow AllowList `json:"allow"`
	// Rules holds allow-lists for single rules, by rule id.
	Rules          map[string]RuleSettings `json:"rules,omitempty"`
	BurstThreshold int                     `json:"burstThreshold,omitempty"`
	BurstWindow    string                  `json:"burstWindow,omitempty"`
	// RBACLookback is how far before a query's range detections read role writes, to judge
	// bindings to roles written earlier (binding-to-wildcard-role): a duration such as 24h or
	// 7d; "0" turns it off. Default 24h.
	RBACLookback string `json:"rbacLookback,omitempty"`
	// Profile names a shipped set of exceptions for what clusters do by design ("knownGood":
	// kube-state-metrics listing secrets, kube-proxy and aws-node being privileged, EKS's eks:*
	// users); "" (the default) for none.
	Profile string `json:"profile,omitempty"`
	// ClusterNetworks are the cluster's own networks (nodes, pods, control plane; CIDRs or IPs):
	// service-account and node credentials, and anonymous requests, from outside them are
	// findings.
	ClusterNetworks []string `json:"clusterNetworks,omitempty"`
}

// DefaultRBACLookback is the RBAC look-back when the settings name none.
const DefaultRBACLookback = 24 * time.Hour

// parseLookback reads a duration such as 90m, 24h or 7d.
func parseLookback(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 24h or 7d", s)
	}
	return d, nil
}

// RuleSettings are the settings of one rule.
type RuleSettings struct {
	Allow AllowList `json:"allow"`
}

// AllowList lists what detections must not report: users, groups, namespaces, images (globs)
// and source networks (CIDRs or IPs).
type AllowList struct {
	Users          []string `json:"users,omitempty"`
	Groups         []string `json:"groups,omitempty"`
	Namespaces     []string `json:"namespaces,omitempty"`
	Images         []string `json:"images,omitempty"`
	SourceNetworks []string `json:"sourceNetworks,omitempty"`
}

func (a AllowList) validate(where string) error { return validateNetworks(where, a.SourceNetworks) }

// validateNetworks checks that each of ns is a CIDR or an IP address.
func validateNetworks(where string, ns []string) error {
	for _, n := range ns {
		n = strings.TrimSpace(n)
		if _, err := netip.ParsePrefix(n); err != nil {
			if _, err := netip.ParseAddr(n); err != nil {
				return fmt.Errorf("%s: %q is neither a CIDR nor an IP address", where, n)
			}
		}
	}
	return nil
}

func (a AllowList) detect() detect.Allow {
	return detect.Allow{Users: a.Users, Groups: a.Groups, Namespaces: a.Namespaces, Images: a.Images, Networks: a.SourceNetworks}
}

// DetectConfig validates the settings and turns them into the detectors' base configuration.
func (d *DetectionSettings) DetectConfig() (detect.Config, error) {
	cfg := detect.Config{RoleLookback: DefaultRBACLookback}
	if d == nil {
		return cfg, nil
	}
	if d.RBACLookback != "" {
		l, err := parseLookback(d.RBACLookback)
		if err != nil {
			return cfg, fmt.Errorf("detections.rbacLookback: %w", err)
		}
		cfg.RoleLookback = l
	}
	if err := d.Allow.validate("detections.allow"); err != nil {
		return cfg, err
	}
	if d.Profile != "" {
		if _, ok := detect.Profiles[d.Profile]; !ok {
			return cfg, fmt.Errorf("detections.profile: unknown profile %q: use %q, or leave it empty for none", d.Profile, detect.ProfileKnownGood)
		}
		cfg.Profile = d.Profile
	}
	if err := validateNetworks("detections.clusterNetworks", d.ClusterNetworks); err != nil {
		return cfg, err
	}
	cfg.ClusterNetworks = d.ClusterNetworks
	a := d.Allow.detect()
	cfg.AllowUsers, cfg.AllowGroups, cfg.AllowNamespaces, cfg.AllowImages, cfg.AllowNetworks = a.Users, a.Groups, a.Namespaces, a.Images, a.Networks
	for id, r := range d.Rules {
		if _, ok := detect.Lookup(id); !ok {
			return cfg, fmt.Errorf("detections.rules: unknown rule %q", id)
		}
		if err := r.Allow.validate("detections.rules." + id + ".allow"); err != nil {
			return cfg, err
		}
		if cfg.RuleAllow == nil {
			cfg.RuleAllow = map[string]detect.Allow{}
		}
		cfg.RuleAllow[id] = r.Allow.detect()
	}
	if d.BurstThreshold < 0 {
		return cfg, fmt.Errorf("detections.burstThreshold must not be negative")
	}
	cfg.BurstThreshold = d.BurstThreshold
	if d.BurstWindow != "" {
		w, err := time.ParseDuration(strings.TrimSpace(d.BurstWindow))
		if err != nil || w <= 0 {
			return cfg, fmt.Errorf("detections.burstWindow %q is not a positive duration such as 5m", d.BurstWindow)
		}
		cfg.BurstWindow = w
	}
	return cfg, nil
}
