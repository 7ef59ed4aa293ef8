package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tailRun runs Follow on dir in the background and collects what it delivers.
type tailRun struct {
	t      *testing.T
	mu     sync.Mutex
	ids    []string
	pos    Position
	probs  []string
	idle   chan struct{}
	cancel context.CancelFunc
	done   chan error
}

func startFollow(t *testing.T, dir string, opts FollowOptions) *tailRun {
	t.Helper()
	s, err := New(Config{Paths: []string{dir}}, Options{TimeOf: timeOf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &tailRun{t: t, idle: make(chan struct{}, 1), cancel: cancel, done: make(chan error, 1)}
	opts.Poll = time.Millisecond
	opts.Rediscover = time.Millisecond
	opts.Idle = func() {
		select {
		case r.idle <- struct{}{}:
		default:
		}
	}
	opts.Problem = func(msg string) { r.mu.Lock(); r.probs = append(r.probs, msg); r.mu.Unlock() }
	go func() {
		r.done <- s.Follow(ctx, opts, func(pos Position, line []byte) error {
			r.mu.Lock()
			r.ids = append(r.ids, idOf(line))
			r.pos = pos
			r.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *tailRun) stop() {
	r.cancel()
	<-r.done
	r.done <- nil // stop is idempotent
}

// settle waits until the follower went idle twice (a full round began after every write so
// far) and returns what it delivered.
func (r *tailRun) settle() []string {
	r.t.Helper()
	for range 2 {
		// drain a stale signal, then wait for a fresh one
		select {
		case <-r.idle:
		default:
		}
		select {
		case <-r.idle:
		case <-time.After(30 * time.Second):
			r.t.Fatal("the follower never went idle")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// followed is a directory with an audit.log of n lines, followed from its end.
func followed(t *testing.T, n int) (dir, active string, r *tailRun) {
	t.Helper()
	dir = t.TempDir()
	active = filepath.Join(dir, "audit.log")
	appendLines(t, active, "old", 0, n)
	r = startFollow(t, dir, FollowOptions{})
	r.settle()
	return dir, active, r
}

func appendLines(t *testing.T, path, prefix string, from, n int) []string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	var b strings.Builder
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		ids = append(ids, id)
		b.WriteString(auditLine(t0.Add(time.Duration(i)*time.Millisecond), id))
		b.WriteByte('\n')
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	return ids
}

func assertExactly(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d\nfirst got: %v", len(got), len(want), got[:min(len(got), 5)])
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d is %s, want %s (lost, repeated or out of order)", i, got[i], want[i])
		}
	}
}

func TestFollowStartsAtEndAndSeesAppends(t *testing.T) {
	_, active, r := followed(t, 10)
	want := appendLines(t, active, "new", 0, 100)
	assertExactly(t, r.settle(), want)
}

func TestFollowRenameAndCreate(t *testing.T) {
	dir, active, r := followed(t, 3)
	var want []string
	want = append(want, appendLines(t, active, "a", 0, 50)...)
	// Lines written just before the rotation, not read yet, must come from the renamed file.
	for k := range 5 {
		want = append(want, appendLines(t, active, fmt.Sprintf("r%d", k), 0, 20)...)
		rotated := filepath.Join(dir, fmt.Sprintf("audit-2024-05-01T10-00-0%d.000.log", k))
		if err := os.Rename(active, rotated); err != nil {
			t.Fatal(err)
		}
		want = append(want, appendLines(t, active, fmt.Sprintf("n%d", k), 0, 20)...)
	}
	assertExactly(t, r.settle(), want)
}

func TestFollowCopytruncate(t *testing.T) {
	dir, active, r := followed(t, 3)
	var want []string
	for k := range 4 {
		want = append(want, appendLines(t, active, fmt.Sprintf("c%d", k), 0, 30)...)
		if k%2 == 0 {
			r.settle() // some rotations after everything was read, some with lines unread
		}
		content, err := os.ReadFile(active)
		if err != nil {
			t.Fatal(err)
		}
		for j := k; j >= 1; j-- { // logrotate shifts the older copies: .1 → .2 ...
			if err := os.Rename(filepath.Join(dir, fmt.Sprintf("audit.log.%d", j)), filepath.Join(dir, fmt.Sprintf("audit.log.%d", j+1))); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "audit.log.1"), content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(active, 0); err != nil {
			t.Fatal(err)
		}
		// More lines than before, so the file is longer than what was read: the changed head
		// tells the truncation.
		want = append(want, appendLines(t, active, fmt.Sprintf("t%d", k), 0, 40)...)
		// Two copytruncates within one poll, the first of a file nothing was read from, are
		// indistinguishable from appends: one rotation per poll, as logrotate does.
		r.settle()
	}
	assertExactly(t, r.settle(), want)
	if len(r.probs) != 0 {
		t.Errorf("problems: %v", r.probs)
	}
}

func TestFollowCopytruncateWithoutCopyIsReported(t *testing.T) {
	_, active, r := followed(t, 3)
	if err := os.Truncate(active, 0); err != nil {
		t.Fatal(err)
	}
	want := appendLines(t, active, "t", 0, 5)
	assertExactly(t, r.settle(), want)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.probs) != 1 || !strings.Contains(r.probs[0], "no copy") {
		t.Errorf("problems: %v, want one about the missing copy", r.probs)
	}
}

func TestFollowPartialLineWaitsForItsNewline(t *testing.T) {
	_, active, r := followed(t, 1)
	line := auditLine(t0, "partial")
	f, err := os.OpenFile(active, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(line[:100])
	if got := r.settle(); len(got) != 0 {
		t.Fatalf("a line without its newline was delivered: %v", got)
	}
	f.WriteString(line[100:] + "\n")
	assertExactly(t, r.settle(), []string{"partial"})
}

func TestFollowResumesFromPosition(t *testing.T) {
	dir, active, r := followed(t, 2)
	appendLines(t, active, "a", 0, 10)
	r.settle()
	r.stop()
	pos := r.pos
	want := appendLines(t, active, "b", 0, 10) // written while nobody follows
	r2 := startFollow(t, dir, FollowOptions{From: map[string]Position{pos.Path: pos}})
	want = append(want, appendLines(t, active, "c", 0, 5)...)
	assertExactly(t, r2.settle(), want)

	// A position of another file (rotated since) reads the new file from its start.
	r2.stop()
	pos = r2.pos
	want = appendLines(t, active, "e", 0, 3) // after the position, before the rotation
	if err := os.Rename(active, filepath.Join(dir, "audit-2024-05-01T11-00-00.000.log")); err != nil {
		t.Fatal(err)
	}
	want = append(want, appendLines(t, active, "d", 0, 4)...)
	r3 := startFollow(t, dir, FollowOptions{From: map[string]Position{pos.Path: pos}})
	assertExactly(t, r3.settle(), want)
}
