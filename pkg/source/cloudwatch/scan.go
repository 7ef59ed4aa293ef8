package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Scan calls fn with the message of every audit event of the configured log groups whose
// CloudWatch timestamp lies in the request widened by TimestampSlack. With req.Filter, the exact
// part of the filter is pushed down as a CloudWatch filter pattern (see FilterPattern); fn may
// still receive events the filter rejects.
func (s *Source) Scan(ctx context.Context, req source.Request, fn source.LineFunc) (source.Stats, error) {
	pattern := ""
	if req.Filter != nil {
		pattern = FilterPattern(*req.Filter)
	}
	return s.scan(ctx, req, pattern, func(_ string, _ time.Time, line []byte) error { return fn(line) })
}

// ScanOrigins is Scan with each event's log stream and ingestion time (implements
// source.OriginScanner: pipelineHealth shows events and delivery lag per stream).
func (s *Source) ScanOrigins(ctx context.Context, req source.Request, fn source.OriginFunc) (source.Stats, error) {
	pattern := ""
	if req.Filter != nil {
		pattern = FilterPattern(*req.Filter)
	}
	return s.scan(ctx, req, pattern, fn)
}

func (s *Source) scan(ctx context.Context, req source.Request, pattern string, fn source.OriginFunc) (source.Stats, error) {
	var st source.Stats
	var failed []error
	for _, g := range s.cfg.LogGroups {
		err := s.scanGroup(ctx, g, req, pattern, fn, &st)
		if err == nil {
			st.FilesScanned++
			continue
		}
		var cwErr *Error
		if errors.As(err, &cwErr) && cwErr.Kind == KindNotFound && len(s.cfg.LogGroups) > 1 {
			// One missing group of several: say so and read the others.
			st.Problems = append(st.Problems, cwErr.Msg)
			failed = append(failed, err)
			continue
		}
		return st, err
	}
	if len(failed) == len(s.cfg.LogGroups) {
		return st, failed[0]
	}
	return st, nil
}

// scanGroup pages through FilterLogEvents on one log group.
func (s *Source) scanGroup(ctx context.Context, group string, req source.Request, pattern string, fn source.OriginFunc, st *source.Stats) error {
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:        aws.String(group),
		LogStreamNamePrefix: aws.String(s.cfg.StreamPrefix),
		StartTime:           aws.Int64(ms(req.From.Add(-TimestampSlack))),
		EndTime:             aws.Int64(ms(req.To.Add(TimestampSlack))),
	}
	if pattern != "" {
		in.FilterPattern = aws.String(pattern)
	}
	if s.pageLim > 0 {
		in.Limit = aws.Int32(s.pageLim)
	}
	// eventIds of the previous and the current page: an event repeated across a page boundary
	// is delivered once.
	prev, cur := map[string]struct{}{}, map[string]struct{}{}
	var delivered int
	var lastTS int64
	for {
		if err := s.wait(ctx); err != nil {
			return err
		}
		out, err := s.client.FilterLogEvents(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			err = classify(err, "FilterLogEvents", group)
			if delivered == 0 {
				return err
			}
			// Some events were read (the SDK's retries are spent): keep them and say what is
			// missing, as a warning on the result.
			st.Problems = append(st.Problems, fmt.Sprintf(
				"partial result: events of log group %s after %s are missing because %v",
				group, time.UnixMilli(lastTS).UTC().Format(time.RFC3339), err))
			return nil
		}
		for _, e := range out.Events {
			if id := aws.ToString(e.EventId); id != "" {
				if _, dup := prev[id]; dup {
					continue
				}
				if _, dup := cur[id]; dup {
					continue
				}
				cur[id] = struct{}{}
			}
			msg := aws.ToString(e.Message)
			if msg == "" {
				continue
			}
			st.LinesRead++
			st.BytesRead += int64(len(msg))
			delivered++
			lastTS = max(lastTS, aws.ToInt64(e.Timestamp))
			var arrived time.Time
			if e.IngestionTime != nil {
				arrived = time.UnixMilli(*e.IngestionTime).UTC()
			}
			if err := fn(aws.ToString(e.LogStreamName), arrived, []byte(msg)); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			return nil
		}
		if len(out.Events) > 0 { // an empty page keeps the previous page's ids
			clear(prev)
			prev, cur = cur, prev
		}
		in.NextToken = aws.String(next)
	}
}

// maxPatternLen is CloudWatch's limit on a filter pattern.
const maxPatternLen = 1024

// FilterPattern returns a CloudWatch JSON filter pattern that keeps every event the filter can
// match, or "" when nothing exact can be pushed down. The fields whose row in
// query.FilterFields allows it (Push.CWPattern) are pushed when they hold only include lists of
// exact values (no globs, no exclusions, no code classes). Without a stages filter, the stages
// of the default stage rule (ResponseComplete, Panic and ResponseStarted, which keeps the lone
// 401 events) are pushed. The engine filters in Go anyway.
func FilterPattern(f query.Filter) string {
	var terms []string
	for _, ff := range query.FilterFields {
		if ff.Push.CWPattern == query.PushNone {
			continue
		}
		values := ff.Values(&f)
		if ff.Key == "stages" && len(values) == 0 {
			values = query.RequestFinal.LineStages()
		}
		lit := strconv.Quote
		if ff.Kind == query.KindCode {
			lit = func(v string) string {
				if n, err := strconv.Atoi(v); err == nil && n > 0 && len(v) == 3 {
					return v
				}
				return ""
			}
		}
		if t := orTerm("$."+ff.Path, values, lit); t != "" {
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		return ""
	}
	p := "{ " + strings.Join(terms, " && ") + " }"
	if len(p) > maxPatternLen {
		return ""
	}
	return p
}

// orTerm is `(path = v1) || (path = v2)`, or "" if any value is not exact (a glob, an
// exclusion, a quote or backslash) or lit rejects it.
func orTerm(path string, values []string, lit func(string) string) string {
	if len(values) == 0 {
		return ""
	}
	var parts []string
	for _, v := range values {
		if v == "" || strings.ContainsAny(v, "*!\"\\") {
			return ""
		}
		l := lit(v)
		if l == "" {
			return ""
		}
		parts = append(parts, fmt.Sprintf("(%s = %s)", path, l))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " || ") + ")"
}
