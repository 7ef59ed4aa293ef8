package envelope

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRemoteCheckRegexps: BareStartRE matches exactly the lines Auto reads as bare, and every
// line of every envelope sample that Auto unwraps into an event either starts bare or matches
// EventHintRE, so a source counting the lines that match neither misses no event in an
// envelope (source.BareChecker).
func TestRemoteCheckRegexps(t *testing.T) {
	bareRE, hintRE := regexp.MustCompile(BareStartRE), regexp.MustCompile(EventHintRE)
	files, err := filepath.Glob(filepath.Join("testdata", "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	lines := []string{`{}`, `{"kind"`, `{"kind":"Status"}`, ` {"kind":"Event"}`, "\x00\x00\x00\x00\x00\x00\x00\x00", `{"user":{"username":"u"}}`}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		fh.Close()
	}
	u := New(Auto)
	var enveloped int
	for _, l := range lines {
		if got, want := bareRE.MatchString(l), bareStart([]byte(l)); got != want && len(l) >= 8 {
			t.Errorf("BareStartRE %v, bareStart %v: %.80s", got, want, l)
		}
		ev, ok := u.Unwrap([]byte(l))
		if !ok || u.Meta.Format == Bare || u.Meta.Format == Auto || !strings.Contains(string(ev), `"kind"`) {
			continue
		}
		enveloped++
		if !hintRE.MatchString(l) {
			t.Errorf("an event in the %s envelope does not match EventHintRE: %.80s", u.Meta.Format, l)
		}
	}
	if enveloped < 20 {
		t.Errorf("only %d enveloped events in the samples", enveloped)
	}
}
