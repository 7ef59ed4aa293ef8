package models

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"
)

// Loki auth modes (jsonData.loki.auth). A TLS client certificate can be combined with any of them.
const (
	LokiAuthNone   = "none"
	LokiAuthBasic  = "basic"
	LokiAuthBearer = "bearer"
)

// Loki defaults.
const (
	// DefaultLokiFinishedAfter is when a bucket of Loki counts is final: Promtail/Alloy ship
	// lines within seconds, retries within minutes.
	DefaultLokiFinishedAfter = 5 * time.Minute
	// MaxLokiParallelism bounds loki.parallelism.
	MaxLokiParallelism = 32
	// DefaultLokiPageSize is Loki's default max_entries_limit_per_query: one query_range
	// request never asks for more lines than this.
	DefaultLokiPageSize = 5000
	// DefaultLokiMaxLines is the budget of lines one query pulls from Loki in raw mode.
	DefaultLokiMaxLines = 2_000_000
	// DefaultLokiMaxQueryLength is one hour under Loki's default max_query_length (721h).
	DefaultLokiMaxQueryLength = 720 * time.Hour
	// DefaultLokiTimeout bounds one HTTP request to Loki.
	DefaultLokiTimeout = 60 * time.Second
	// DefaultLokiSelector is what Promtail/Alloy examples label the audit log with.
	DefaultLokiSelector = `{job="kubernetes-audit"}`
)

// Secure JSON keys of the Loki source. Header values are lokiHeaderValue1, 2... matching
// jsonData.loki.headers[0], [1]...
const (
	SecureLokiBasicAuthPassword = "lokiBasicAuthPassword"
	SecureLokiBearerToken       = "lokiBearerToken"
	SecureLokiTLSClientCert     = "lokiTLSClientCert"
	SecureLokiTLSClientKey      = "lokiTLSClientKey"
	SecureLokiTLSCACert         = "lokiTLSCACert"
	SecureLokiHeaderValuePrefix = "lokiHeaderValue"
)

// LokiSettings configures the Loki source (jsonData.loki).
type LokiSettings struct {
	// URL of Loki (or its query frontend / gateway), without /loki/api/v1.
	URL string `json:"url"`
	// Auth is none (default), basic or bearer.
	Auth          string `json:"auth,omitempty"`
	BasicAuthUser string `json:"basicAuthUser,omitempty"`
	// TLSClientAuth sends the client certificate and key of the secure data.
	TLSClientAuth bool `json:"tlsClientAuth,omitempty"`
	// TLSWithCACert verifies the server with the CA certificate of the secure data.
	TLSWithCACert bool   `json:"tlsWithCACert,omitempty"`
	TLSSkipVerify bool   `json:"tlsSkipVerify,omitempty"`
	TLSServerName string `json:"tlsServerName,omitempty"`
	// Tenant is sent as X-Scope-OrgID (multi-tenant Loki).
	Tenant string `json:"tenant,omitempty"`
	// Headers are extra request headers; their values are secret (lokiHeaderValueN).
	Headers []LokiHeader `json:"headers,omitempty"`
	// TimeoutSeconds bounds one HTTP request (default 60).
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`

	// Selector is the LogQL stream selector of the audit stream.
	Selector string `json:"selector"`
	// MaxLines is the budget of lines one query may pull in raw mode (a notice says when hit).
	MaxLines int64 `json:"maxLines,omitempty"`
	// PageSize is the limit of one query_range request: at most the server's
	// max_entries_limit_per_query (default 5000).
	PageSize int `json:"pageSize,omitempty"`
	// IngestionLag is how much later than the event's stageTimestamp Loki stamps a line, as a
	// Go duration ("2m"); 0 means Promtail/Alloy stamps lines with stageTimestamp.
	IngestionLag string `json:"ingestionLag,omitempty"`
	// MaxQueryLength is the server's max_query_length as a Go duration (default 720h): longer
	// ranges are split.
	MaxQueryLength string `json:"maxQueryLength,omitempty"`
	// RawLines says the lines are not the apiserver's compact JSON (Promtail/Alloy rewrote
	// them), so no `|= "\"verb\":\"get\""` line filters are pushed to Loki.
	RawLines bool `json:"notCompactJSON,omitempty"`
	// Parallelism bounds the requests one count sends to Loki at once (default 4, at most
	// MaxLokiParallelism).
	Parallelism int `json:"parallelism,omitempty"`
	// CountCache settings: the cache of finished metric-query buckets.
	CountCache

	// Parsed values, filled by loadLoki.
	Lag         time.Duration      `json:"-"`
	QueryLength time.Duration      `json:"-"`
	HTTPOptions httpclient.Options `json:"-"`
}

// CountCache configures the cache of finished buckets that Loki and CloudWatch counts keep
// (countcache): a dashboard refresh then asks the source only for what can still change.
type CountCache struct {
	// Enabled is countCache (default true).
	Enabled *bool `json:"countCache,omitempty"`
	// SizeMB bounds it (default DefaultCountCacheMB).
	SizeMB int `json:"countCacheMB,omitempty"`
	// FinishedAfter (Go duration) is how old a bucket's end must be before its count is final
	// and kept: events reach the source this much late at most.
	FinishedAfter string `json:"finishedAfter,omitempty"`

	// Resolved by load: the bound in bytes (0: no cache) and the duration.
	CacheBytes     int64         `json:"-"`
	FinishedWithin time.Duration `json:"-"`
}

// DefaultCountCacheMB is the default bound of a datasource's cache of finished buckets.
const DefaultCountCacheMB = 64

// load validates and resolves the cache settings of the source named src ("loki").
func (c *CountCache) load(src string, defAfter time.Duration) error {
	if c.SizeMB < 0 {
		return fmt.Errorf("%s.countCacheMB must not be negative, got %d: leave it empty for %d MB, or set %s.countCache to false", src, c.SizeMB, DefaultCountCacheMB, src)
	}
	mb := c.SizeMB
	if mb == 0 {
		mb = DefaultCountCacheMB
	}
	c.CacheBytes = int64(mb) << 20
	if c.Enabled != nil && !*c.Enabled {
		c.CacheBytes = 0
	}
	c.FinishedWithin = defAfter
	if v := strings.TrimSpace(c.FinishedAfter); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("invalid %s.finishedAfter %q: use a positive duration such as 5m or 15m", src, c.FinishedAfter)
		}
		c.FinishedWithin = d
	}
	return nil
}

// LokiHeader is an extra request header; its value is in secure JSON data.
type LokiHeader struct {
	Name string `json:"name"`
}

// LokiSecrets are the Loki source's secure JSON data. Never log or return them.
type LokiSecrets struct {
	BasicAuthPassword string
	BearerToken       string
	TLSClientCert     string
	TLSClientKey      string
	TLSCACert         string
	HeaderValues      []string // by index of LokiSettings.Headers
}

// loadLoki validates set.Loki, reads its secrets and builds the HTTP client options.
func loadLoki(set *Settings, secure map[string]string) error {
	l := set.Loki
	if l == nil || strings.TrimSpace(l.URL) == "" {
		return fmt.Errorf("no Loki URL configured: set loki.url to Loki's address, for example http://loki:3100")
	}
	l.URL = strings.TrimRight(strings.TrimSpace(l.URL), "/")
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid Loki URL %q: use http(s)://host:port", l.URL)
	}
	if l.Selector = strings.TrimSpace(l.Selector); l.Selector == "" {
		l.Selector = DefaultLokiSelector
	}
	if !strings.HasPrefix(l.Selector, "{") || !strings.HasSuffix(l.Selector, "}") {
		return fmt.Errorf("invalid Loki stream selector %q: use a LogQL stream selector such as %s (line filters are added by the plugin)", l.Selector, DefaultLokiSelector)
	}
	// 0 (or absent) means the default; a negative value is a mistake, not a request for it.
	for _, n := range []struct {
		name  string
		value int64
		def   int64
	}{
		{"maxLines", l.MaxLines, DefaultLokiMaxLines},
		{"pageSize", int64(l.PageSize), DefaultLokiPageSize},
		{"timeoutSeconds", int64(l.TimeoutSeconds), int64(DefaultLokiTimeout / time.Second)},
	} {
		if n.value < 0 {
			return fmt.Errorf("loki.%s must not be negative, got %d: leave it empty (or 0) for the default of %d", n.name, n.value, n.def)
		}
	}
	if l.MaxLines == 0 {
		l.MaxLines = DefaultLokiMaxLines
	}
	if l.PageSize == 0 {
		l.PageSize = DefaultLokiPageSize
	}
	if l.TimeoutSeconds == 0 {
		l.TimeoutSeconds = int(DefaultLokiTimeout / time.Second)
	}
	if l.Lag, err = parseDuration("ingestionLag", l.IngestionLag, 0); err != nil {
		return err
	}
	if l.QueryLength, err = parseDuration("maxQueryLength", l.MaxQueryLength, DefaultLokiMaxQueryLength); err != nil {
		return err
	}
	if l.Parallelism < 0 || l.Parallelism > MaxLokiParallelism {
		return fmt.Errorf("loki.parallelism %d is out of range: use 1 to %d, or leave it empty for 4", l.Parallelism, MaxLokiParallelism)
	}
	if err := l.CountCache.load("loki", DefaultLokiFinishedAfter); err != nil {
		return err
	}
	if l.QueryLength < time.Minute {
		return fmt.Errorf("loki.maxQueryLength %s is too short: use Loki's max_query_length (721h by default)", l.QueryLength)
	}

	sec := LokiSecrets{
		BasicAuthPassword: secure[SecureLokiBasicAuthPassword],
		BearerToken:       secure[SecureLokiBearerToken],
		TLSClientCert:     secure[SecureLokiTLSClientCert],
		TLSClientKey:      secure[SecureLokiTLSClientKey],
		TLSCACert:         secure[SecureLokiTLSCACert],
	}
	for i := range l.Headers {
		sec.HeaderValues = append(sec.HeaderValues, secure[SecureLokiHeaderValuePrefix+strconv.Itoa(i+1)])
	}
	set.Secrets.Loki = sec
	opts, err := l.httpOptions(sec)
	if err != nil {
		return err
	}
	l.HTTPOptions = opts
	return nil
}

func parseDuration(name, v string, def time.Duration) (time.Duration, error) {
	if strings.TrimSpace(v) == "" {
		return def, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid loki.%s %q: use a duration such as 90s, 5m or 720h", name, v)
	}
	return d, nil
}

// httpOptions builds the SDK HTTP client options (httpclient.New adds the SDK's middleware:
// basic auth, custom headers, tracing, metrics, error source).
func (l *LokiSettings) httpOptions(sec LokiSecrets) (httpclient.Options, error) {
	timeouts := httpclient.DefaultTimeoutOptions
	timeouts.Timeout = time.Duration(l.TimeoutSeconds) * time.Second
	opts := httpclient.Options{
		Timeouts: &timeouts,
		Header:   http.Header{},
		Labels:   map[string]string{"datasource_type": "loki-audit"},
	}
	switch l.Auth {
	case "", LokiAuthNone:
	case LokiAuthBasic:
		if l.BasicAuthUser == "" {
			return opts, fmt.Errorf("loki basic auth needs a user (loki.basicAuthUser) and a password")
		}
		opts.BasicAuth = &httpclient.BasicAuthOptions{User: l.BasicAuthUser, Password: sec.BasicAuthPassword}
	case LokiAuthBearer:
		if sec.BearerToken == "" {
			return opts, fmt.Errorf("loki bearer auth needs a token in the secure settings")
		}
		opts.Header.Set("Authorization", "Bearer "+sec.BearerToken)
	default:
		return opts, fmt.Errorf("unknown loki.auth %q: use none, basic or bearer", l.Auth)
	}
	if l.TLSClientAuth || l.TLSWithCACert || l.TLSSkipVerify || l.TLSServerName != "" {
		opts.TLS = &httpclient.TLSOptions{InsecureSkipVerify: l.TLSSkipVerify, ServerName: l.TLSServerName}
		if l.TLSClientAuth {
			if sec.TLSClientCert == "" || sec.TLSClientKey == "" {
				return opts, fmt.Errorf("loki TLS client auth needs a client certificate and key in the secure settings")
			}
			opts.TLS.ClientCertificate, opts.TLS.ClientKey = sec.TLSClientCert, sec.TLSClientKey
		}
		if l.TLSWithCACert {
			if sec.TLSCACert == "" {
				return opts, fmt.Errorf("loki custom CA is enabled but no CA certificate is in the secure settings")
			}
			opts.TLS.CACertificate = sec.TLSCACert
		}
	}
	for i, h := range l.Headers {
		name := http.CanonicalHeaderKey(strings.TrimSpace(h.Name))
		if name == "" {
			continue
		}
		if name == "X-Scope-Orgid" || (name == "Authorization" && l.Auth != "" && l.Auth != LokiAuthNone) {
			return opts, fmt.Errorf("header %s is set by the plugin: use loki.tenant or loki.auth", h.Name)
		}
		opts.Header.Set(name, sec.HeaderValues[i])
	}
	if l.Tenant != "" {
		opts.Header.Set("X-Scope-OrgID", l.Tenant)
	}
	return opts, nil
}
