package auditgen

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var testStart = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func testOptions() Options {
	return Options{Seed: 42, Start: testStart, Duration: 2 * time.Hour, Requests: 4000, MalformedEvery: 97, HugeEvery: 1500}
}

func generate(t *testing.T, o Options) ([]byte, Summary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := Write(&buf, o)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), sum
}

// lines splits on \n keeping every line (some are > 1 MiB, beyond bufio.Scanner's default).
func lines(t *testing.T, data []byte) [][]byte {
	t.Helper()
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("output does not end with a newline")
	}
	return bytes.Split(data[:len(data)-1], []byte("\n"))
}

func TestWriteDeterministic(t *testing.T) {
	a, sa := generate(t, testOptions())
	b, sb := generate(t, testOptions())
	if !bytes.Equal(a, b) || sa != sb {
		t.Fatalf("same options gave different output (%d vs %d bytes)", len(a), len(b))
	}
	o := testOptions()
	o.Seed++
	c, _ := generate(t, o)
	if bytes.Equal(a, c) {
		t.Fatalf("different seeds gave the same output")
	}
}

var (
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	microRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
	longRun  = map[string]bool{"exec": true, "attach": true, "portforward": true, "proxy": true, "log": true}
	stageSet = map[string]bool{stageRequestReceived: true, stageResponseStarted: true, stageResponseComplete: true, stagePanic: true}
)

type testEvent struct {
	Kind           string            `json:"kind"`
	APIVersion     string            `json:"apiVersion"`
	Level          string            `json:"level"`
	AuditID        string            `json:"auditID"`
	Stage          string            `json:"stage"`
	RequestURI     string            `json:"requestURI"`
	Verb           string            `json:"verb"`
	User           map[string]any    `json:"user"`
	SourceIPs      []string          `json:"sourceIPs"`
	ObjectRef      map[string]string `json:"objectRef"`
	ResponseStatus *struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	RequestObject  json.RawMessage   `json:"requestObject"`
	ResponseObject json.RawMessage   `json:"responseObject"`
	Received       string            `json:"requestReceivedTimestamp"`
	StageTS        string            `json:"stageTimestamp"`
	Annotations    map[string]string `json:"annotations"`
}

func TestWriteEventsValid(t *testing.T) {
	o := testOptions()
	data, sum := generate(t, o)
	ls := lines(t, data)
	end := o.Start.Add(o.Duration)
	var events, malformed, huge int
	var from, to time.Time
	stages := map[string][]string{}
	received := map[string]string{}
	codes := map[int]int{}
	for n, l := range ls {
		var m map[string]any
		if json.Unmarshal(l, &m) != nil || m["auditID"] == nil || m["stage"] == nil {
			malformed++
			continue
		}
		var e testEvent
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		events++
		if len(l) > 1<<20 {
			huge++
		}
		if e.Kind != "Event" || e.APIVersion != "audit.k8s.io/v1" || !stageSet[e.Stage] || e.Verb == "" || e.RequestURI == "" || len(e.SourceIPs) == 0 {
			t.Fatalf("line %d: bad envelope: %.300s", n+1, l)
		}
		if e.Level != levelMetadata && e.Level != levelRequest && e.Level != levelRequestResponse {
			t.Fatalf("line %d: level %q", n+1, e.Level)
		}
		if !uuidRE.MatchString(e.AuditID) {
			t.Fatalf("line %d: auditID %q", n+1, e.AuditID)
		}
		if !microRE.MatchString(e.Received) || !microRE.MatchString(e.StageTS) {
			t.Fatalf("line %d: timestamps %q %q", n+1, e.Received, e.StageTS)
		}
		rt, _ := time.Parse(MicroTimeLayout, e.Received)
		st, _ := time.Parse(MicroTimeLayout, e.StageTS)
		if st.Before(rt) {
			t.Fatalf("line %d: stageTimestamp before requestReceivedTimestamp", n+1)
		}
		if rt.Before(o.Start) || !st.Before(end) {
			t.Fatalf("line %d: times %s..%s outside [%s, %s)", n+1, rt, st, o.Start, end)
		}
		if from.IsZero() || st.Before(from) {
			from = st
		}
		if st.After(to) {
			to = st
		}
		if prev, ok := received[e.AuditID]; ok && prev != e.Received {
			t.Fatalf("line %d: requestReceivedTimestamp differs between stages of %s", n+1, e.AuditID)
		}
		received[e.AuditID] = e.Received
		stages[e.AuditID] = append(stages[e.AuditID], e.Stage)
		if (e.Stage == stageRequestReceived) != (e.ResponseStatus == nil) {
			t.Fatalf("line %d: responseStatus must be absent exactly on RequestReceived", n+1)
		}
		if e.Stage == stageRequestReceived && (e.Annotations != nil || e.RequestObject != nil || e.ResponseObject != nil) {
			t.Fatalf("line %d: RequestReceived with annotations or objects", n+1)
		}
		if e.Level == levelMetadata && (e.RequestObject != nil || e.ResponseObject != nil) {
			t.Fatalf("line %d: Metadata level with objects", n+1)
		}
		if e.Level == levelRequest && e.ResponseObject != nil {
			t.Fatalf("line %d: Request level with responseObject", n+1)
		}
		if e.ResponseStatus != nil && e.Stage != stageResponseStarted || e.Stage == stageResponseStarted && e.ResponseStatus.Code == 401 {
			codes[e.ResponseStatus.Code]++
		}
		checkAnnotations(t, n+1, &e, rt, st)
	}
	if malformed != sum.Malformed || events != sum.Events || len(ls) != sum.Lines || int64(len(data)) != sum.Bytes || huge != sum.Huge {
		t.Fatalf("summary %+v, counted lines=%d events=%d malformed=%d huge=%d bytes=%d", sum, len(ls), events, malformed, huge, len(data))
	}
	if len(stages) != sum.Requests || sum.Requests != o.Requests {
		t.Fatalf("%d distinct auditIDs, summary says %d requests, asked %d", len(stages), sum.Requests, o.Requests)
	}
	if !from.Equal(sum.From) || !to.Equal(sum.To) {
		t.Fatalf("From/To %s/%s, want %s/%s", sum.From, sum.To, from, to)
	}
	valid := map[string]bool{
		"RequestReceived,ResponseComplete":                 true,
		"RequestReceived,ResponseStarted,ResponseComplete": true,
		"RequestReceived,ResponseStarted":                  true,
		"RequestReceived,Panic":                            true,
		"ResponseStarted":                                  true,
	}
	kinds := map[string]int{}
	for id, ss := range stages {
		k := strings.Join(ss, ",")
		if !valid[k] {
			t.Fatalf("request %s has stages %s (in file order)", id, k)
		}
		kinds[k]++
	}
	for k := range valid {
		if kinds[k] == 0 {
			t.Errorf("no request with stages %s", k)
		}
	}
	for _, c := range []int{200, 201, 101, 401, 403, 404, 409, 429, 500} {
		if codes[c] == 0 {
			t.Errorf("no terminal event with code %d (codes %v)", c, codes)
		}
	}
}

func checkAnnotations(t *testing.T, n int, e *testEvent, rt, st time.Time) {
	t.Helper()
	total, ok := e.Annotations["apiserver.latency.k8s.io/total"]
	for k, v := range e.Annotations {
		if strings.HasPrefix(k, "apiserver.latency.k8s.io/") {
			if _, err := time.ParseDuration(v); err != nil {
				t.Fatalf("line %d: %s=%q: %v", n, k, v, err)
			}
			if !ok {
				t.Fatalf("line %d: latency annotation without total", n)
			}
		}
	}
	if ok {
		d, _ := time.ParseDuration(total)
		if e.Stage != stageResponseComplete || e.Verb == "watch" || longRun[e.ObjectRef["subresource"]] || d <= 500*time.Millisecond {
			t.Fatalf("line %d: latency annotations on %s %s total=%s", n, e.Stage, e.Verb, total)
		}
		if got := st.Sub(rt); got.Truncate(time.Microsecond) != d.Truncate(time.Microsecond) {
			t.Fatalf("line %d: total %s, timestamps say %s", n, d, got)
		}
	}
	if e.ResponseStatus != nil && e.ResponseStatus.Code == 401 {
		if _, has := e.Annotations["authorization.k8s.io/decision"]; has || len(e.User) != 0 {
			t.Fatalf("line %d: 401 with a decision or a user", n)
		}
	}
	if e.ResponseStatus != nil && e.ResponseStatus.Code == 403 {
		if e.Annotations["authorization.k8s.io/decision"] != "forbid" || !strings.Contains(e.ResponseStatus.Message, "forbidden: User ") {
			t.Fatalf("line %d: 403 without forbid decision or message: %v %q", n, e.Annotations, e.ResponseStatus.Message)
		}
	}
}

func TestWriteOrderMostlySorted(t *testing.T) {
	data, _ := generate(t, Options{Seed: 7, Start: testStart, Duration: time.Hour, Requests: 5000})
	var prev time.Time
	inversions, n := 0, 0
	for _, l := range lines(t, data) {
		var e testEvent
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatal(err)
		}
		st, _ := time.Parse(MicroTimeLayout, e.StageTS)
		if st.Before(prev) {
			inversions++
			if prev.Sub(st) > 5*time.Millisecond {
				t.Fatalf("line %d is %s earlier than the line before", n+1, prev.Sub(st))
			}
		}
		prev = st
		n++
	}
	if inversions == 0 || inversions > n/20 {
		t.Fatalf("%d of %d lines out of order; want some, but few", inversions, n)
	}
}

func TestWriteOptionErrors(t *testing.T) {
	for _, o := range []Options{{Requests: -1}, {Duration: -time.Second}, {LevelMix: LevelMix{Metadata: -1}}} {
		if _, err := Write(io.Discard, o); err == nil {
			t.Errorf("Write(%+v) = nil error", o)
		}
	}
	if _, _, err := WriteRotated(t.TempDir(), Options{Requests: 1}, 0, false); err == nil {
		t.Errorf("WriteRotated with per=0: nil error")
	}
}

func TestWriteLevelMix(t *testing.T) {
	data, _ := generate(t, Options{Seed: 3, Start: testStart, Requests: 500, LevelMix: LevelMix{Metadata: 1}})
	if bytes.Contains(data, []byte(`"level":"Request`)) {
		t.Fatalf("LevelMix{Metadata: 1} produced Request/RequestResponse events")
	}
}

func TestWriteRotated(t *testing.T) {
	o := testOptions()
	o.LeavePartialGzip = true
	dir := t.TempDir()
	files, sum, err := WriteRotated(dir, o, 700, true)
	if err != nil {
		t.Fatal(err)
	}
	want, wantSum := generate(t, testOptions())
	if sum != wantSum {
		t.Fatalf("summary %+v, Write gave %+v", sum, wantSum)
	}
	// 4000 requests, 700 per file: 5 rotations + audit.log, the newest rotation also as partial .gz.
	if len(files) != 7 || filepath.Base(files[len(files)-1]) != "audit.log" {
		t.Fatalf("files %v", files)
	}
	var all []byte
	var prev time.Time
	for i, f := range files[:len(files)-1] {
		base := filepath.Base(f)
		stamp := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(base, "audit-"), ".gz"), ".log")
		ts, err := time.Parse(RotatedTimeLayout, stamp)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if ts.Before(prev) {
			t.Fatalf("%s out of order", base)
		}
		prev = ts
		if i == len(files)-2 { // the partial gzip: a reader must see an unexpected EOF
			if _, err := readGzip(f); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s: err %v, want unexpected EOF", base, err)
			}
			continue
		}
		var b []byte
		if strings.HasSuffix(f, ".gz") {
			b, err = readGzip(f)
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		all = append(all, b...)
	}
	cur, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, cur...)
	if !bytes.Equal(all, want) {
		t.Fatalf("rotated files joined (%d bytes) differ from Write output (%d bytes)", len(all), len(want))
	}
}

func readGzip(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func TestRotatedPlain(t *testing.T) {
	files, _, err := WriteRotated(t.TempDir(), Options{Seed: 1, Start: testStart, Requests: 300}, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	if len(names) != 3 || names[2] != "audit.log" || !slices.IsSorted(names[:2]) || !strings.HasSuffix(names[0], ".log") {
		t.Fatalf("files %v", names)
	}
}

// BenchmarkWrite measures generation speed: go test -run '^$' -bench Write ./pkg/auditgen.
func BenchmarkWrite(b *testing.B) {
	var sum Summary
	for b.Loop() {
		var err error
		sum, err = Write(bufio.NewWriter(io.Discard), Options{Seed: 1, Start: testStart, Duration: 6 * time.Hour, Requests: 60000, HugeEvery: 20000})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(sum.Bytes)
}
