package models

import (
	"slices"
	"strings"
	"testing"
)

// TestDetectionProfileAndNetworks: detections.profile takes the shipped profile's name (off
// when empty), detections.clusterNetworks CIDRs or IPs; anything else fails detections with an
// error naming the setting and the fix.
func TestDetectionProfileAndNetworks(t *testing.T) {
	s, err := load(`{"file":{"paths":["/a"]},"detections":{"profile":"knownGood","clusterNetworks":["10.0.0.0/16"," 172.16.0.0/12","192.0.2.7"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Detections.DetectConfig()
	if err != nil || cfg.Profile != "knownGood" || !slices.Equal(cfg.ClusterNetworks, []string{"10.0.0.0/16", " 172.16.0.0/12", "192.0.2.7"}) {
		t.Errorf("config %+v err %v", cfg, err)
	}
	s, _ = load(`{"file":{"paths":["/a"]},"detections":{}}`)
	if cfg, err := s.Detections.DetectConfig(); err != nil || cfg.Profile != "" || cfg.ClusterNetworks != nil {
		t.Errorf("default: profile %q networks %v err %v", cfg.Profile, cfg.ClusterNetworks, err)
	}
	for bad, want := range map[string]string{
		`{"profile":"knowngood"}`:                  `detections.profile: unknown profile "knowngood": use "knownGood"`,
		`{"clusterNetworks":["10.0.0.0/8","vpc"]}`: `detections.clusterNetworks: "vpc" is neither a CIDR nor an IP address`,
	} {
		s, err := load(`{"file":{"paths":["/a"]},"detections":` + bad + `}`)
		if err != nil {
			t.Errorf("%s: load failed (%v): only detections queries should", bad, err)
			continue
		}
		if _, err := s.Detections.DetectConfig(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", bad, err, want)
		}
	}
	if _, err := load(`{"file":{"paths":["/a"]},"detections":{"clusterNetworks":"10.0.0.0/8"}}`); err == nil ||
		!strings.Contains(err.Error(), "detections.clusterNetworks") {
		t.Errorf("a string for the list: %v", err)
	}
}
