package models

import (
	"strings"
	"testing"
	"time"
)

func TestCountCacheSettings(t *testing.T) {
	off := false
	for _, tc := range []struct {
		in        CountCache
		bytes     int64
		after     time.Duration
		wantError string
	}{
		{CountCache{}, DefaultCountCacheMB << 20, 5 * time.Minute, ""},
		{CountCache{SizeMB: 8, FinishedAfter: "15m"}, 8 << 20, 15 * time.Minute, ""},
		{CountCache{Enabled: &off}, 0, 5 * time.Minute, ""},
		{CountCache{SizeMB: -1}, 0, 0, "loki.countCacheMB must not be negative"},
		{CountCache{FinishedAfter: "soon"}, 0, 0, `invalid loki.finishedAfter "soon"`},
	} {
		c := tc.in
		err := c.load("loki", 5*time.Minute)
		if tc.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("%+v: error %v, want %q", tc.in, err, tc.wantError)
			}
			continue
		}
		if err != nil || c.CacheBytes != tc.bytes || c.FinishedWithin != tc.after {
			t.Errorf("%+v: %v, %d bytes, after %s", tc.in, err, c.CacheBytes, c.FinishedWithin)
		}
	}
}
