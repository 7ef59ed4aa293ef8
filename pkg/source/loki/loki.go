// Package loki reads Kubernetes audit events that Promtail or Alloy shipped to Grafana Loki.
// It talks to Loki's HTTP API (never Loki's code): raw mode pages through
// /loki/api/v1/query_range and hands every line to the engine, which decodes and filters it
// like a file's line; pushdown mode (Counter) counts requests with LogQL metric queries.
package loki

import (
	"errors"
	"net/http"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/countcache"
)

var (
	_ source.Source  = (*Source)(nil)
	_ source.Counter = (*Source)(nil)
)

// Config configures a Source.
type Config struct {
	// URL of Loki without /loki/api/v1.
	URL string
	// HTTP are the SDK client options (auth, TLS, headers including X-Scope-OrgID, timeout).
	HTTP httpclient.Options
	// Selector is the LogQL stream selector of the audit stream.
	Selector string
	// PageSize is the limit of one query_range request (<= max_entries_limit_per_query).
	PageSize int
	// MaxLines bounds the lines one Scan pulls; a problem says where it stopped.
	MaxLines int64
	// Lag is how much later than the event time Loki stamps a line; the Loki window is
	// widened by it on both sides. Pushdown is exact only when it is 0.
	Lag time.Duration
	// MaxQueryLength is the longest range one request may span (Loki's max_query_length).
	MaxQueryLength time.Duration
	// CompactJSON says lines are the apiserver's compact JSON: field line filters are safe.
	CompactJSON bool
	// Retries of a request answered 429/5xx; RetryBase is the first backoff.
	Retries   int
	RetryBase time.Duration
	// PushdownMinLines: in automatic mode, count in Loki when the range holds more lines.
	PushdownMinLines int64
	// MaxPoints is the most evaluation steps of one metric query (Loki: 11000).
	MaxPoints int
	// Parallelism bounds the requests one count sends at once (its range chunks and the
	// buckets cut by its edges): default defaultParallelism.
	Parallelism int
	// CountCacheBytes bounds the cache of finished metric-query buckets (0: no cache).
	CountCacheBytes int64
	// FinishedAfter is how old a bucket's end must be for its count to be final and cached
	// (lines arrive late): default DefaultFinishedAfter.
	FinishedAfter time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// DefaultFinishedAfter is the default Config.FinishedAfter.
const DefaultFinishedAfter = 5 * time.Minute

// Source is a Loki audit source. It is safe for concurrent use.
type Source struct {
	cfg   Config
	c     *client
	cache *countcache.Cache // nil: none
}

// Defaults.
const (
	defaultPageSize         = 5000
	defaultMaxLines         = 2_000_000
	defaultMaxQueryLength   = 720 * time.Hour
	defaultRetries          = 4
	defaultRetryBase        = 250 * time.Millisecond
	defaultPushdownMinLines = 500_000
	defaultMaxPoints        = 11000
	defaultParallelism      = 4
)

// New builds a Source with an SDK HTTP client (httpclient.New with the default middleware).
func New(cfg Config) (*Source, error) {
	if cfg.URL == "" {
		return nil, errors.New("loki: no URL")
	}
	if cfg.Selector == "" {
		return nil, errors.New("loki: no stream selector")
	}
	hc, err := httpclient.New(cfg.HTTP)
	if err != nil {
		return nil, err
	}
	return newWithClient(cfg, hc), nil
}

func newWithClient(cfg Config, hc *http.Client) *Source {
	if cfg.PageSize <= 0 {
		cfg.PageSize = defaultPageSize
	}
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = defaultMaxLines
	}
	if cfg.MaxQueryLength <= 0 {
		cfg.MaxQueryLength = defaultMaxQueryLength
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = defaultRetries
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = defaultRetryBase
	}
	if cfg.PushdownMinLines <= 0 {
		cfg.PushdownMinLines = defaultPushdownMinLines
	}
	if cfg.MaxPoints <= 0 {
		cfg.MaxPoints = defaultMaxPoints
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var timeout time.Duration
	if cfg.HTTP.Timeouts != nil {
		timeout = cfg.HTTP.Timeouts.Timeout
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = defaultParallelism
	}
	if cfg.FinishedAfter <= 0 {
		cfg.FinishedAfter = DefaultFinishedAfter
	}
	src := &Source{cfg: cfg, c: &client{base: cfg.URL, http: hc, timeout: timeout, retries: cfg.Retries, retryBase: cfg.RetryBase}}
	if cfg.CountCacheBytes > 0 {
		src.cache = countcache.New(cfg.CountCacheBytes)
	}
	return src
}

// Close releases idle connections.
func (s *Source) Close() { s.c.http.CloseIdleConnections() }
