package file

import (
	"slices"
	"strings"
	"testing"
)

func TestNewValid(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantPaths []string
		wantMax   int
	}{
		{"directory", Config{Paths: []string{"/var/log/kubernetes/audit"}}, []string{"/var/log/kubernetes/audit"}, DefaultMaxLineBytes},
		{"cleaned and deduplicated", Config{Paths: []string{"/var/log//audit/", "/var/log/audit", "/var/log/./audit"}}, []string{"/var/log/audit"}, DefaultMaxLineBytes},
		{"glob", Config{Paths: []string{"/var/log/*/audit*.log"}, MaxLineBytes: 1 << 20}, []string{"/var/log/*/audit*.log"}, 1 << 20},
		{"dots inside names are fine", Config{Paths: []string{"/var/log/..audit", "/var/log/a..b"}}, []string{"/var/log/..audit", "/var/log/a..b"}, DefaultMaxLineBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, Options{})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if !slices.Equal(s.paths, tt.wantPaths) {
				t.Errorf("paths = %q, want %q", s.paths, tt.wantPaths)
			}
			if s.maxLine != tt.wantMax {
				t.Errorf("maxLine = %d, want %d", s.maxLine, tt.wantMax)
			}
			if s.now == nil {
				t.Error("now not defaulted")
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{"no paths", Config{}, []string{"no audit log path configured"}},
		{"empty path", Config{Paths: []string{" "}}, []string{"path is empty"}},
		{"relative", Config{Paths: []string{"var/log/audit"}}, []string{`"var/log/audit" is not absolute`}},
		{"dot relative", Config{Paths: []string{"./audit"}}, []string{"is not absolute"}},
		{"parent in the middle", Config{Paths: []string{"/var/log/../../etc"}}, []string{`"/var/log/../../etc" contains ".."`}},
		{"parent at the end", Config{Paths: []string{"/var/log/audit/.."}}, []string{`contains ".."`}},
		{"parent in a glob", Config{Paths: []string{"/var/log/*/../*.log"}}, []string{`contains ".."`}},
		{"bad glob", Config{Paths: []string{"/var/log/[audit"}}, []string{"not a valid glob pattern"}},
		{"negative max", Config{Paths: []string{"/x"}, MaxLineBytes: -1}, []string{"max line size -1 is negative"}},
		{"every error is reported", Config{Paths: []string{"rel", "/a/../b"}}, []string{"not absolute", `contains ".."`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, Options{})
			if err == nil {
				t.Fatalf("New succeeded with paths %q", s.paths)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{4 << 20, "4 MiB"}, {64 << 10, "64 KiB"}, {1000, "1000 bytes"}, {(1 << 20) + 1, "1048577 bytes"},
	}
	for _, tt := range tests {
		if got := formatSize(tt.n); got != tt.want {
			t.Errorf("formatSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
