package audit

import (
	"bytes"
	"time"
)

// LatencyComponents are the apiserver.latency.k8s.io/* trackers kube-apiserver writes on requests
// slower than 500 ms (never on watch), in the order a request meets them. "total" is the whole
// request; components that a cluster version does not write are simply absent
// (decode-response-object since 1.30, apf-queue-wait 1.31, authentication/authorization 1.33).
var LatencyComponents = []string{
	"authentication", "authorization", "apf-queue-wait", "decode-response-object",
	"mutating-webhook", "validating-webhook", "etcd", "transform-response-object",
	"serialize-response-object", "response-write",
}

// LatencyTotal is the tracker of the whole request.
const LatencyTotal = "total"

var latencyPrefix = []byte(LatencyAnnotationPrefix)

// EachLatency calls fn with each apiserver.latency.k8s.io/* tracker of the record (name without
// the prefix) and its duration (needs FieldAnnotations). Values that do not parse as Go
// durations are skipped.
func (r *Record) EachLatency(fn func(name []byte, d time.Duration)) {
	r.EachAnnotation(func(k, v []byte) {
		name, ok := bytes.CutPrefix(k, latencyPrefix)
		if !ok {
			return
		}
		if d, err := time.ParseDuration(string(v)); err == nil {
			fn(name, d)
		}
	})
}
