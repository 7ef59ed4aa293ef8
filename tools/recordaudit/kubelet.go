package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// The fake kubelet listens where node-1's status says its kubelet is: port 10250 of this
// machine's first global unicast IPv4 address (the apiserver refuses to proxy nodes/proxy
// requests to loopback or link-local addresses).
const kubeletPort = 10250

var nodeIP = func() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	return "127.0.0.21"
}()

// fakeKubelet answers the kubelet API the way a kubelet would for a node with running pods:
// exec, attach and port-forward are served with the kubelet's own streaming code
// (k8s.io/cri-streaming: SPDY and WebSocket), the rest with canned bodies. It does no
// authentication or authorization (a real kubelet with webhook authorization would add
// SubjectAccessReview requests by system:node:node-1 to the audit log).
type fakeKubelet struct {
	srv  *httptest.Server
	mu   sync.Mutex
	pods []corev1.Pod
	log  func(format string, args ...any)
}

func startKubelet(logf func(string, ...any)) (*fakeKubelet, error) {
	k := &fakeKubelet{log: logf}
	l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", nodeIP, kubeletPort))
	if err != nil {
		return nil, err
	}
	k.srv = httptest.NewUnstartedServer(http.HandlerFunc(k.serve))
	k.srv.Listener.Close()
	k.srv.Listener = l
	k.srv.StartTLS()
	return k, nil
}

func (k *fakeKubelet) setPods(pods ...corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pods = pods
}

func (k *fakeKubelet) serve(w http.ResponseWriter, r *http.Request) {
	k.log("kubelet: %s %s (upgrade %q)", r.Method, r.URL.RequestURI(), r.Header.Get("Upgrade"))
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case (parts[0] == "exec" || parts[0] == "attach") && len(parts) >= 4:
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			k.log("kubelet: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if parts[0] == "exec" {
			remotecommand.ServeExec(w, r, runtime{}, parts[2], "", parts[3], r.URL.Query()["command"], opts,
				time.Minute, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
		} else {
			remotecommand.ServeAttach(w, r, runtime{}, parts[2], "", parts[3], opts,
				time.Minute, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
		}
	case parts[0] == "portForward" && len(parts) >= 3:
		opts, err := portforward.NewV4Options(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		portforward.ServePortForward(w, r, runtime{}, parts[2], "", opts, time.Minute,
			remotecommand.DefaultStreamCreationTimeout, portforward.SupportedProtocols)
	case parts[0] == "run" && len(parts) >= 4 && r.Method == http.MethodPost:
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, commandOutput(parts[2], strings.Fields(r.URL.Query().Get("cmd"))))
	case r.URL.Path == "/pods" || r.URL.Path == "/runningpods/":
		k.mu.Lock()
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: k.pods}
		k.mu.Unlock()
		writeJSON(w, list)
	case r.URL.Path == "/configz":
		writeJSON(w, map[string]any{"kubeletconfig": map[string]any{
			"enableServer": true, "staticPodPath": "/etc/kubernetes/manifests", "syncFrequency": "1m0s",
			"authentication": map[string]any{"anonymous": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": true}},
			"authorization":  map[string]any{"mode": "Webhook"}, "clusterDomain": "cluster.local", "clusterDNS": []string{"10.96.0.10"},
			"cgroupDriver": "systemd", "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
		}})
	case strings.HasPrefix(r.URL.Path, "/metrics"):
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		io.WriteString(w, metricsText(r.URL.Path))
	case r.URL.Path == "/stats/summary":
		writeJSON(w, map[string]any{"node": map[string]any{"nodeName": "node-1",
			"cpu":    map[string]any{"time": time.Now().UTC().Format(time.RFC3339), "usageNanoCores": 183475012, "usageCoreNanoSeconds": 912384756123},
			"memory": map[string]any{"time": time.Now().UTC().Format(time.RFC3339), "workingSetBytes": 1203740672}}, "pods": []any{}})
	case r.URL.Path == "/healthz":
		io.WriteString(w, "ok")
	case r.URL.Path == "/logs/" || r.URL.Path == "/logs":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<pre>\n<a href=\"containers/\">containers/</a>\n<a href=\"journal/\">journal/</a>\n<a href=\"pods/\">pods/</a>\n<a href=\"syslog\">syslog</a>\n</pre>\n")
	case parts[0] == "containerLogs" && len(parts) >= 4:
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "2026/11/25 09:58:01 listening on :8080\n")
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func metricsText(path string) string {
	switch path {
	case "/metrics/cadvisor":
		return "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n# TYPE container_cpu_usage_seconds_total counter\n" +
			"container_cpu_usage_seconds_total{container=\"app\",cpu=\"total\",id=\"/kubepods/pod1/c1\",image=\"registry.example.com/shop/web:2.14.1\",name=\"c1\",namespace=\"prod\",pod=\"web\"} 12.48 1764064681000\n"
	case "/metrics/resource":
		return "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total 912.38 1764064681000\n"
	case "/metrics/probes":
		return "# HELP prober_probe_total [BETA] Cumulative number of a liveness, readiness or startup probe for a container by result.\n# TYPE prober_probe_total counter\n" +
			"prober_probe_total{container=\"app\",namespace=\"prod\",pod=\"web\",pod_uid=\"\",probe_type=\"Readiness\",result=\"successful\"} 311\n"
	}
	return "# HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod sandbox\n# TYPE kubelet_running_pods gauge\nkubelet_running_pods 2\n" +
		"# HELP kubelet_node_name [ALPHA] The node's name. The count is always 1.\n# TYPE kubelet_node_name gauge\nkubelet_node_name{node=\"node-1\"} 1\n"
}

// commandOutput is what the container prints for a command.
func commandOutput(pod string, cmd []string) string {
	line := strings.Join(cmd, " ")
	switch {
	case strings.Contains(line, "serviceaccount/token"):
		return "eyJhbGciOiJFUzI1NiIsImtpZCI6InJlY29yZGF1ZGl0In0.not-a-real-token.c2lnbmF0dXJl\n"
	case strings.Contains(line, "169.254.169.254"):
		return "web-node-role\n"
	case len(cmd) > 0 && cmd[0] == "id":
		return "uid=0(root) gid=0(root) groups=0(root),1(bin),2(daemon),3(sys),4(adm),6(disk),10(wheel),11(floppy),20(dialout),26(tape),27(video)\n"
	case len(cmd) > 0 && cmd[0] == "hostname":
		return pod + "\n"
	case len(cmd) > 0 && (cmd[0] == "env" || cmd[0] == "printenv"):
		return "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME=" + pod + "\nKUBERNETES_SERVICE_HOST=10.96.0.1\nKUBERNETES_SERVICE_PORT=443\n"
	}
	return ""
}

// runtime is the container runtime behind the streaming server: canned output, no processes.
type runtime struct{}

func (runtime) ExecInContainer(ctx context.Context, pod, uid, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	if in != nil && len(cmd) == 1 && (cmd[0] == "sh" || cmd[0] == "bash" || cmd[0] == "/bin/sh") {
		// An interactive shell: answer each line until the client closes stdin.
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if out != nil {
				io.WriteString(out, commandOutput(pod, strings.Fields(sc.Text())))
			}
			if strings.TrimSpace(sc.Text()) == "exit" {
				break
			}
		}
		return nil
	}
	if out != nil {
		io.WriteString(out, commandOutput(pod, cmd))
	}
	return nil
}

func (runtime) AttachContainer(ctx context.Context, pod, uid, container string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	if out != nil {
		io.WriteString(out, "/ # ")
	}
	if in != nil {
		io.Copy(io.Discard, in)
	}
	return nil
}

func (runtime) PortForward(ctx context.Context, pod, uid string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	br := bufio.NewReader(stream)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil
	}
	body := fmt.Sprintf("{\"status\":\"ok\",\"pod\":%q,\"path\":%q}\n", pod, req.URL.Path)
	fmt.Fprintf(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	return nil
}
