package models

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// AWS authentication types, named as in Grafana's AWS datasources (jsonData.authType).
const (
	AuthDefault     = "default"     // the AWS SDK's default chain: env, shared config, web identity, ECS/EC2 roles
	AuthKeys        = "keys"        // secureJsonData accessKey + secretKey
	AuthCredentials = "credentials" // a profile of the shared credentials file
)

// CloudWatch defaults.
const (
	DefaultCloudWatchStreamPrefix   = "kube-apiserver-audit-"
	DefaultCloudWatchMaxInsights    = 5 // concurrent Insights queries per datasource (AWS: ~30 per account and region)
	MaxCloudWatchMaxInsights        = 30
	DefaultCloudWatchRequestsPerSec = 5.0 // FilterLogEvents quota per account and region
	DefaultCloudWatchInsightsAfter  = time.Hour
	maxCloudWatchLogGroups          = 50 // Logs Insights queries at most 50 log groups
)

// CloudWatchSettings configures the CloudWatch Logs source (jsonData.cloudwatch). The AWS
// connection keys are named as in Grafana's own AWS datasources (authType, defaultRegion,
// profile, assumeRoleArn, externalId, endpoint) so that users recognise them.
type CloudWatchSettings struct {
	AuthType      string `json:"authType,omitempty"`
	DefaultRegion string `json:"defaultRegion"`
	Profile       string `json:"profile,omitempty"`
	AssumeRoleARN string `json:"assumeRoleArn,omitempty"`
	ExternalID    string `json:"externalId,omitempty"`
	// Endpoint overrides the CloudWatch Logs endpoint (VPC endpoint, FIPS, LocalStack, tests).
	Endpoint string `json:"endpoint,omitempty"`

	// LogGroups are log group names; ClusterName adds /aws/eks/<cluster>/cluster. At least one.
	LogGroups   []string `json:"logGroups,omitempty"`
	ClusterName string   `json:"clusterName,omitempty"`
	// StreamPrefix selects the audit streams (default kube-apiserver-audit-).
	StreamPrefix string `json:"streamPrefix,omitempty"`

	// MaxConcurrentInsights bounds the Logs Insights queries this datasource runs at once;
	// more wait in a queue (default 5, at most 30).
	MaxConcurrentInsights int `json:"maxConcurrentInsights,omitempty"`
	// RequestsPerSecond rate-limits FilterLogEvents and Describe* calls (default 5).
	RequestsPerSecond float64 `json:"requestsPerSecond,omitempty"`
	// InsightsAfter is the range (Go duration, default "1h") above which automatic mode counts
	// with Logs Insights instead of pulling raw events.
	InsightsAfter string `json:"insightsAfter,omitempty"`
	// CountCache settings: the cache of finished Insights buckets (finishedAfter default
	// 10m: EKS delivers audit events minutes late).
	CountCache
	// PricePerGB is the Logs Insights price per GB scanned (USD) for the cost notice
	// (default the public list price, 0.005).
	PricePerGB float64 `json:"pricePerGB,omitempty"`

	// Resolved by loadCloudWatch.
	LogGroupNames     []string      `json:"-"` // LogGroups plus the cluster's group, deduplicated
	InsightsThreshold time.Duration `json:"-"`
}

// CloudWatchSecrets are the CloudWatch source's secure JSON data (keys auth). Never log or
// return them.
type CloudWatchSecrets struct {
	AccessKey    string
	SecretKey    string
	SessionToken string
}

// String hides the secrets from fmt and loggers.
func (CloudWatchSecrets) String() string { return "CloudWatchSecrets{redacted}" }

// GoString hides the secrets from %#v.
func (s CloudWatchSecrets) GoString() string { return s.String() }

var (
	// Log group names: 1-512 of [.-_/#A-Za-z0-9] (CloudWatch Logs API).
	logGroupNameRE = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	// EKS cluster names: 1-100 characters, alphanumerics, hyphens and underscores, starting alphanumeric.
	clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
)

// DefaultCloudWatchFinishedAfter is when a bucket of Insights counts is final.
const DefaultCloudWatchFinishedAfter = 10 * time.Minute

// EKSLogGroup is the log group EKS writes a cluster's control plane logs to.
func EKSLogGroup(cluster string) string { return "/aws/eks/" + cluster + "/cluster" }

// loadCloudWatch validates set.CloudWatch and reads its secrets.
func loadCloudWatch(set *Settings, secure map[string]string) error {
	cw := set.CloudWatch
	if cw == nil {
		return errors.New("no CloudWatch settings: set cloudwatch.defaultRegion and cloudwatch.clusterName (or cloudwatch.logGroups)")
	}
	var errs []error
	cw.AuthType = strings.TrimSpace(cw.AuthType)
	switch cw.AuthType {
	case "", "arn": // "arn" is Grafana's legacy name for the default chain plus an assumed role
		cw.AuthType = AuthDefault
	case AuthDefault, AuthKeys, AuthCredentials:
	default:
		errs = append(errs, fmt.Errorf("unknown AWS authentication type %q: use default, keys or credentials", cw.AuthType))
	}
	cw.DefaultRegion = strings.TrimSpace(cw.DefaultRegion)
	switch {
	case cw.DefaultRegion == "":
		errs = append(errs, errors.New("no AWS region: set cloudwatch.defaultRegion to the cluster's region, e.g. us-east-1"))
	case !regionRE.MatchString(cw.DefaultRegion):
		errs = append(errs, fmt.Errorf("AWS region %q is not a region name such as us-east-1", cw.DefaultRegion))
	}
	set.Secrets.CloudWatch = CloudWatchSecrets{
		AccessKey:    strings.TrimSpace(secure["accessKey"]),
		SecretKey:    strings.TrimSpace(secure["secretKey"]),
		SessionToken: strings.TrimSpace(secure["sessionToken"]),
	}
	if cw.AuthType == AuthKeys && (set.Secrets.CloudWatch.AccessKey == "" || set.Secrets.CloudWatch.SecretKey == "") {
		errs = append(errs, errors.New("authentication type keys needs both an access key ID and a secret access key"))
	}
	if cw.AuthType == AuthCredentials && strings.TrimSpace(cw.Profile) == "" {
		cw.Profile = "default"
	}
	cw.Profile = strings.TrimSpace(cw.Profile)
	cw.AssumeRoleARN = strings.TrimSpace(cw.AssumeRoleARN)
	if cw.AssumeRoleARN != "" && !strings.HasPrefix(cw.AssumeRoleARN, "arn:") {
		errs = append(errs, fmt.Errorf("assume role ARN %q is not an ARN (arn:aws:iam::<account>:role/<name>)", cw.AssumeRoleARN))
	}
	if cw.ExternalID != "" && cw.AssumeRoleARN == "" {
		errs = append(errs, errors.New("an external ID is only used with an assume role ARN: set assumeRoleArn or remove externalId"))
	}
	if cw.Endpoint = strings.TrimSpace(cw.Endpoint); cw.Endpoint != "" {
		u, err := url.Parse(cw.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint %q is not an http(s) URL such as https://logs.us-east-1.amazonaws.com", cw.Endpoint))
		}
	}

	seen := map[string]bool{}
	cw.LogGroupNames = nil
	add := func(g string) {
		if !seen[g] {
			seen[g] = true
			cw.LogGroupNames = append(cw.LogGroupNames, g)
		}
	}
	if cw.ClusterName = strings.TrimSpace(cw.ClusterName); cw.ClusterName != "" {
		if clusterNameRE.MatchString(cw.ClusterName) {
			add(EKSLogGroup(cw.ClusterName))
		} else {
			errs = append(errs, fmt.Errorf("cluster name %q is not an EKS cluster name (letters, digits, - and _, at most 100)", cw.ClusterName))
		}
	}
	for _, g := range nonEmpty(cw.LogGroups) {
		if logGroupNameRE.MatchString(g) {
			add(g)
		} else {
			errs = append(errs, fmt.Errorf("log group name %q is invalid: use letters, digits and . - _ / #, e.g. /aws/eks/my-cluster/cluster", g))
		}
	}
	cw.LogGroups = nonEmpty(cw.LogGroups)
	if len(cw.LogGroupNames) == 0 && cw.ClusterName == "" && len(cw.LogGroups) == 0 {
		errs = append(errs, errors.New("no log group: set cloudwatch.clusterName (reads /aws/eks/<cluster>/cluster) or cloudwatch.logGroups"))
	}
	if len(cw.LogGroupNames) > maxCloudWatchLogGroups {
		errs = append(errs, fmt.Errorf("%d log groups configured: Logs Insights queries at most %d", len(cw.LogGroupNames), maxCloudWatchLogGroups))
	}
	if cw.StreamPrefix = strings.TrimSpace(cw.StreamPrefix); cw.StreamPrefix == "" {
		cw.StreamPrefix = DefaultCloudWatchStreamPrefix
	}

	switch {
	case cw.MaxConcurrentInsights == 0:
		cw.MaxConcurrentInsights = DefaultCloudWatchMaxInsights
	case cw.MaxConcurrentInsights < 0 || cw.MaxConcurrentInsights > MaxCloudWatchMaxInsights:
		errs = append(errs, fmt.Errorf("maxConcurrentInsights %d is out of range: use 1 to %d (AWS allows about 30 concurrent queries per account and region)", cw.MaxConcurrentInsights, MaxCloudWatchMaxInsights))
	}
	switch {
	case cw.RequestsPerSecond == 0:
		cw.RequestsPerSecond = DefaultCloudWatchRequestsPerSec
	case cw.RequestsPerSecond < 0:
		errs = append(errs, fmt.Errorf("requestsPerSecond %v is negative", cw.RequestsPerSecond))
	}
	if err := cw.CountCache.load("cloudwatch", DefaultCloudWatchFinishedAfter); err != nil {
		errs = append(errs, err)
	}
	if cw.PricePerGB < 0 {
		errs = append(errs, fmt.Errorf("pricePerGB %v is negative: leave it empty for the public list price", cw.PricePerGB))
	}
	cw.InsightsThreshold = DefaultCloudWatchInsightsAfter
	if s := strings.TrimSpace(cw.InsightsAfter); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("insightsAfter %q is not a positive duration such as 1h or 30m", s))
		} else {
			cw.InsightsThreshold = d
		}
	}
	return errors.Join(errs...)
}
