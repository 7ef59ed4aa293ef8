package plugin

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/models"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
)

// newCloudWatchSource builds the CloudWatch Logs source. It reads the environment and the
// shared AWS config files but makes no network call; the returned *cloudwatch.Source is also a
// source.Counter (Logs Insights).
func newCloudWatchSource(s *models.Settings) (source.Source, error) {
	cw, sec := s.CloudWatch, s.Secrets.CloudWatch
	return cloudwatch.New(context.Background(), cloudwatch.Config{
		Region:                cw.DefaultRegion,
		AuthType:              cw.AuthType,
		Profile:               cw.Profile,
		AccessKey:             sec.AccessKey,
		SecretKey:             sec.SecretKey,
		SessionToken:          sec.SessionToken,
		AssumeRoleARN:         cw.AssumeRoleARN,
		ExternalID:            cw.ExternalID,
		Endpoint:              cw.Endpoint,
		LogGroups:             cw.LogGroupNames,
		StreamPrefix:          cw.StreamPrefix,
		RequestsPerSecond:     cw.RequestsPerSecond,
		MaxConcurrentInsights: cw.MaxConcurrentInsights,
		InsightsAfter:         cw.InsightsThreshold,
		CountCacheBytes:       cw.CacheBytes,
		FinishedAfter:         cw.FinishedWithin,
		PricePerGB:            cw.PricePerGB,
	}, cloudwatch.Options{ClientOptions: []func(*cloudwatchlogs.Options){traceCloudWatch}}) // tracing.go
}
