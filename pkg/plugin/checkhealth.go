package plugin

import (
	"context"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// CheckHealth does one cheap real check of the source. It always returns a result, never an
// error: an error would hide the message from the user.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	if d.configErr != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: d.configErr.Error()}, nil
	}
	h := d.src.Health(ctx)
	status := backend.HealthStatusOk
	if !h.OK {
		status = backend.HealthStatusError
	}
	msg := h.Message
	if d.detectErr != nil {
		status = backend.HealthStatusError
		msg += "; but the detections settings are invalid, so detections queries fail: " + d.detectErr.Error()
	}
	return &backend.CheckHealthResult{Status: status, Message: msg}, nil
}
