package models

import "fmt"

// LokiSettings configures the Loki source (jsonData.loki).
type LokiSettings struct{}

// LokiSecrets are the Loki source's secure JSON data.
type LokiSecrets struct{}

// loadLoki validates set.Loki and reads its secrets.
func loadLoki(set *Settings, _ map[string]string) error {
	return fmt.Errorf("source %q is not supported by this version of the plugin", set.Source)
}
