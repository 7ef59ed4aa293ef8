package plugin

import (
	"fmt"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/models"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

func newCloudWatchSource(s *models.Settings) (source.Source, error) {
	return nil, fmt.Errorf("source %q is not supported by this version of the plugin", s.Source)
}
