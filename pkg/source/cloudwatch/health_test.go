package cloudwatch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
)

func TestHealth(t *testing.T) {
	fx := loadFixtures(t)
	var newest int64
	for _, f := range fx {
		newest = max(newest, f.ts)
	}
	check := func(t *testing.T, srv *cwtest.Server, edit func(*cloudwatch.Config), ok bool, words ...string) {
		t.Helper()
		h := newSource(t, srv, edit, cloudwatch.Options{}).Health(testCtx(t))
		t.Logf("%v: %s", h.OK, h.Message)
		if h.OK != ok {
			t.Errorf("OK %v, want %v: %s", h.OK, ok, h.Message)
		}
		for _, w := range words {
			if !strings.Contains(h.Message, w) {
				t.Errorf("message %q does not say %q", h.Message, w)
			}
		}
	}
	t.Run("ok", func(t *testing.T) {
		check(t, newServer(t, fx), nil, true, testGroup, "3 audit streams", time.UnixMilli(newest).UTC().Format(time.RFC3339), cwtest.Region)
	})
	t.Run("missing log group", func(t *testing.T) {
		check(t, newServer(t, fx), func(c *cloudwatch.Config) { c.LogGroups = []string{"/aws/eks/nope/cluster"} }, false, "/aws/eks/nope/cluster", "does not exist")
	})
	t.Run("no audit streams", func(t *testing.T) {
		srv := newServer(t, nil)
		srv.Add(testGroup, "kube-scheduler-bb3ea89d63fd2b9735ba06b144377db6", cwtest.Event{Timestamp: 1, Message: "x"})
		check(t, srv, nil, false, "no audit streams", "kube-apiserver-audit-*", "audit")
	})
	t.Run("access denied", func(t *testing.T) {
		srv := newServer(t, fx)
		srv.Deny(testGroup)
		check(t, srv, nil, false, "access denied", "logs:DescribeLogGroups")
	})
	t.Run("bad credentials", func(t *testing.T) {
		check(t, newServer(t, fx), func(c *cloudwatch.Config) { c.AccessKey = "AKIDOTHER" }, false, "credentials")
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := newServer(t, fx)
		srv.Close()
		check(t, srv, nil, false, "cannot reach CloudWatch Logs")
	})
}
