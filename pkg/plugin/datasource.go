// Package plugin adapts the audit query engine to Grafana's plugin SDK: one file per handler.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/models"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// ID is the plugin id.
const ID = "k8saudit-auditlogs-datasource"

var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// Datasource is one configured datasource instance: its settings and its source, built once
// and released in Dispose.
type Datasource struct {
	settings  *models.Settings
	src       source.Source
	detect    detect.Config // base configuration of detections queries
	roles     *engine.RoleIndex
	cache     *engine.Cache // partial aggregates of file segments; nil when off or not files
	index     *index.Store  // column index of file segments; nil when off, not files or unusable
	indexErr  error         // why the configured index cannot be used
	configErr error         // settings that cannot work: reported by health checks and queries
	detectErr error         // detections settings that cannot work: reported by health checks and detections queries
	resources backend.CallResourceHandler
	tails     tailCursors // where each live tail channel stopped (stream.go)
	uid       string      // the datasource's UID, for the data links of frames (frames_links.go)
}

// NewDatasource builds a datasource instance from its settings. Invalid settings do not fail
// here (Grafana would show an opaque error); they are reported by CheckHealth and each query.
func NewDatasource(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	ds := &Datasource{roles: &engine.RoleIndex{}, uid: s.UID}
	ds.settings, ds.configErr = models.Load(s)
	if ds.configErr == nil {
		ds.detect, ds.detectErr = ds.settings.Detections.DetectConfig()
		ds.src, ds.configErr = newSource(ds.settings)
		if f := ds.settings.File; ds.settings.Source == models.SourceFile && f != nil {
			if f.CacheEnabled() {
				ds.cache = engine.NewCache(f.CacheBytes())
			}
			if f.IndexEnabled() {
				ds.index, ds.indexErr = openIndex(f, ds.settings.Envelope, s)
			}
		}
	}
	mux := http.NewServeMux()
	ds.registerRoutes(mux)
	ds.resources = httpadapter.New(mux)
	return ds, nil
}

// lineFormat is the line format of the datasource's source (the envelope setting).
func (d *Datasource) lineFormat() envelope.Format {
	if d.settings == nil {
		return envelope.Auto
	}
	return d.settings.Envelope
}

// openIndex opens the datasource's column index directory: the configured one, else one per
// datasource under the user's cache directory, else under the system temporary directory.
func openIndex(f *models.FileSettings, env envelope.Format, s backend.DataSourceInstanceSettings) (*index.Store, error) {
	salt := fmt.Sprintf("maxLineBytes=%d", f.MaxLineBytes)
	salt += ",envelope=" + env.String() // which lines are events
	if f.MaxGzipRatio != 0 && f.MaxGzipRatio != file.DefaultMaxGzipRatio {
		salt += fmt.Sprintf(",maxGzipRatio=%d", f.MaxGzipRatio) // what a .gz bounded by it holds
	}
	if f.IndexDir != "" {
		return index.Open(f.IndexDir, f.IndexBytes(), salt)
	}
	name := s.UID
	if name == "" {
		name = strconv.FormatInt(s.ID, 10)
	}
	name = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, name)
	var errs []error
	var bases []string
	if d, err := os.UserCacheDir(); err == nil {
		bases = append(bases, d)
	}
	for _, base := range append(bases, os.TempDir()) {
		st, err := index.Open(filepath.Join(base, ID, "index", name), f.IndexBytes(), salt)
		if err == nil {
			return st, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func newSource(s *models.Settings) (source.Source, error) {
	switch s.Source {
	case models.SourceLoki:
		return newLokiSource(s) // source_loki.go
	case models.SourceCloudWatch:
		return newCloudWatchSource(s) // source_cloudwatch.go
	}
	return file.New(file.Config{Paths: s.File.Paths, MaxLineBytes: s.File.MaxLineBytes, MaxGzipRatio: s.File.MaxGzipRatio},
		file.Options{TimeOf: envelope.TimeOf(s.Envelope, audit.LineTime)})
}

// Dispose releases the instance's resources when its settings change or it is deleted.
func (d *Datasource) Dispose() {
	if c, ok := d.src.(interface{ Close() }); ok {
		c.Close()
	}
}
