package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// The version the user agents claim: the kube-apiserver version recorded. The module zip of
// k8s.io/kubernetes carries no git commit, so the commit part of the user agents is a
// placeholder.
const (
	k8sVersion = "v1.37.2"
	gitCommit  = "0000000"
)

var (
	uaKubectl    = "kubectl/" + k8sVersion + " (linux/amd64) kubernetes/" + gitCommit
	uaKubelet    = "kubelet/" + k8sVersion + " (linux/amd64) kubernetes/" + gitCommit
	uaKCM        = "kube-controller-manager/" + k8sVersion + " (linux/amd64) kubernetes/" + gitCommit + "/shared-informers"
	uaCurl       = "curl/8.5.0"
	uaPython     = "python-requests/2.31.0"
	uaWebsockets = "Python/3.12 websockets/13.1"
	uaPrometheus = "Prometheus/3.5.0"
	// rakkess (kubectl access-matrix) is a client-go program built without version stamping.
	uaRakkess = "rakkess/v0.0.0 (linux/amd64) kubernetes/$Format"
)

// principal is someone who sends requests: a static-token user, a service account with a
// token from TokenRequest, or nobody (anonymous).
type principal struct {
	name  string // for file names and logs
	token string
}

func user(name string) principal { return principal{name: name, token: tokenOf(name)} }

var anonymous = principal{name: "anonymous"}

// env is one scenario's cluster plus the helpers scenarios use.
type env struct {
	*cluster
	ctx  context.Context
	logf func(string, ...any)
}

func (e *env) clientset(p principal, ua string) *kubernetes.Clientset {
	return kubernetes.NewForConfigOrDie(e.config(ua, p.token))
}

func (e *env) kubeconfig(p principal) (string, error) {
	path := filepath.Join(e.dir, "kube", p.name, "config")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: recordaudit
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: %s
  user:
    token: %s
contexts:
- name: %s@recordaudit
  context:
    cluster: recordaudit
    user: %s
current-context: %s@recordaudit
`, e.host, p.name, p.token, p.name, p.name, p.name)
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// kubectl runs the real kubectl (k8s.io/kubectl, the same version as the apiserver) as p: a
// process of its own (this program with -kubectl), with p's kubeconfig and discovery cache.
func (e *env) kubectl(p principal, stdin string, args ...string) (string, error) {
	cmd, stdout, stderr, err := e.kubectlCmd(p, stdin, args...)
	if err != nil {
		return "", err
	}
	err = cmd.Run()
	e.logKubectl(p, args, stdout.String(), stderr.String(), err)
	if err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (e *env) kubectlCmd(p principal, stdin string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer, error) {
	kc, err := e.kubeconfig(p)
	if err != nil {
		return nil, nil, nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	full := append([]string{"-kubectl", uaKubectl, "--kubeconfig=" + kc, "--cache-dir=" + filepath.Join(filepath.Dir(kc), "cache")}, args...)
	cmd := exec.CommandContext(e.ctx, self, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "KUBECTL_KUBERC=false", "HOME="+filepath.Dir(kc))
	return cmd, &stdout, &stderr, nil
}

func (e *env) logKubectl(p principal, args []string, stdout, stderr string, err error) {
	e.logf("$ kubectl %s   # as %s\n%s%s  -> err=%v", strings.Join(args, " "), p.name, indent(stdout), indent(stderr), err)
}

// runKubectl is the -kubectl mode: kubectl's own main, with the user agent of a released
// kubectl binary (this program's would be "recordaudit/v0.0.0 ...").
func runKubectl(ua string, args []string) {
	flags := genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0).
		WithWrapConfigFn(func(c *rest.Config) *rest.Config { c.UserAgent = ua; return c })
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := kubectlcmd.NewKubectlCommand(kubectlcmd.KubectlOptions{ConfigFlags: flags.WithWarningPrinter(streams), IOStreams: streams, Arguments: append([]string{"kubectl"}, args...)})
	cmd.SetArgs(args)
	if err := cli.RunNoErrOutput(cmd); err != nil {
		cmdutil.CheckErr(err)
	}
	os.Exit(0)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > 2000 {
		s = s[:2000] + "...\n"
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

var insecure = &tls.Config{InsecureSkipVerify: true}

// raw sends one HTTP request as a script would (curl, python-requests).
func (e *env) raw(p principal, ua, method, path string, body []byte, headers ...string) (int, string, error) {
	req, err := http.NewRequestWithContext(e.ctx, method, e.host+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "*/*")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure}, Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		e.logf("%s %s %s as %s -> %v", ua, method, path, p.name, err)
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.logf("%s %s %s as %s -> %d %.300s", ua, method, path, p.name, resp.StatusCode, strings.TrimSpace(string(b)))
	return resp.StatusCode, string(b), nil
}

// websocketExec opens a WebSocket to path with the v4.channel.k8s.io protocol (what websocat
// or a Python websockets script does) and returns the HTTP status of the handshake and what
// the server sent before closing.
func (e *env) websocketExec(p principal, ua, path string) (int, string, error) {
	d := websocket.Dialer{TLSClientConfig: insecure, Subprotocols: []string{"v4.channel.k8s.io"}, HandshakeTimeout: 10 * time.Second}
	h := http.Header{"User-Agent": {ua}}
	if p.token != "" {
		h.Set("Authorization", "Bearer "+p.token)
	}
	url := "wss" + strings.TrimPrefix(e.host, "https") + path
	conn, resp, err := d.DialContext(e.ctx, url, h)
	if err != nil {
		if resp == nil {
			return 0, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		e.logf("websocket %s as %s -> %d %s", path, p.name, resp.StatusCode, strings.TrimSpace(string(b)))
		return resp.StatusCode, string(b), nil
	}
	defer conn.Close()
	var out strings.Builder
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			break
		}
		if len(msg) > 1 {
			out.Write(msg[1:]) // first byte: channel
		}
	}
	e.logf("websocket %s as %s -> 101, read %q", path, p.name, out.String())
	return http.StatusSwitchingProtocols, out.String(), nil
}
