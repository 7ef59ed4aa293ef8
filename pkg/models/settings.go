// Package models holds the datasource settings.
package models

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
)

// Source kinds.
const (
	SourceFile       = "file"
	SourceLoki       = "loki"
	SourceCloudWatch = "cloudwatch"
)

// DefaultMaxLineBytes is the line size cap when none is configured: single audit events can
// exceed 1 MB (large request and response objects).
const DefaultMaxLineBytes = 4 << 20

// Settings is the datasource's jsonData: one instance reads one source.
type Settings struct {
	Source     string              `json:"source"`
	File       *FileSettings       `json:"file,omitempty"`
	Loki       *LokiSettings       `json:"loki,omitempty"`       // loki.go
	CloudWatch *CloudWatchSettings `json:"cloudwatch,omitempty"` // cloudwatch.go
	// Detections holds datasource-wide allow-lists and tunables of the detections query.
	Detections *DetectionSettings `json:"detections,omitempty"` // detections.go
	// Envelope is the format of the source's lines: auto (default: detected line by line),
	// bare, cri, docker, fluentbit (also Vector), gke or aks (package envelope).
	Envelope envelope.Format `json:"envelope,omitempty"`
	// QueryTimeout bounds each query of every source, a Go duration such as 90s or 5m
	// (default DefaultQueryTimeout); see Timeout.
	QueryTimeout string `json:"queryTimeout,omitempty"`
	// Timeout is QueryTimeout parsed by Load.
	Timeout time.Duration `json:"-"`
	// Secrets are never read from or written to jsonData.
	Secrets Secrets `json:"-"`
}

// FileSettings configures the local audit file source.
type FileSettings struct {
	Paths        []string `json:"paths"`
	MaxLineBytes int      `json:"maxLineBytes,omitempty"`
	// MaxGzipRatio bounds what a .gz audit file may expand to, as a multiple of its compressed
	// size (default 64, the file source's DefaultMaxGzipRatio): past it, reading stops with a notice.
	MaxGzipRatio int `json:"maxGzipRatio,omitempty"`
	// Cache keeps each file's partial aggregates between queries, so refreshes read only what
	// changed (default true; false reads every file for every query).
	Cache *bool `json:"cache,omitempty"`
	// CacheSizeMB bounds that cache (default DefaultCacheSizeMB).
	CacheSizeMB int `json:"cacheSizeMB,omitempty"`
	// Index keeps a column index of each audit file on disk, so queries the cache cannot
	// answer read columns instead of JSON (default true).
	Index *bool `json:"index,omitempty"`
	// IndexDir is where the index lives; default a directory under the user's cache directory
	// (or the system temporary directory), one per datasource.
	IndexDir string `json:"indexDir,omitempty"`
	// IndexSizeMB bounds the index directory (default DefaultIndexSizeMB); the least recently
	// used files go first.
	IndexSizeMB int `json:"indexSizeMB,omitempty"`
}

// DefaultIndexSizeMB is the index directory's bound when none is configured.
const DefaultIndexSizeMB = 2048

// IndexEnabled reports whether the column index is on.
func (f *FileSettings) IndexEnabled() bool { return f.Index == nil || *f.Index }

// IndexBytes is the index directory's bound in bytes.
func (f *FileSettings) IndexBytes() int64 {
	if f.IndexSizeMB <= 0 {
		return DefaultIndexSizeMB << 20
	}
	return int64(f.IndexSizeMB) << 20
}

// DefaultCacheSizeMB is the file cache's bound when none is configured.
const DefaultCacheSizeMB = 512

// CacheEnabled reports whether the file cache is on.
func (f *FileSettings) CacheEnabled() bool { return f.Cache == nil || *f.Cache }

// CacheBytes is the file cache's bound in bytes.
func (f *FileSettings) CacheBytes() int64 {
	if f.CacheSizeMB <= 0 {
		return DefaultCacheSizeMB << 20
	}
	return int64(f.CacheSizeMB) << 20
}

// Secrets holds decrypted secure JSON data. The file source has none. Never log or return it.
type Secrets struct {
	Loki       LokiSecrets
	CloudWatch CloudWatchSecrets
}

// Load parses and validates the datasource settings.
func Load(s backend.DataSourceInstanceSettings) (*Settings, error) {
	var set Settings
	if len(s.JSONData) > 0 {
		if err := json.Unmarshal(s.JSONData, &set); err != nil {
			return nil, fmt.Errorf("invalid datasource settings: %w", err)
		}
	}
	if set.Source == "" {
		set.Source = SourceFile
	}
	var err error
	if set.Timeout, err = parseQueryTimeout(set.QueryTimeout); err != nil {
		return nil, err
	}
	// Detections settings are checked by DetectConfig: a mistake there fails detections
	// queries (and the health check), not every query of the datasource.
	switch set.Source {
	case SourceFile:
		if set.File == nil || len(nonEmpty(set.File.Paths)) == 0 {
			return nil, fmt.Errorf("no audit log paths configured: add the directory kube-apiserver writes with --audit-log-path (for example /var/log/kubernetes/audit)")
		}
		set.File.Paths = nonEmpty(set.File.Paths)
		if set.File.MaxLineBytes <= 0 {
			set.File.MaxLineBytes = DefaultMaxLineBytes
		}
		if d := set.File.IndexDir; d != "" && !filepath.IsAbs(d) {
			return nil, fmt.Errorf("file.indexDir %q is not absolute: use a full path such as /var/lib/grafana/k8saudit-index, or leave it empty for the default", d)
		}
		if set.File.MaxGzipRatio < 0 {
			return nil, fmt.Errorf("file.maxGzipRatio %d is negative: use 0 for the default (64)", set.File.MaxGzipRatio)
		}
		if set.File.CacheSizeMB < 0 || set.File.IndexSizeMB < 0 {
			return nil, fmt.Errorf("file.cacheSizeMB and file.indexSizeMB must not be negative: use 0 for the defaults (%d and %d MB)", DefaultCacheSizeMB, DefaultIndexSizeMB)
		}
	case SourceLoki:
		if err := loadLoki(&set, s.DecryptedSecureJSONData); err != nil {
			return nil, err
		}
	case SourceCloudWatch:
		if err := loadCloudWatch(&set, s.DecryptedSecureJSONData); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown source %q: use file, loki or cloudwatch", set.Source)
	}
	return &set, nil
}

// DefaultQueryTimeout bounds a query when the settings name no queryTimeout: at the ~1.45 GB/s
// of a cold scan (docs/performance.md) that reads about a week of a busy cluster's files.
const DefaultQueryTimeout = 60 * time.Second

// MaxQueryTimeout is the longest queryTimeout accepted.
const MaxQueryTimeout = 24 * time.Hour

// parseQueryTimeout reads queryTimeout: empty for the default, else a positive Go duration.
func parseQueryTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultQueryTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxQueryTimeout {
		return 0, fmt.Errorf("queryTimeout %q is not a positive duration up to %s, such as 60s or 5m: leave it empty for the default (%s)",
			s, MaxQueryTimeout, DefaultQueryTimeout)
	}
	return d, nil
}

func nonEmpty(in []string) []string {
	var out []string
	for _, p := range in {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
