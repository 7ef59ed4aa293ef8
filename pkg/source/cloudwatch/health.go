package cloudwatch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// healthStreamPages bounds the DescribeLogStreams pages the health check reads per group (50
// streams each): EKS rotates audit streams, old ones stay until retention removes them.
const healthStreamPages = 4

// Health checks, per log group: the credentials work and the group exists (DescribeLogGroups),
// audit streams exist (DescribeLogStreams by prefix), and the newest event time the streams
// report (CloudWatch updates lastEventTimestamp with a delay of up to an hour).
func (s *Source) Health(ctx context.Context) source.Health {
	var h source.Health
	var parts []string
	for _, g := range s.cfg.LogGroups {
		streams, newest, more, err := s.groupHealth(ctx, g)
		if err != nil {
			return source.Health{Message: err.Error()}
		}
		if streams == 0 {
			return source.Health{Message: fmt.Sprintf("log group %s exists but has no audit streams (%s*): enable the audit log type in the cluster's control plane logging (aws eks update-cluster-config --logging '{\"clusterLogging\":[{\"types\":[\"audit\"],\"enabled\":true}]}'), or fix the stream prefix", g, s.cfg.StreamPrefix)}
		}
		h.Files += streams
		if newest.After(h.Newest) {
			h.Newest = newest
		}
		count := fmt.Sprintf("%d", streams)
		if more {
			count = "more than " + count
		}
		parts = append(parts, fmt.Sprintf("%s: %s audit streams", g, count))
	}
	h.OK = true
	newest := "newest event time not reported yet"
	if !h.Newest.IsZero() {
		newest = "newest event " + h.Newest.UTC().Format(time.RFC3339)
	}
	h.Message = fmt.Sprintf("CloudWatch Logs (%s): %s; %s", s.cfg.Region, strings.Join(parts, "; "), newest)
	return h
}

func (s *Source) groupHealth(ctx context.Context, group string) (streams int, newest time.Time, more bool, err error) {
	if err := s.wait(ctx); err != nil {
		return 0, newest, false, err
	}
	lg, err := s.client.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{
		LogGroupNamePrefix: aws.String(group),
		Limit:              aws.Int32(5),
	})
	if err != nil {
		return 0, newest, false, classify(err, "DescribeLogGroups", group)
	}
	found := false
	for _, g := range lg.LogGroups {
		if aws.ToString(g.LogGroupName) == group {
			found = true
		}
	}
	if !found {
		return 0, newest, false, &Error{Kind: KindNotFound, Op: "DescribeLogGroups", LogGroup: group,
			Msg: fmt.Sprintf("log group %s does not exist in %s (the credentials work): check the cluster name and region, and enable the audit log type in the cluster's control plane logging", group, s.cfg.Region)}
	}
	in := &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName:        aws.String(group),
		LogStreamNamePrefix: aws.String(s.cfg.StreamPrefix),
	}
	for page := 0; page < healthStreamPages; page++ {
		if err := s.wait(ctx); err != nil {
			return 0, newest, false, err
		}
		out, err := s.client.DescribeLogStreams(ctx, in)
		if err != nil {
			return 0, newest, false, classify(err, "DescribeLogStreams", group)
		}
		for _, st := range out.LogStreams {
			streams++
			ts := aws.ToInt64(st.LastEventTimestamp)
			if ts == 0 {
				ts = aws.ToInt64(st.LastIngestionTime)
			}
			if t := time.UnixMilli(ts); ts > 0 && t.After(newest) {
				newest = t
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return streams, newest, false, nil
		}
		in.NextToken = out.NextToken
	}
	return streams, newest, true, nil
}
