package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

//go:embed audit-policy.yaml
var auditPolicy []byte

// The static tokens of --token-auth-file: token, user, uid, groups.
var staticUsers = []struct{ token, user, uid, groups string }{
	{"setup-4f1c9e0b7a", "recordaudit-setup", "0", "system:masters"},
	{"ops-admin-8d2e61c7f3", "ops-admin", "1001", "system:masters,ops"},
	{"alice-3b7d0f92a1", "alice", "1002", "dev-team"},
	{"mallory-c0ffee5e1d", "mallory", "1003", "contractors"},
	{"node-1-6a9b2c4d8e", "system:node:node-1", "", "system:nodes"},
	{"kcm-91e4b7a0c2", "system:kube-controller-manager", "", ""},
}

func tokenOf(user string) string {
	for _, u := range staticUsers {
		if u.user == user {
			return u.token
		}
	}
	panic("no static token for " + user)
}

// cluster is one kube-apiserver with its etcd and a fake kubelet, all in this process.
type cluster struct {
	dir       string
	etcd      *embed.Etcd
	etcdURL   string
	host      string // https://127.0.0.1:port
	auditPath string
	kubelet   *fakeKubelet
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd(dir string) (*embed.Etcd, string, error) {
	cp, err := freePort()
	if err != nil {
		return nil, "", err
	}
	pp, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cfg := embed.NewConfig()
	cfg.Name = "recordaudit"
	cfg.Dir = filepath.Join(dir, "etcd")
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", cp))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", pp))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("etcd did not become ready")
	}
	return e, cu.String(), nil
}

// writeFiles writes what the apiserver's flags point at: tokens, audit policy, service-account key.
func (c *cluster) writeFiles() error {
	var tokens strings.Builder
	for _, u := range staticUsers {
		fmt.Fprintf(&tokens, "%s,%s,%s,%q\n", u.token, u.user, u.uid, u.groups)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(tokens.String()), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "audit-policy.yaml"), auditPolicy, 0o600); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// startAPIServer runs kube-apiserver in this process: the same steps as the RunE of
// app.NewAPIServerCommand (parse flags, apply logging, complete, validate, app.Run), without
// the signal handler the command installs.
func (c *cluster) startAPIServer(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.host = fmt.Sprintf("https://127.0.0.1:%d", port)
	c.auditPath = filepath.Join(c.dir, "audit", "audit.log")
	if err := os.MkdirAll(filepath.Dir(c.auditPath), 0o700); err != nil {
		return err
	}
	args := []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--advertise-address=10.0.0.10",
		"--cert-dir=" + filepath.Join(c.dir, "pki"),
		"--service-cluster-ip-range=10.96.0.0/12",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(c.dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(c.dir, "sa.key"),
		"--authorization-mode=Node,RBAC",
		"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
		"--anonymous-auth=true",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		"--audit-policy-file=" + filepath.Join(c.dir, "audit-policy.yaml"),
		"--audit-log-path=" + c.auditPath,
		"--audit-log-format=json",
		"--audit-log-maxage=30",
		"--audit-log-maxbackup=10",
		"--audit-log-maxsize=100",
		"--v=1",
	}
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return err
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("invalid apiserver options: %v", errs)
	}
	featureGate.(featuregate.MutableFeatureGate).AddMetrics()
	errCh := make(chan error, 1)
	go func() { errCh <- app.Run(ctx, completed) }()

	setup := c.config("recordaudit-setup/v0 (setup, not recorded)", tokenOf("recordaudit-setup"))
	cs := kubernetes.NewForConfigOrDie(setup)
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-errCh:
			return false, fmt.Errorf("apiserver stopped: %v", err)
		default:
		}
		var code int
		cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
		if code != 200 {
			return false, nil
		}
		_, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// config is a client configuration for a principal with a bearer token ("" for anonymous).
func (c *cluster) config(userAgent, token string) *rest.Config {
	return &rest.Config{
		Host:            c.host,
		BearerToken:     token,
		UserAgent:       userAgent,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             50,
		Burst:           100,
	}
}

// auditSize is the length of the audit log now.
func (c *cluster) auditSize() (int64, error) {
	fi, err := os.Stat(c.auditPath)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
