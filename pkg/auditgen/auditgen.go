// Package auditgen generates large, realistic, deterministic kube-apiserver audit logs
// (audit.k8s.io/v1 Event JSON lines) for benchmarks, scale tests and demo data.
//
// The output imitates a busy cluster: kubelets renewing leases and patching status, controllers
// and operators listing, watching and updating, humans running kubectl (get, apply, logs -f,
// exec, port-forward), denied requests, failed authentication, anonymous scanners, slow requests
// with apiserver.latency.k8s.io annotations, deprecated API use, Pod Security annotations,
// panics and 5xx. The same Options always give the same bytes.
//
// Stages follow kube-apiserver: a request normally gives RequestReceived then ResponseComplete;
// long-running requests (watch, exec, attach, portforward, log?follow, proxy) also give
// ResponseStarted, and some exec/attach/portforward sessions are still open at the end (no
// ResponseComplete); a panicking request gives RequestReceived then Panic; a request whose
// authentication failed gives a single ResponseStarted event with code 401, an empty user and no
// authorization annotations (WithFailedAuthenticationAudit). Lines are written in stageTimestamp
// order with up to a few milliseconds of jitter, so they are mostly, not strictly, ordered.
package auditgen

import (
	"bufio"
	"container/heap"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// LevelMix gives the relative weights of the audit levels assigned to requests. The zero value
// means the default mix (Metadata 0.65, Request 0.20, RequestResponse 0.15).
type LevelMix struct {
	Metadata, Request, RequestResponse float64
}

// Options configures a generated log.
type Options struct {
	// Seed selects the PCG stream; the same Options give the same output.
	Seed uint64
	// Start is the first possible requestReceivedTimestamp.
	Start time.Time
	// Duration: requests are received over [Start, Start+Duration). Requests still running at
	// the end are cut so that every stageTimestamp also falls in the range. Default 1h.
	Duration time.Duration
	// Requests is the number of API requests; each gives 1 to 3 events.
	Requests int
	// MalformedEvery: if > 0, every Nth line is a malformed line (truncated event, legacy-format
	// text, NUL bytes, or JSON that is not an event) inserted between events.
	MalformedEvery int
	// HugeEvery: if > 0, every Nth request carries a requestObject and/or responseObject larger
	// than 1 MiB (a cluster-wide pod list, or a CustomResourceDefinition apply).
	HugeEvery int
	// LevelMix weighs the audit levels; zero value = default mix.
	LevelMix LevelMix
	// KubeMinor is the emulated kube-apiserver minor version 1.KubeMinor (default 31). It decides
	// which apiserver.latency.k8s.io annotations exist (decode-response-object >= 30,
	// apf-queue-wait >= 31, authentication/authorization >= 33) and which deprecated API clients
	// hit (flowcontrol.apiserver.k8s.io/v1beta3, removed in 1.32, before 1.32; core/v1 Endpoints,
	// deprecated without a removal release, from 1.33).
	KubeMinor int
	// Incident adds a scripted intrusion at 40 % of the range (see incident.go): a stolen
	// service-account token enumerating permissions, an exec that reads a token, a ClusterRole
	// with wildcards bound to the attacker and a privileged DaemonSet, so that the detections
	// have something to find in sample data. Its requests come on top of Requests.
	Incident bool
	// LeavePartialGzip (WriteRotated with gz only): the newest rotated file is left both as .log
	// and as a partly written .log.gz, as seen for a moment while lumberjack compresses it.
	LeavePartialGzip bool
}

// Summary describes what was written.
type Summary struct {
	Lines     int   // lines written, events plus malformed lines
	Events    int   // audit events written
	Requests  int   // API requests (each gives 1-3 events)
	Malformed int   // malformed lines
	Huge      int   // requests with an object > 1 MiB
	Bytes     int64 // bytes written (uncompressed)
	// From and To are the earliest and latest stageTimestamp written.
	From, To time.Time
}

// Write writes a generated audit log to w.
func Write(w io.Writer, o Options) (Summary, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	g, err := newGen(o, &plainSink{w: bw})
	if err != nil {
		return Summary{}, err
	}
	if err := g.run(); err != nil {
		return g.sum, err
	}
	return g.sum, bw.Flush()
}

func (o *Options) normalize() error {
	if o.Requests < 0 {
		return errors.New("auditgen: Requests must be >= 0")
	}
	if o.Duration < 0 {
		return errors.New("auditgen: Duration must be >= 0")
	}
	if o.Duration == 0 {
		o.Duration = time.Hour
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.KubeMinor == 0 {
		o.KubeMinor = 31
	}
	m := o.LevelMix
	if m.Metadata < 0 || m.Request < 0 || m.RequestResponse < 0 {
		return errors.New("auditgen: LevelMix weights must be >= 0")
	}
	if m.Metadata+m.Request+m.RequestResponse == 0 {
		o.LevelMix = LevelMix{Metadata: 0.65, Request: 0.20, RequestResponse: 0.15}
	}
	return nil
}

// sink receives finished lines; rotation hooks in through beforeRequest.
type sink interface {
	line(b []byte) error
	beforeRequest(i int, t time.Time) error
}

type plainSink struct{ w *bufio.Writer }

func (s *plainSink) line(b []byte) error                { _, err := s.w.Write(b); return err }
func (s *plainSink) beforeRequest(int, time.Time) error { return nil }

// pending is one rendered event waiting for its turn in the output.
type pending struct {
	key   int64 // unix nanos: stageTimestamp + write jitter
	seq   uint64
	stage time.Time
	line  []byte
}

type pq []*pending

func (q pq) Len() int { return len(q) }
func (q pq) Less(i, j int) bool {
	if q[i].key != q[j].key {
		return q[i].key < q[j].key
	}
	return q[i].seq < q[j].seq
}
func (q pq) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pq) Push(x any)   { *q = append(*q, x.(*pending)) }
func (q *pq) Pop() any {
	old := *q
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return x
}

type gen struct {
	o    Options
	rng  *rand.Rand
	out  sink
	sum  Summary
	q    pq
	seq  uint64
	end  time.Time
	rv   int64 // etcd revision, grows with time
	c    *cluster
	tmpl []template
	wsum int
	buf  []byte // scratch for rendering
	lvl  [3]float64
}

func newGen(o Options, s sink) (*gen, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	g := &gen{
		o:   o,
		rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		out: s,
		end: o.Start.Add(o.Duration),
		rv:  180000000 + int64(o.Seed%1000000),
	}
	tot := o.LevelMix.Metadata + o.LevelMix.Request + o.LevelMix.RequestResponse
	g.lvl = [3]float64{o.LevelMix.Metadata / tot, (o.LevelMix.Metadata + o.LevelMix.Request) / tot, 1}
	g.c = newCluster(rand.New(rand.NewPCG(o.Seed^0x5bd1e995, 0xc2b2ae35)))
	g.tmpl = g.templates()
	for _, t := range g.tmpl {
		g.wsum += t.weight
	}
	return g, nil
}

func (g *gen) run() error {
	n := g.o.Requests
	slot := float64(g.o.Duration) / float64(max(n, 1))
	r := &request{}
	incident := g.o.Incident
	incidentStart := g.o.Start.Add(time.Duration(float64(g.o.Duration) * incidentAt))
	for i := 0; i < n; i++ {
		t := g.o.Start.Add(time.Duration((float64(i) + g.rng.Float64()*0.999) * slot))
		if incident && !t.Before(incidentStart) {
			incident = false
			g.incident(incidentStart)
		}
		if err := g.flush(t.UnixNano()); err != nil {
			return err
		}
		if err := g.out.beforeRequest(i, t); err != nil {
			return err
		}
		r.reset()
		r.received = t
		g.rv += 1 + int64(g.rng.IntN(6))
		huge := g.o.HugeEvery > 0 && (i+1)%g.o.HugeEvery == 0
		if huge {
			g.hugeRequest(r)
			g.sum.Huge++
		} else {
			g.pickTemplate().fn(g, r)
		}
		g.finish(r)
		g.emit(r)
		g.sum.Requests++
	}
	return g.flush(math.MaxInt64)
}

func (g *gen) pickTemplate() *template {
	x := g.rng.IntN(g.wsum)
	for i := range g.tmpl {
		x -= g.tmpl[i].weight
		if x < 0 {
			return &g.tmpl[i]
		}
	}
	return &g.tmpl[len(g.tmpl)-1]
}

// flush writes every pending event whose key is before limit.
func (g *gen) flush(limit int64) error {
	for len(g.q) > 0 && g.q[0].key < limit {
		p := heap.Pop(&g.q).(*pending)
		if err := g.writeEvent(p); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) writeEvent(p *pending) error {
	if g.o.MalformedEvery > 0 && (g.sum.Lines+1)%g.o.MalformedEvery == 0 {
		bad := g.malformed(p.line)
		if err := g.out.line(bad); err != nil {
			return err
		}
		g.sum.Lines++
		g.sum.Malformed++
		g.sum.Bytes += int64(len(bad))
	}
	if err := g.out.line(p.line); err != nil {
		return err
	}
	g.sum.Lines++
	g.sum.Events++
	g.sum.Bytes += int64(len(p.line))
	if g.sum.From.IsZero() || p.stage.Before(g.sum.From) {
		g.sum.From = p.stage
	}
	if p.stage.After(g.sum.To) {
		g.sum.To = p.stage
	}
	return nil
}

var legacyLines = []string{
	`2017-09-05T06:08:19.885328047-04:00 AUDIT: id="c28a95ad-f9dd-47e1-a617-b6dc152db95f" stage="RequestReceived" ip="172.16.116.128" method="list" user="kubecfg" groups="\"system:masters\",\"system:authenticated\"" as="<self>" asgroups="<lookup>" namespace="default" uri="/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles" response="<deferred>"`,
	`2017-06-15T21:50:50.259470834Z AUDIT: id="591e9fde-6a98-46f6-b7bc-ec8ef575696d" stage="ResponseComplete" ip="10.2.1.3" method="update" user="system:serviceaccount:kube-system:default" groups="\"system:serviceaccounts\",\"system:serviceaccounts:kube-system\",\"system:authenticated\"" as="<self>" asgroups="<lookup>" namespace="kube-system" uri="/api/v1/namespaces/kube-system/endpoints/kube-controller-manager" response="200"`,
}

var notEvents = []string{`{}`, `[]`, `"x"`, `null`, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server has received too many requests","code":429}`}

// malformed returns one bad line (newline-terminated) modelled on real damage.
func (g *gen) malformed(next []byte) []byte {
	var b []byte
	switch g.rng.IntN(4) {
	case 0: // truncated event: writer killed mid-line, restarted
		n := 1 + g.rng.IntN(len(next)-2)
		b = append(b, next[:n]...)
	case 1:
		b = append(b, legacyLines[g.rng.IntN(len(legacyLines))]...)
	case 2: // NUL run: preallocated blocks after a crash
		b = make([]byte, 16+g.rng.IntN(200))
	default:
		b = append(b, notEvents[g.rng.IntN(len(notEvents))]...)
	}
	return append(b, '\n')
}

// emit renders the events of r and queues them.
func (g *gen) emit(r *request) {
	var last int64
	push := func(stage string, ts time.Time) {
		key := ts.UnixNano() + int64(g.rng.IntN(3000000)) // up to 3 ms write jitter
		if key <= last {
			key = last + 1
		}
		last = key
		g.buf = r.render(g.buf[:0], stage, ts)
		line := make([]byte, len(g.buf))
		copy(line, g.buf)
		g.seq++
		heap.Push(&g.q, &pending{key: key, seq: g.seq, stage: ts, line: line})
	}
	switch r.kind {
	case kindAuthFailed:
		push(stageResponseStarted, r.complete)
	case kindPanic:
		push(stageRequestReceived, r.received)
		push(stagePanic, r.complete)
	case kindLong:
		push(stageRequestReceived, r.received)
		push(stageResponseStarted, r.started)
		push(stageResponseComplete, r.complete)
	case kindOpen:
		push(stageRequestReceived, r.received)
		push(stageResponseStarted, r.started)
	default:
		push(stageRequestReceived, r.received)
		push(stageResponseComplete, r.complete)
	}
}

// lognormal returns a duration with the given median and log-space sigma.
func (g *gen) lognormal(median time.Duration, sigma float64) time.Duration {
	return time.Duration(float64(median) * math.Exp(g.rng.NormFloat64()*sigma))
}

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

func (g *gen) level() string {
	x := g.rng.Float64()
	switch {
	case x < g.lvl[0]:
		return levelMetadata
	case x < g.lvl[1]:
		return levelRequest
	default:
		return levelRequestResponse
	}
}
