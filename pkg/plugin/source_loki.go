package plugin

import (
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/models"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
)

// newLokiSource builds the Loki source; the returned value also implements source.Counter
// and loki.FilterScanner.
func newLokiSource(s *models.Settings) (source.Source, error) {
	l := s.Loki
	return loki.New(loki.Config{
		URL:            l.URL,
		HTTP:           l.HTTPOptions,
		Selector:       l.Selector,
		PageSize:       l.PageSize,
		MaxLines:       l.MaxLines,
		Lag:            l.Lag,
		MaxQueryLength: l.QueryLength,
		CompactJSON:    !l.RawLines,
		// The cache lives with this datasource instance: a settings change builds a new one.
		Parallelism:     l.Parallelism,
		CountCacheBytes: l.CacheBytes,
		FinishedAfter:   l.FinishedWithin,
	})
}
