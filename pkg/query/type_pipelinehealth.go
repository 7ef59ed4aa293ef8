package query

// pipelineHealth: events per origin (file, stream): volume, gaps, malformed and truncated lines.
func init() {
	register(&TypeSpec{
		Type:        TypePipelineHealth,
		Label:       "Pipeline health",
		Description: "Events per audit file or stream: volume, gaps, malformed and truncated events.",
		Order:       110,
		Formats:     []string{FormatTable, FormatTimeSeries},
		Limits:      Limits{DefaultLimit: 10, MaxLimit: 500, LimitOf: "origins"},
		// Events, not requests: every stage.
		Defaults: Defaults{Stages: StringList{"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}},
	})
}
