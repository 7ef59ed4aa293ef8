// Command recordaudit records real Kubernetes audit events for the detection tests: for each
// scenario it starts kube-apiserver in this process (k8s.io/kubernetes, embedded etcd, a fake
// kubelet), lets people and programs act on it with the real kubectl and client-go, and
// writes the audit log lines the apiserver wrote while they acted.
//
//	cd tools/recordaudit && go run . -out ../../testdata/audit
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

var (
	outDir     = flag.String("out", "", "directory the fixtures are written to (testdata/audit)")
	only       = flag.String("only", "", "comma-separated scenario names (default: all)")
	keep       = flag.Bool("keep", false, "keep the work directory (etcd data, apiserver certificates, logs)")
	list       = flag.Bool("list", false, "list the scenarios and exit")
	childName  = flag.String("child", "", "internal: record this one scenario")
	workDir    = flag.String("work", "", "internal: the scenario's work directory")
	editRecipe = flag.String("edit-recipe", "", "internal: act as the editor of `kubectl edit`")
)

const filePrefix = "kubernetes__kubernetes__kube-apiserver-" + k8sVersion + "__"

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-kubectl" {
		runKubectl(os.Args[2], os.Args[3:])
	}
	flag.Parse()
	switch {
	case *editRecipe != "":
		if err := runEditor(*editRecipe, flag.Arg(0)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case *list:
		for _, s := range scenarios {
			fmt.Printf("%-36s %s\n", s.name, s.what)
			for i, p := range s.parts {
				fmt.Printf("%-36s %s\n", p, s.partsWhat[i])
			}
		}
	case *childName != "":
		if err := child(*childName); err != nil {
			fmt.Fprintf(os.Stderr, "recordaudit: %s: %v\n", *childName, err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		if *outDir == "" {
			fmt.Fprintln(os.Stderr, "usage: recordaudit -out DIR [-only a,b] [-keep]")
			os.Exit(2)
		}
		if err := parent(); err != nil {
			fmt.Fprintln(os.Stderr, "recordaudit:", err)
			os.Exit(1)
		}
	}
}

func runEditor(recipe, path string) error {
	f, ok := editRecipes[recipe]
	if !ok {
		return fmt.Errorf("no edit recipe %q", recipe)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	after := f(string(b))
	if after == string(b) {
		return fmt.Errorf("edit recipe %s changed nothing", recipe)
	}
	return os.WriteFile(path, []byte(after), 0o600)
}

// parent runs every scenario in a child process of its own: a fresh etcd and apiserver each,
// so no scenario sees another's objects, webhooks or RBAC.
func parent() error {
	out, err := filepath.Abs(*outDir)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "recordaudit-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	for _, s := range scenarios {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		dir := filepath.Join(work, s.name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		logPath := filepath.Join(dir, "recorder.log")
		logf, err := os.Create(logPath)
		if err != nil {
			return err
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, self, "-child", s.name, "-work", dir, "-out", out)
		cmd.Args[0] = "kube-apiserver" // the loopback client's user agent is named after argv[0]
		cmd.Stdout, cmd.Stderr = logf, logf
		err = cmd.Run()
		cancel()
		logf.Close()
		if err != nil {
			var tail []byte
			b, _ := os.ReadFile(logPath)
			for _, l := range bytes.SplitAfter(b, []byte("\n")) {
				if !bytes.Contains(l, []byte("grpc")) && !bytes.Contains(l, []byte(`"caller":"embed/`)) {
					tail = append(tail, l...)
				}
			}
			if len(tail) > 6000 {
				tail = tail[len(tail)-6000:]
			}
			return fmt.Errorf("scenario %s: %v (log %s)\n%s", s.name, err, logPath, tail)
		}
		for _, f := range append([]string{s.name}, s.parts...) {
			fmt.Printf("%-40s %s (%s)\n", f, summary(filepath.Join(out, filePrefix+f+".jsonl")), time.Since(start).Round(time.Second))
		}
	}
	if *keep {
		fmt.Println("work directory:", work)
	}
	return nil
}

// child records one scenario.
func child(name string) error {
	var sc *scenario
	for i := range scenarios {
		if scenarios[i].name == name {
			sc = &scenarios[i]
		}
	}
	if sc == nil {
		return fmt.Errorf("no scenario %q", name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
	}
	c := &cluster{dir: *workDir}
	if err := c.writeFiles(); err != nil {
		return err
	}
	var err error
	if c.etcd, c.etcdURL, err = startEtcd(c.dir); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer c.etcd.Close()
	if c.kubelet, err = startKubelet(logf); err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	if err := c.startAPIServer(ctx); err != nil {
		return fmt.Errorf("apiserver: %w", err)
	}
	e := &env{cluster: c, ctx: ctx, logf: logf}
	toks, err := e.baseSetup()
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	// Everyone who uses kubectl has used it before: discovery is cached.
	for _, p := range []principal{opsAdmin, alice, mallory, node1} {
		if _, err := e.kubectl(p, "", "api-resources", "-o", "name"); err != nil {
			return fmt.Errorf("warming %s's discovery cache: %w", p.name, err)
		}
	}
	s := &session{env: e, tok: toks}
	if sc.setup != nil {
		if err := sc.setup(s); err != nil {
			return fmt.Errorf("scenario setup: %w", err)
		}
	}

	// The recorded window: from a quiet moment after the setup to a moment after the last
	// request's final event was written.
	type segment struct {
		name       string
		start, end int64
	}
	var segs []segment
	begin := func(name string) error {
		time.Sleep(1500 * time.Millisecond)
		off, err := c.auditSize()
		if err != nil {
			return err
		}
		segs = append(segs, segment{name: name, start: off})
		logf("=== recording %s from offset %d", name, off)
		return nil
	}
	end := func() error {
		time.Sleep(1500 * time.Millisecond)
		off, err := c.auditSize()
		segs[len(segs)-1].end = off
		return err
	}
	s.mark = func(name string) error {
		if err := end(); err != nil {
			return err
		}
		return begin(name)
	}
	if err := begin(sc.name); err != nil {
		return err
	}
	if err := sc.run(s); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	if err := end(); err != nil {
		return err
	}
	log, err := os.ReadFile(c.auditPath)
	if err != nil {
		return err
	}
	for _, g := range segs {
		b := lines(log, g.start, g.end)
		if len(b) == 0 {
			return fmt.Errorf("%s: no audit events recorded", g.name)
		}
		path := filepath.Join(*outDir, filePrefix+g.name+".jsonl")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		logf("wrote %s: %s", path, summary(path))
	}
	return nil
}

// lines returns the whole lines of log between the offsets.
func lines(log []byte, start, end int64) []byte {
	if start > 0 && log[start-1] != '\n' {
		i := bytes.IndexByte(log[start:], '\n')
		if i < 0 {
			return nil
		}
		start += int64(i) + 1
	}
	if end > int64(len(log)) {
		end = int64(len(log))
	}
	b := log[start:end]
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	return b
}

// summary describes a fixture: events, and requests per user, verb and code.
func summary(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	n := 0
	count := map[string]int{}
	for sc.Scan() {
		var ev struct {
			Stage string
			Verb  string
			User  struct{ Username string }
			Resp  struct{ Code int }                     `json:"responseStatus"`
			Obj   struct{ Resource, Subresource string } `json:"objectRef"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return "bad line: " + err.Error()
		}
		n++
		if ev.Stage != "ResponseComplete" {
			continue
		}
		r := ev.Obj.Resource
		if ev.Obj.Subresource != "" {
			r += "/" + ev.Obj.Subresource
		}
		count[fmt.Sprintf("%s %s %s %d", ev.User.Username, ev.Verb, r, ev.Resp.Code)]++
	}
	var keys []string
	for k, v := range count {
		keys = append(keys, fmt.Sprintf("%s x%d", k, v))
	}
	sort.Strings(keys)
	return fmt.Sprintf("%d events; %s", n, strings.Join(keys, "; "))
}
