package models

import "fmt"

// CloudWatchSettings configures the CloudWatch Logs source (jsonData.cloudwatch).
type CloudWatchSettings struct{}

// CloudWatchSecrets are the CloudWatch source's secure JSON data.
type CloudWatchSecrets struct{}

// loadCloudWatch validates set.CloudWatch and reads its secrets.
func loadCloudWatch(set *Settings, _ map[string]string) error {
	return fmt.Errorf("source %q is not supported by this version of the plugin", set.Source)
}
