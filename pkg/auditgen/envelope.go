package auditgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Envelope formats: how a generated log looks once shipped. EnvelopeWriter wraps each line
// written to it the way that format's writer does, so that the plugin's unwrapping can be
// tested on the same events in every format.
const (
	EnvelopeBare      = "bare"      // the line as kube-apiserver writes it
	EnvelopeCRI       = "cri"       // containerd/CRI-O: `<time> stdout F <line>`, split into P lines over 16 KiB
	EnvelopeDocker    = "docker"    // docker json-file: {"log":"<line>\n","stream":"stdout","time":...}
	EnvelopeFluentBit = "fluentbit" // Fluent Bit (tail + kubernetes filter): log as a string, or as an object every other event
	EnvelopeGKE       = "gke"       // Cloud Logging LogEntry with an AuditLog protoPayload (final stages only; lossy)
	EnvelopeAKS       = "aks"       // Azure diagnostic record, category kube-audit, event under properties.log
)

// EnvelopeFormats lists the formats EnvelopeWriter writes.
var EnvelopeFormats = []string{EnvelopeBare, EnvelopeCRI, EnvelopeDocker, EnvelopeFluentBit, EnvelopeGKE, EnvelopeAKS}

// criMaxLine is containerd's default max-container-log-line-size: longer lines are split.
const criMaxLine = 16 << 10

// EnvelopeWriter wraps every line written to it in an envelope and writes it to the
// underlying writer. Call Close to write a last line without a newline.
type EnvelopeWriter struct {
	w      io.Writer
	format string
	line   []byte // the incomplete line so far
	out    []byte
	n      int
	ts     string // the last event time, for lines that have none (malformed ones)
}

// NewEnvelopeWriter returns a writer of format (one of EnvelopeFormats) to w.
func NewEnvelopeWriter(w io.Writer, format string) (*EnvelopeWriter, error) {
	for _, f := range EnvelopeFormats {
		if f == format {
			return &EnvelopeWriter{w: w, format: format, ts: "2025-01-01T00:00:00.000000Z"}, nil
		}
	}
	return nil, fmt.Errorf("unknown format %q: use %s", format, strings.Join(EnvelopeFormats, ", "))
}

// Write implements io.Writer.
func (e *EnvelopeWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			e.line = append(e.line, p...)
			break
		}
		var line []byte
		if len(e.line) > 0 {
			e.line = append(e.line, p[:i]...)
			line = e.line
		} else {
			line = p[:i]
		}
		if err := e.writeLine(line); err != nil {
			return 0, err
		}
		e.line = e.line[:0]
		p = p[i+1:]
	}
	return n, nil
}

// Close writes the last line if it had no newline. It does not close the underlying writer.
func (e *EnvelopeWriter) Close() error {
	if len(e.line) == 0 {
		return nil
	}
	err := e.writeLine(e.line)
	e.line = e.line[:0]
	return err
}

var stageTS = []byte(`"stageTimestamp":"`)

func (e *EnvelopeWriter) writeLine(line []byte) error {
	if i := bytes.Index(line, stageTS); i >= 0 {
		if j := bytes.IndexByte(line[i+len(stageTS):], '"'); j > 0 {
			e.ts = string(line[i+len(stageTS) : i+len(stageTS)+j])
		}
	}
	e.n++
	b := e.out[:0]
	switch e.format {
	case EnvelopeBare:
		b = append(append(b, line...), '\n')
	case EnvelopeCRI:
		for len(line) > criMaxLine {
			b = append(b, e.ts...)
			b = append(b, " stdout P "...)
			b = append(append(b, line[:criMaxLine]...), '\n')
			line = line[criMaxLine:]
		}
		b = append(b, e.ts...)
		b = append(b, " stdout F "...)
		b = append(append(b, line...), '\n')
	case EnvelopeDocker:
		b = append(b, `{"log":`...)
		b = appendString(b, string(line)+"\n")
		b = append(b, `,"stream":"stdout","time":"`...)
		b = append(b, e.ts...)
		b = append(b, "\"}\n"...)
	case EnvelopeFluentBit:
		b = append(b, `{"date":`...)
		b = append(b, strconv.Itoa(1735689600+e.n)...)
		b = append(b, `.0,"time":"`...)
		b = append(b, e.ts...)
		b = append(b, `","stream":"stdout","logtag":"F","log":`...)
		if e.n%2 == 0 && len(line) > 0 && line[0] == '{' && json.Valid(line) {
			b = append(b, line...)
		} else {
			b = appendString(b, string(line))
		}
		b = append(b, `,"kubernetes":{"pod_name":"kube-apiserver-control-plane-1","namespace_name":"kube-system","container_name":"kube-apiserver","host":"control-plane-1"}}`...)
		b = append(b, '\n')
	case EnvelopeAKS:
		b = append(b, `{"operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","category":"kube-audit","ccpNamespace":"65f1e2a0c3b4d50001a2b3c4","resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-1","properties":{"log":`...)
		b = appendString(b, string(line))
		b = append(b, `,"stream":"stdout","pod":"kube-apiserver-5d8f7b9c6-x2x7q","containerID":"0f1e2d3c4b5a"},"time":"`...)
		b = append(b, e.ts...)
		b = append(b, "\"}\n"...)
	case EnvelopeGKE:
		var err error
		if b, err = appendLogEntry(b, line); err != nil {
			return err
		}
	}
	e.out = b
	_, err := e.w.Write(b)
	return err
}

// gkeEvent is what a LogEntry is made of.
type gkeEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	SourceIPs []string `json:"sourceIPs"`
	UserAgent string   `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	RequestObject  json.RawMessage   `json:"requestObject"`
	ResponseObject json.RawMessage   `json:"responseObject"`
	StageTimestamp string            `json:"stageTimestamp"`
	Annotations    map[string]string `json:"annotations"`
}

// appendLogEntry appends the LogEntry GKE writes for the audit event line: only for final
// stages (GKE logs one entry per request); other lines (malformed ones) are written as they are.
func appendLogEntry(b, line []byte) ([]byte, error) {
	var ev gkeEvent
	if json.Unmarshal(line, &ev) != nil || ev.AuditID == "" {
		return append(append(b, line...), '\n'), nil
	}
	if ev.Stage != "ResponseComplete" && ev.Stage != "Panic" {
		return b, nil
	}
	type status struct {
		Code    int    `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
	}
	group, version, method, resource := "core", "v1", "io.k8s."+ev.Verb, ""
	if r := ev.ObjectRef; r != nil && r.Resource != "" {
		if r.APIGroup != "" {
			group = r.APIGroup
		}
		if r.APIVersion != "" {
			version = r.APIVersion
		}
		mg := group
		if g, ok := strings.CutSuffix(group, ".k8s.io"); ok {
			parts := strings.Split(g, ".")
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
			mg = strings.Join(parts, ".")
		}
		method = "io.k8s." + mg + "." + version + "." + r.Resource
		if r.Subresource != "" {
			method += "." + r.Subresource
		}
		method += "." + ev.Verb
		resource = group + "/" + version
		if r.Namespace != "" && r.Resource != "namespaces" {
			resource += "/namespaces/" + r.Namespace
		}
		resource += "/" + r.Resource
		if r.Name != "" {
			resource += "/" + r.Name
			if r.Subresource != "" {
				resource += "/" + r.Subresource
			}
		}
	}
	ip := ""
	if len(ev.SourceIPs) > 0 {
		ip = ev.SourceIPs[0]
	}
	logName := "activity"
	switch ev.Verb {
	case "get", "list", "watch":
		logName = "data_access"
	}
	entry := map[string]any{
		"insertId": ev.AuditID,
		"labels":   ev.Annotations,
		"logName":  "projects/demo-project/logs/cloudaudit.googleapis.com%2F" + logName,
		"operation": map[string]any{
			"first": true, "last": true, "id": ev.AuditID, "producer": "k8s.io",
		},
		"protoPayload": map[string]any{
			"@type":              "type.googleapis.com/google.cloud.audit.AuditLog",
			"authenticationInfo": map[string]string{"principalEmail": ev.User.Username},
			"methodName":         method,
			"requestMetadata":    map[string]string{"callerIp": ip, "callerSuppliedUserAgent": ev.UserAgent},
			"resourceName":       resource,
			"serviceName":        "k8s.io",
			"status":             status{Code: rpcCode(ev.ResponseStatus.Code), Message: ev.ResponseStatus.Message},
		},
		"receiveTimestamp": ev.StageTimestamp,
		"resource": map[string]any{
			"type":   "k8s_cluster",
			"labels": map[string]string{"cluster_name": "demo", "location": "europe-west1", "project_id": "demo-project"},
		},
		"severity":  "NOTICE",
		"timestamp": ev.StageTimestamp,
	}
	pp := entry["protoPayload"].(map[string]any)
	if len(ev.RequestObject) > 0 {
		pp["request"] = ev.RequestObject
	}
	if len(ev.ResponseObject) > 0 {
		pp["response"] = ev.ResponseObject
	}
	if ev.Annotations == nil {
		delete(entry, "labels")
	}
	j, err := json.Marshal(entry)
	if err != nil {
		return b, err
	}
	return append(append(b, j...), '\n'), nil
}

// rpcCode is the google.rpc.Code Cloud Audit Logs give an HTTP status.
func rpcCode(http int) int {
	switch {
	case http < 400: // 101 Switching Protocols (exec, attach), 2xx, 3xx
		return 0
	case http == 400 || http == 422:
		return 3
	case http == 401:
		return 16
	case http == 403:
		return 7
	case http == 404:
		return 5
	case http == 409:
		return 6
	case http == 429:
		return 8
	case http == 501:
		return 12
	case http == 503:
		return 14
	case http == 504:
		return 4
	}
	return 13
}
