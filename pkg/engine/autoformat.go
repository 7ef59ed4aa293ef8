package engine

import (
	"context"
	"fmt"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// resolveAuto settles the automatic line format (envelope.Auto) for a remote source before the
// source is given the filter as line filters or asked to count. Both are exact only where the
// event's JSON is the line itself: in a docker, Fluent Bit or AKS envelope the event is a JSON
// string, its literals are escaped, and a LogQL `| json` or Logs Insights parses the envelope.
// A source that can count the lines that are not bare (source.BareChecker: Loki, CloudWatch) is
// asked first; the finished hours of that count are cached with the source's other counts.
// When every line of the range is bare the query runs as over bare lines (pushdown, line
// filters); otherwise the engine unwraps and filters every line itself, and a notice says why.
// Files need no check: the engine reads every line of them and filters after unwrapping.
func resolveAuto(ctx context.Context, src source.Source, req Request) (Request, []Notice, error) {
	bc, ok := src.(source.BareChecker)
	if req.Envelope != envelope.Auto || !ok {
		return req, nil, nil
	}
	cr, err := bc.NotBareLines(ctx, req.From, req.To)
	if err != nil {
		return req, nil, fmt.Errorf("checking the line format (auto): %w", err)
	}
	var n float64
	for _, s := range cr.Series {
		for _, c := range s.Counts {
			n += c
		}
	}
	if n == 0 && len(cr.Problems) == 0 {
		req.Envelope = envelope.Bare
		return req, nil, nil
	}
	req.notBare = true
	text := fmt.Sprintf("%s of this range %s not bare audit JSON (line format auto): the plugin unwraps and filters every line itself, and the source neither filters nor counts them", countLines(n), plural(int(n), "is", "are"))
	notices := []Notice{{Info, text}}
	for _, pr := range cr.Problems {
		notices = append(notices, Notice{Warning, pr})
	}
	return req, notices, nil
}

func countLines(n float64) string {
	if n == 1 {
		return "1 line"
	}
	return fmt.Sprintf("%.0f lines", n)
}
