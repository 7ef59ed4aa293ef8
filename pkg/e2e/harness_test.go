package e2e

// The harness: build the plugin binary, lay out an audit log directory from testdata/audit, start
// the binary as Grafana does (hashicorp/go-plugin, protocol version 2, gRPC only, the plugin set
// diagnostics/resource/data/stream) and call it through the SDK's generated pluginv2 clients.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

const (
	pluginID      = "k8saudit-auditlogs-datasource"
	modulePath    = "github.com/k8saudit/grafana-auditlogs-datasource"
	maxLineBytes  = 4 << 20
	rotatedName   = "audit-2020-01-01T00-00-00.000.log.gz"
	activeName    = "audit.log"
	callTimeout   = 30 * time.Second
	grafanaUserAg = "Grafana/12.4.0 (e2e test)"
)

// rotatedBefore: events older than this go to the rotated file (its lumberjack name says it was
// rotated then), the rest to audit.log.
var rotatedBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// malformedLines are appended to audit.log between good lines: each must be skipped and counted.
// A blank line is not damage and is not counted.
var malformedLines = []string{
	`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0b7c8e6e-truncated","stage":"Respon`,
	`2017-09-05T06:08:19.885328047-04:00 AUDIT: id="c939d2a7-1c37-4ef1-b2f7-4ba9b1e43b53" stage="RequestReceived" ip="127.0.0.1" method="list" user="admin"`,
	`[]`,
}

// Set up once, by the first test that needs it (see prepare).
var (
	setupOnce  sync.Once
	tmpDir     string   // removed by TestMain
	binaryPath string   // the built plugin executable
	logDir     string   // audit.log + the rotated .gz + malformed lines
	fixtures   []string // every good fixture line, as written to logDir
	fixtureErr error    // why the log directory could not be laid out
	buildErr   error    // why the plugin could not be built
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// prepare lays out the log directory and builds the plugin, once. It runs inside the tests, not
// in TestMain before m.Run: only there does `go test` record the files the test reads (the
// fixtures, the plugin sources), so that a change to any of them invalidates a cached result.
func prepare(t *testing.T) {
	t.Helper()
	setupOnce.Do(func() {
		var err error
		if tmpDir, err = os.MkdirTemp("", "k8saudit-e2e-"); err != nil {
			fixtureErr, buildErr = err, err
			return
		}
		setup(tmpDir)
	})
	if fixtureErr != nil {
		t.Fatalf("setup: %v", fixtureErr)
	}
}

// setup lays out the log directory and builds the plugin; the tests report what failed.
func setup(tmp string) {
	root, err := moduleRoot()
	if err == nil {
		err = trackSources(root)
	}
	if err != nil {
		fixtureErr, buildErr = err, err
		return
	}
	logDir = filepath.Join(tmp, "logs")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		fixtureErr = err
	} else if fixtures, err = writeLogDir(filepath.Join(root, "testdata", "audit"), logDir); err != nil {
		fixtureErr = fmt.Errorf("lay out the audit log directory: %w", err)
	}
	binaryPath = filepath.Join(tmp, fmt.Sprintf("gpx_k8saudit_%s_%s", runtime.GOOS, runtime.GOARCH))
	buildErr = buildPlugin(root, binaryPath)
}

// moduleRoot is the directory of go.mod, found from this file's location.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("runtime.Caller failed")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("module root not found from %s: %w", file, err)
	}
	if !bytes.Contains(mod, []byte("module "+modulePath)) {
		return "", fmt.Errorf("%s/go.mod is not module %s", root, modulePath)
	}
	return filepath.Abs(root)
}

// trackSources reads every Go source of the plugin (and go.mod/go.sum). The plugin is built by a
// child `go build`, whose reads `go test` does not see; reading them in the test makes `go test`'s
// result cache notice a change to the plugin, so a cached pass never hides a broken plugin.
func trackSources(root string) error {
	for _, f := range []string{"go.mod", "go.sum"} {
		if _, err := os.ReadFile(filepath.Join(root, f)); err != nil {
			return err
		}
	}
	return filepath.WalkDir(filepath.Join(root, "pkg"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		_, err = os.ReadFile(path)
		return err
	})
}

// buildPlugin builds the plugin's main package with the settings `mage build:linux` uses for
// compiling (CGO off, the arrow_json_stdlib tag), so that the two share the build cache.
func buildPlugin(root, out string) error {
	cmd := exec.Command("go", "build", "-tags", "arrow_json_stdlib", "-o", out, modulePath+"/pkg")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s/pkg: %w\n%s", modulePath, err, stderr.String())
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", out, time.Since(start).Round(time.Millisecond))
	return nil
}

// writeLogDir writes the fixture lines of src/*.jsonl into dir as kube-apiserver would have:
// the events before rotatedBefore in a gzip-compressed rotated file, the rest in audit.log, each
// file in time order (lines without a time first), and malformed lines in the middle of
// audit.log. It returns the good lines.
func writeLogDir(src, dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(src, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no fixtures: %s/*.jsonl matches nothing", src)
	}
	sort.Strings(files)
	var old, recent []refEvent
	for _, f := range files {
		lines, err := readLines(f)
		if err != nil {
			return nil, err
		}
		for i, l := range lines {
			e, err := decodeRefEvent(l)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f, i+1, err)
			}
			if !e.time.IsZero() && e.time.Before(rotatedBefore) {
				old = append(old, e)
			} else {
				recent = append(recent, e)
			}
		}
	}
	byTime := func(evs []refEvent) {
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].time.Before(evs[j].time) })
	}
	byTime(old)
	byTime(recent)

	var rotated bytes.Buffer
	zw := gzip.NewWriter(&rotated)
	var good []string
	for _, e := range old {
		fmt.Fprintln(zw, e.line)
		good = append(good, e.line)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, rotatedName), rotated.Bytes(), 0o600); err != nil {
		return nil, err
	}

	var active bytes.Buffer
	for i, e := range recent {
		if i == len(recent)/2 {
			for _, l := range malformedLines {
				fmt.Fprintln(&active, l)
			}
			fmt.Fprintln(&active) // a blank line: not damage
		}
		fmt.Fprintln(&active, e.line)
		good = append(good, e.line)
	}
	if err := os.WriteFile(filepath.Join(dir, activeName), active.Bytes(), 0o600); err != nil {
		return nil, err
	}
	return good, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// loadModel decodes the fixture lines for the reference model.
func loadModel(t *testing.T, from, to time.Time) *model {
	t.Helper()
	prepare(t)
	m := &model{from: from, to: to}
	for _, l := range fixtures {
		e, err := decodeRefEvent(l)
		if err != nil {
			t.Fatalf("decode fixture: %v", err)
		}
		m.events = append(m.events, e)
	}
	return m
}

// --- go-plugin client side ---------------------------------------------------------------

// grpcClientPlugin is the host side of one plugin in the set: it only makes clients.
type grpcClientPlugin[T any] struct {
	plugin.NetRPCUnsupportedPlugin
	newClient func(grpc.ClientConnInterface) T
}

func (p *grpcClientPlugin[T]) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the e2e test is a plugin host, not a plugin")
}

func (p *grpcClientPlugin[T]) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return p.newClient(c), nil
}

var _ plugin.GRPCPlugin = (*grpcClientPlugin[pluginv2.DataClient])(nil)

// pluginSet is what Grafana's backend plugin manager registers for protocol version 2.
func pluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		"diagnostics": &grpcClientPlugin[pluginv2.DiagnosticsClient]{newClient: pluginv2.NewDiagnosticsClient},
		"resource":    &grpcClientPlugin[pluginv2.ResourceClient]{newClient: pluginv2.NewResourceClient},
		"data":        &grpcClientPlugin[pluginv2.DataClient]{newClient: pluginv2.NewDataClient},
		"stream":      &grpcClientPlugin[pluginv2.StreamClient]{newClient: pluginv2.NewStreamClient},
	}
}

// host is a running plugin process and its clients.
type host struct {
	pid         int // the plugin process
	diagnostics pluginv2.DiagnosticsClient
	resource    pluginv2.ResourceClient
	data        pluginv2.DataClient
	stream      pluginv2.StreamClient
}

// pluginCommand runs the built binary with a cache directory of its own (the default home of
// the column index), so that each plugin process starts with no index, as on a new machine.
func pluginCommand(cacheDir string) *exec.Cmd {
	cmd := exec.Command(binaryPath)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cacheDir)
	return cmd
}

// startPlugin starts the built binary with a new cache directory (see startPluginIn).
func startPlugin(t *testing.T) *host {
	t.Helper()
	return startPluginIn(t, t.TempDir())
}

// startPluginIn starts the built binary and dispenses its clients; the process is killed when the
// test ends.
func startPluginIn(t *testing.T, cacheDir string) *host {
	t.Helper()
	prepare(t)
	if buildErr != nil {
		t.Fatalf("setup: %v", buildErr)
	}
	logs := &syncBuffer{}
	t.Cleanup(func() { // runs after client.Kill (cleanups run last-registered first)
		if t.Failed() {
			t.Logf("plugin log:\n%s", logs.String())
		}
	})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   "grafana_plugin_type",
			MagicCookieValue: "datasource",
		},
		VersionedPlugins: map[int]plugin.PluginSet{2: pluginSet()},
		Cmd:              pluginCommand(cacheDir),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// The plugin's log (and go-plugin's) is shown when the test fails.
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "plugin",
			Output: logs,
			Level:  hclog.Info,
		}),
		StartTimeout: 30 * time.Second,
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin %s: %v", binaryPath, err)
	}
	if v := client.NegotiatedVersion(); v != 2 {
		t.Fatalf("negotiated protocol version %d, want 2", v)
	}
	h := &host{}
	if rc := client.ReattachConfig(); rc != nil {
		h.pid = rc.Pid
	}
	dispense(t, rpc, "diagnostics", &h.diagnostics)
	dispense(t, rpc, "resource", &h.resource)
	dispense(t, rpc, "data", &h.data)
	dispense(t, rpc, "stream", &h.stream)
	return h
}

func dispense[T any](t *testing.T, rpc plugin.ClientProtocol, name string, out *T) {
	t.Helper()
	raw, err := rpc.Dispense(name)
	if err != nil {
		t.Fatalf("dispense %q: %v", name, err)
	}
	c, ok := raw.(T)
	if !ok {
		t.Fatalf("dispense %q: got %T", name, raw)
	}
	*out = c
}

// syncBuffer collects the plugin's log; go-plugin writes to it from its own goroutines, which can
// outlive the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// --- datasource settings and calls ---------------------------------------------------------

// datasource is one configured datasource instance.
type datasource struct {
	id       int64
	uid      string
	jsonData map[string]any
}

func fileDatasource(id int64, uid string, paths ...string) datasource {
	return datasource{id: id, uid: uid, jsonData: map[string]any{
		"source": "file",
		"file":   map[string]any{"paths": paths, "maxLineBytes": maxLineBytes},
	}}
}

func (ds datasource) pluginContext(t *testing.T) *pluginv2.PluginContext {
	t.Helper()
	jsonData, err := json.Marshal(ds.jsonData)
	if err != nil {
		t.Fatal(err)
	}
	return &pluginv2.PluginContext{
		OrgId:    1,
		PluginId: pluginID,
		User:     &pluginv2.User{Login: "admin", Name: "admin", Email: "admin@localhost", Role: "Admin"},
		DataSourceInstanceSettings: &pluginv2.DataSourceInstanceSettings{
			Id:                      ds.id,
			Uid:                     ds.uid,
			Name:                    "Kubernetes audit logs " + ds.uid,
			JsonData:                jsonData,
			DecryptedSecureJsonData: map[string]string{},
			LastUpdatedMS:           time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		},
		PluginVersion: "0.1.0",
		UserAgent:     grafanaUserAg,
	}
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// dataQuery is one query of a QueryData request, as Grafana sends it: the whole query model as
// JSON, and its queryType, interval and max data points also in the protocol fields.
type dataQuery struct {
	refID         string
	model         map[string]any // nil with rawJSON
	rawJSON       string         // sent as is when set (to test invalid JSON)
	interval      time.Duration
	maxDataPoints int64
}

func (q dataQuery) proto(t *testing.T, from, to time.Time) *pluginv2.DataQuery {
	t.Helper()
	body := []byte(q.rawJSON)
	queryType := ""
	if q.model != nil {
		m := map[string]any{
			"refId":         q.refID,
			"datasource":    map[string]any{"type": pluginID, "uid": "e2e"},
			"intervalMs":    q.interval.Milliseconds(),
			"maxDataPoints": q.maxDataPoints,
		}
		for k, v := range q.model {
			m[k] = v
		}
		var err error
		if body, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		queryType, _ = q.model["queryType"].(string)
	}
	return &pluginv2.DataQuery{
		RefId:         q.refID,
		QueryType:     queryType,
		MaxDataPoints: q.maxDataPoints,
		IntervalMS:    q.interval.Milliseconds(),
		TimeRange:     &pluginv2.TimeRange{FromEpochMS: from.UnixMilli(), ToEpochMS: to.UnixMilli()},
		Json:          body,
	}
}

// queryData sends the queries in one request and returns the responses by RefID.
func (h *host) queryData(t *testing.T, ds datasource, from, to time.Time, queries ...dataQuery) map[string]*pluginv2.DataResponse {
	t.Helper()
	req := &pluginv2.QueryDataRequest{
		PluginContext: ds.pluginContext(t),
		Headers:       map[string]string{},
	}
	for _, q := range queries {
		req.Queries = append(req.Queries, q.proto(t, from, to))
	}
	resp, err := h.data.QueryData(callCtx(t), req)
	if err != nil {
		t.Fatalf("QueryData: gRPC error %v", err)
	}
	return resp.GetResponses()
}

// frames decodes a response's Arrow frames; it fails the test when the response is an error.
func frames(t *testing.T, r *pluginv2.DataResponse) data.Frames {
	t.Helper()
	if r == nil {
		t.Fatal("no response for this RefID")
	}
	if r.GetError() != "" {
		t.Fatalf("response error (source %q, status %d): %s", r.GetErrorSource(), r.GetStatus(), r.GetError())
	}
	fs, err := data.UnmarshalArrowFrames(r.GetFrames())
	if err != nil {
		t.Fatalf("decode frames: %v", err)
	}
	return fs
}

// callResource does a GET on a resource path and returns status and body.
func (h *host) callResource(t *testing.T, ds datasource, path string, params url.Values) (int, []byte) {
	t.Helper()
	rawURL := "/api/datasources/uid/" + ds.uid + "/resources/" + path
	if len(params) > 0 {
		rawURL += "?" + params.Encode()
	}
	stream, err := h.resource.CallResource(callCtx(t), &pluginv2.CallResourceRequest{
		PluginContext: ds.pluginContext(t),
		Path:          path,
		Method:        "GET",
		Url:           rawURL,
		Headers:       map[string]*pluginv2.StringList{"Accept": {Values: []string{"application/json"}}},
	})
	if err != nil {
		t.Fatalf("CallResource %s: %v", rawURL, err)
	}
	code := 0
	var body []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("CallResource %s: receive: %v", rawURL, err)
		}
		if code == 0 {
			code = int(msg.GetCode())
		}
		body = append(body, msg.GetBody()...)
	}
	return code, body
}
