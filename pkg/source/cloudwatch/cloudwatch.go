// Package cloudwatch is the CloudWatch Logs source: it reads the kube-apiserver audit log that
// EKS writes to the log group /aws/eks/<cluster>/cluster, streams kube-apiserver-audit-<hex>.
// One CloudWatch event is one audit Event JSON in its message.
//
// # Raw mode (source.Source)
//
// Scan calls FilterLogEvents on every configured log group with the audit stream prefix and the
// request's time range widened by TimestampSlack (the CloudWatch timestamp is when the line was
// read, up to seconds after the event's stageTimestamp; the engine filters on stageTimestamp),
// following nextToken until the service returns none. Every call waits for a client-side rate
// limiter (5 requests/s by default: the FilterLogEvents quota per account and region), so many
// panels slow down instead of being throttled. Events are de-duplicated by eventId across
// neighbouring pages, so an event repeated at a page boundary is delivered once; events that share
// a millisecond are never skipped because paging follows nextToken, never startTime=last+1.
// When the request carries the query's filter, the exact part of it is pushed down as a
// CloudWatch JSON filter pattern (FilterPattern); the engine still filters every line itself.
//
// # Insights mode (source.Counter)
//
// Count runs a Logs Insights query (StartQuery, then GetQueryResults with backoff until Complete,
// Failed, Cancelled or Timeout; StopQuery when the request is cancelled) that counts requests
// per stageTimestamp granule and groupBy values; see insights.go. At most
// Config.MaxConcurrentInsights queries run at once per Source; the others wait in a queue.
//
// # Errors
//
// AWS errors become *Error with a Kind (throttled, access denied, credentials, missing log group,
// invalid request, query failed, unavailable) and an actionable message. Throttling and 5xx
// answers are retried by the AWS SDK's standard retryer (what AWS documents as safe to retry);
// what is left after the retries is returned.
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/countcache"
)

// Authentication types (Grafana's AWS names).
const (
	AuthDefault     = "default"
	AuthKeys        = "keys"
	AuthCredentials = "credentials"
)

// Defaults.
const (
	DefaultStreamPrefix          = "kube-apiserver-audit-"
	DefaultRequestsPerSecond     = 5
	DefaultMaxConcurrentInsights = 5
	DefaultInsightsAfter         = time.Hour
	DefaultFinishedAfter         = 10 * time.Minute
	// DefaultPricePerGB is the public list price of Logs Insights per GB of data scanned
	// (USD, us-east-1, https://aws.amazon.com/cloudwatch/pricing/).
	DefaultPricePerGB = 0.005
	// TimestampSlack widens a scan's range after To (CloudWatch's timestamp is when the line was
	// shipped, after stageTimestamp) and before From (clock differences).
	TimestampSlack = 5 * time.Minute
	// MaxRetryAttempts is how often the SDK tries a call that failed with a retryable error
	// (throttling, 5xx, connection reset, a timed-out attempt, a truncated answer) before
	// giving up.
	MaxRetryAttempts = 6
	// DefaultCallTimeout bounds one attempt of one API call (connect, send, answer, body). The
	// AWS SDK's HTTP client has no overall timeout: without it a connection that stalls hangs
	// the query until Grafana gives up. A timed-out attempt is retried by the SDK.
	DefaultCallTimeout = 30 * time.Second
)

// Config is the user configuration of the source.
type Config struct {
	Region string
	// AuthType is default, keys or credentials.
	AuthType                           string
	Profile                            string // credentials: the shared credentials profile
	AccessKey, SecretKey, SessionToken string // keys (secrets: never logged)
	AssumeRoleARN, ExternalID          string
	Endpoint                           string // overrides the CloudWatch Logs endpoint

	LogGroups             []string // at least one
	StreamPrefix          string   // default DefaultStreamPrefix
	RequestsPerSecond     float64  // default DefaultRequestsPerSecond
	MaxConcurrentInsights int      // default DefaultMaxConcurrentInsights
	InsightsAfter         time.Duration
	// CountCacheBytes bounds the cache of finished Insights buckets (0: no cache).
	CountCacheBytes int64
	// FinishedAfter is how old a bucket's end must be for its count to be final and cached
	// (EKS delivers audit events minutes late): default DefaultFinishedAfter.
	FinishedAfter time.Duration
	// PricePerGB is the Logs Insights price per GB scanned, for the cost notice (default
	// DefaultPricePerGB).
	PricePerGB float64
}

// String hides the secrets from fmt and loggers.
func (c Config) String() string {
	return fmt.Sprintf("cloudwatch.Config{Region:%s AuthType:%s LogGroups:%q StreamPrefix:%q Endpoint:%q}",
		c.Region, c.AuthType, c.LogGroups, c.StreamPrefix, c.Endpoint)
}

// GoString hides the secrets from %#v.
func (c Config) GoString() string { return c.String() }

// API is the part of the CloudWatch Logs client the source uses; *cloudwatchlogs.Client
// implements it.
type API interface {
	FilterLogEvents(context.Context, *cloudwatchlogs.FilterLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
	DescribeLogGroups(context.Context, *cloudwatchlogs.DescribeLogGroupsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
	DescribeLogStreams(context.Context, *cloudwatchlogs.DescribeLogStreamsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error)
	StartQuery(context.Context, *cloudwatchlogs.StartQueryInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.StartQueryOutput, error)
	GetQueryResults(context.Context, *cloudwatchlogs.GetQueryResultsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetQueryResultsOutput, error)
	StopQuery(context.Context, *cloudwatchlogs.StopQueryInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.StopQueryOutput, error)
}

var _ API = (*cloudwatchlogs.Client)(nil)

// Options are the dependencies of the source; all optional.
type Options struct {
	// Client replaces the client built from Config.
	Client API
	// ClientOptions are applied to the client built from Config (tests shorten the retry
	// backoff with them).
	ClientOptions []func(*cloudwatchlogs.Options)
	// PageLimit is FilterLogEvents' limit (0: the service's default, 10,000 events).
	PageLimit int32
	// CallTimeout bounds one attempt of one API call (default DefaultCallTimeout).
	CallTimeout time.Duration
	// PollInterval and MaxPollInterval bound the GetQueryResults backoff (default 250ms, 5s).
	PollInterval, MaxPollInterval time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Source reads audit events from CloudWatch Logs. It is safe for concurrent use.
type Source struct {
	cfg      Config
	client   API
	limiter  *rate.Limiter
	slots    chan struct{} // Insights concurrency: one token per running query
	pageLim  int32
	poll     time.Duration
	maxPoll  time.Duration
	now      func() time.Time
	endpoint string
	cache    *countcache.Cache // nil: none
}

var (
	_ source.Source  = (*Source)(nil)
	_ source.Counter = (*Source)(nil)
)

// New validates cfg, builds the AWS client (no network call) and returns a Source.
func New(ctx context.Context, cfg Config, opts Options) (*Source, error) {
	if cfg.StreamPrefix == "" {
		cfg.StreamPrefix = DefaultStreamPrefix
	}
	if cfg.RequestsPerSecond <= 0 {
		cfg.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if cfg.MaxConcurrentInsights <= 0 {
		cfg.MaxConcurrentInsights = DefaultMaxConcurrentInsights
	}
	if cfg.InsightsAfter <= 0 {
		cfg.InsightsAfter = DefaultInsightsAfter
	}
	if cfg.FinishedAfter <= 0 {
		cfg.FinishedAfter = DefaultFinishedAfter
	}
	if cfg.PricePerGB <= 0 {
		cfg.PricePerGB = DefaultPricePerGB
	}
	if len(cfg.LogGroups) == 0 {
		return nil, errors.New("no CloudWatch log group configured: set a cluster name or log groups")
	}
	s := &Source{
		cfg:     cfg,
		client:  opts.Client,
		limiter: rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), 1),
		slots:   make(chan struct{}, cfg.MaxConcurrentInsights),
		pageLim: opts.PageLimit,
		poll:    opts.PollInterval,
		maxPoll: opts.MaxPollInterval,
		now:     opts.Now,
	}
	if s.poll <= 0 {
		s.poll = 250 * time.Millisecond
	}
	if s.maxPoll <= 0 {
		s.maxPoll = 5 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.CountCacheBytes > 0 {
		s.cache = countcache.New(cfg.CountCacheBytes)
	}
	s.endpoint = cfg.Endpoint
	if s.client == nil {
		awsCfg, err := LoadAWSConfig(ctx, cfg)
		if err != nil {
			return nil, err
		}
		timeout := opts.CallTimeout
		if timeout <= 0 {
			timeout = DefaultCallTimeout
		}
		s.client = cloudwatchlogs.NewFromConfig(awsCfg, func(o *cloudwatchlogs.Options) {
			o.HTTPClient = awshttp.NewBuildableClient().WithTimeout(timeout)
			if cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(cfg.Endpoint)
			}
			for _, f := range opts.ClientOptions {
				f(o)
			}
		})
	}
	return s, nil
}

// LoadAWSConfig builds the AWS configuration of cfg's authentication type: the SDK's default
// chain, static keys, or a shared credentials profile, optionally followed by an assumed role.
// It reads environment and shared config files but makes no network call.
func LoadAWSConfig(ctx context.Context, cfg Config) (aws.Config, error) {
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region configured: set the default region, e.g. us-east-1")
	}
	if cfg.Endpoint != "" {
		if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return aws.Config{}, fmt.Errorf("endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithRetryer(retryer),
	}
	switch cfg.AuthType {
	case "", AuthDefault:
	case AuthKeys:
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return aws.Config{}, errors.New("authentication type keys needs an access key ID and a secret access key")
		}
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)))
	case AuthCredentials:
		profile := cfg.Profile
		if profile == "" {
			profile = "default"
		}
		opts = append(opts, config.WithSharedConfigProfile(profile))
	default:
		return aws.Config{}, fmt.Errorf("unknown AWS authentication type %q: use default, keys or credentials", cfg.AuthType)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration (%s authentication): %w", authName(cfg.AuthType), err)
	}
	if cfg.AssumeRoleARN != "" {
		stsClient := sts.NewFromConfig(awsCfg)
		awsCfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, cfg.AssumeRoleARN,
			func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "grafana-k8saudit"
				if cfg.ExternalID != "" {
					o.ExternalID = aws.String(cfg.ExternalID)
				}
			}))
	}
	return awsCfg, nil
}

// retryer is the SDK's standard retryer (its retryable errors and backoff: jittered
// exponential, from 1 s for throttling, honouring x-amz-retry-after) with MaxRetryAttempts, no
// retry quota, and undecodable answers retried: a body cut short (a dropped connection, a
// proxy) fails to deserialize, and the SDK would otherwise give up on the first one.
func retryer() aws.Retryer {
	return retryAfter{retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxRetryAttempts
		// The client-side limiter paces calls; the retry token bucket would otherwise turn
		// a burst of throttles in a long scan into "retry quota exceeded".
		o.RateLimiter = ratelimit.None
		o.Retryables = append(o.Retryables, retry.IsErrorRetryableFunc(undecodableAnswer))
	})}
}

// maxRetryAfter bounds the wait a Retry-After header can ask for, as for Loki.
const maxRetryAfter = 30 * time.Second

// retryAfter is the standard retryer that also honours a plain `Retry-After: <seconds>`
// header (a proxy or gateway in front of CloudWatch answering 429 or 503), which the SDK
// ignores: the delay is the longer of the header's (at most maxRetryAfter) and the backoff's.
type retryAfter struct{ *retry.Standard }

func (r retryAfter) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := r.Standard.RetryDelay(attempt, err)
	if derr != nil {
		return d, derr
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.ResponseError != nil && re.Response != nil {
		if secs, perr := strconv.Atoi(strings.TrimSpace(re.Response.Header.Get("Retry-After"))); perr == nil && secs > 0 {
			d = max(d, min(time.Duration(secs)*time.Second, maxRetryAfter))
		}
	}
	return d, nil
}

// undecodableAnswer reports an answer whose body could not be decoded: truncated ("unterminated
// string at offset ..."), or cut before its end (unexpected EOF).
func undecodableAnswer(err error) aws.Ternary {
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

func authName(t string) string {
	if t == "" {
		return AuthDefault
	}
	return t
}

// wait blocks until the rate limiter allows one more call. When the context's deadline comes
// before that, the error is context.DeadlineExceeded (the limiter's own error is untyped).
func (s *Source) wait(ctx context.Context) error {
	err := s.limiter.Wait(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: the next CloudWatch Logs call would start after the query's deadline (%w)", context.DeadlineExceeded, err)
}

// streamPattern is the stream prefix as an Insights regex literal body.
func (s *Source) streamPattern() string {
	return regexpQuote(strings.TrimSuffix(s.cfg.StreamPrefix, "-"))
}

// ms converts t to epoch milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }
