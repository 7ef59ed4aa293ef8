package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// pipelineHealth: events per origin. Over the segments of files each segment is an origin
// and its partial is cached (pipeline_segments.go); other sources are read by runPipeline,
// which gets each line's origin from the source.
func init() {
	registerType(query.TypePipelineHealth, &typeEngine{
		plan:     aggregate(newPipeline),
		run:      runPipeline,
		runs:     pipelineRaw,
		bucketed: always, // longestGap and the timeseries format read the buckets
	})
}
