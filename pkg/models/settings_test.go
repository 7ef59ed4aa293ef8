package models

import (
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

func load(jsonData string) (*Settings, error) {
	return Load(backend.DataSourceInstanceSettings{JSONData: []byte(jsonData)})
}

func TestLoadDefaults(t *testing.T) {
	s, err := load(`{"file":{"paths":[" /var/log/kubernetes/audit ",""]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourceFile || len(s.File.Paths) != 1 || s.File.Paths[0] != "/var/log/kubernetes/audit" || s.File.MaxLineBytes != DefaultMaxLineBytes {
		t.Errorf("settings %+v file %+v", s, s.File)
	}
	s, err = load(`{"source":"file","file":{"paths":["/a"],"maxLineBytes":1024}}`)
	if err != nil || s.File.MaxLineBytes != 1024 {
		t.Errorf("maxLineBytes: %+v %v", s, err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{}`, "no audit log paths configured"},
		{`{"source":"file","file":{"paths":["  "]}}`, "no audit log paths configured"},
		{`{"source":"loki"}`, "no Loki URL configured"},
		{`{"source":"s3"}`, `unknown source "s3"`},
		{`{"source":`, "invalid datasource settings"},
	} {
		_, err := load(tc.json)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.json, err, tc.want)
		}
	}
}

func TestDetectionSettings(t *testing.T) {
	s, err := load(`{"file":{"paths":["/a"]},"detections":{"allow":{"users":["ci-*"],"sourceNetworks":["10.0.0.0/8"]},
		"rules":{"exec-into-pod":{"allow":{"namespaces":["debug"]}}},"burstThreshold":20,"burstWindow":"2m"}}`)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Detections.DetectConfig()
	if err != nil || cfg.BurstThreshold != 20 || cfg.BurstWindow.String() != "2m0s" || cfg.AllowUsers[0] != "ci-*" ||
		cfg.RuleAllow["exec-into-pod"].Namespaces[0] != "debug" {
		t.Errorf("config %+v err %v", cfg, err)
	}
	if cfg.RoleLookback != 24*time.Hour {
		t.Errorf("default RBAC look-back %s", cfg.RoleLookback)
	}
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "90m": 90 * time.Minute, "0": 0} {
		s, err := load(`{"file":{"paths":["/a"]},"detections":{"rbacLookback":"` + in + `"}}`)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := s.Detections.DetectConfig(); err != nil || cfg.RoleLookback != want {
			t.Errorf("rbacLookback %s: %s, %v", in, cfg.RoleLookback, err)
		}
	}
	for _, bad := range []string{
		`{"file":{"paths":["/a"]},"detections":{"rules":{"no-such-rule":{}}}}`,
		`{"file":{"paths":["/a"]},"detections":{"allow":{"sourceNetworks":["10.0.0.0/33"]}}}`,
		`{"file":{"paths":["/a"]},"detections":{"burstWindow":"soon"}}`,
		`{"file":{"paths":["/a"]},"detections":{"rbacLookback":"a week"}}`,
		`{"file":{"paths":["/a"]},"detections":{"rbacLookback":"-1h"}}`,
	} {
		s, err := load(bad)
		if err != nil {
			t.Errorf("%s: load failed (%v): only detections queries should", bad, err)
			continue
		}
		if _, err := s.Detections.DetectConfig(); err == nil || !strings.Contains(err.Error(), "detections") {
			t.Errorf("%s: err %v", bad, err)
		}
	}
}

func TestQueryTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{"": DefaultQueryTimeout, "90s": 90 * time.Second, " 5m ": 5 * time.Minute} {
		s, err := load(`{"file":{"paths":["/a"]},"queryTimeout":"` + in + `"}`)
		if err != nil || s.Timeout != want {
			t.Errorf("queryTimeout %q: %v, %v; want %s", in, s, err, want)
		}
	}
	s, err := load(`{"source":"loki","loki":{"url":"http://loki:3100"},"queryTimeout":"2m"}`)
	if err != nil || s.Timeout != 2*time.Minute {
		t.Errorf("loki queryTimeout: %v %v", s, err)
	}
	for _, in := range []string{"60", "-1s", "0s", "25h", "soon"} {
		_, err := load(`{"file":{"paths":["/a"]},"queryTimeout":"` + in + `"}`)
		if err == nil || !strings.Contains(err.Error(), "queryTimeout") {
			t.Errorf("queryTimeout %q: err %v, want one naming queryTimeout", in, err)
		}
	}
}
