package detect

import (
	"testing"
	"time"
)

func TestSecretReadByDefaultServiceAccount(t *testing.T) {
	fs, _ := observe(t, Config{},
		ev(0, "ResponseComplete", "get", "system:serviceaccount:frontend:default", "secrets", "", "frontend", "db", 200, map[string]any{"userAgent": "payments-api/1.4.2 (linux/amd64)"}),
		ev(time.Second, "ResponseComplete", "get", "system:serviceaccount:cert-manager:cert-manager", "secrets", "", "frontend", "tls", 200, map[string]any{"userAgent": "cert-manager/v1.16.1"}),
		ev(2*time.Second, "ResponseComplete", "get", "system:serviceaccount:frontend:default", "secrets", "", "frontend", "db", 403, map[string]any{"userAgent": "payments-api/1.4.2 (linux/amd64)"}),
	)
	var got []string
	for _, f := range fs {
		if f.RuleID == "secret-read-unexpected" {
			got = append(got, f.User+": "+f.Detail)
		}
	}
	if len(got) != 1 || got[0] != "system:serviceaccount:frontend:default: read by the default service account of frontend" {
		t.Errorf("findings %q", got)
	}
}
