package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// session is what a scenario's steps get: the cluster, the service-account tokens of the setup,
// and mark, which ends the current fixture file and starts the next one (for scenarios recorded
// as several files).
type session struct {
	*env
	tok  saTokens
	mark func(name string) error
}

type scenario struct {
	name  string // fixture file suffix
	what  string // one line for SOURCES.md
	setup func(s *session) error
	run   func(s *session) error
	// parts names the files after the first, in the order run marks them; partsWhat
	// describes them.
	parts, partsWhat []string
}

var (
	opsAdmin = user("ops-admin")
	alice    = user("alice")
	mallory  = user("mallory")
	node1    = user("system:node:node-1")
	kcm      = user("system:kube-controller-manager")
)

// must turns a failed step into a failed recording; steps expected to be denied use deny.
func must(_ string, err error) error { return err }

// deny accepts a kubectl command that failed on authorization.
func deny(out string, err error) error {
	if err == nil {
		return fmt.Errorf("expected a denial, got success: %.200s", out)
	}
	if !strings.Contains(err.Error(), "Forbidden") && !strings.Contains(err.Error(), "forbidden") {
		return err
	}
	return nil
}

func steps(fs ...func() error) error {
	for _, f := range fs {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func wantCode(want int) func(int, string, error) error {
	return func(code int, body string, err error) error {
		if err != nil {
			return err
		}
		if code != want {
			return fmt.Errorf("status %d, want %d: %.200s", code, want, body)
		}
		return nil
	}
}

var scenarios = []scenario{
	// --- Pods: port-forward, debug containers, exec, attach --------------------------------
	{name: "port-forward", what: "alice runs `kubectl port-forward pod/web 18080:8080` in prod, sends one HTTP request through the tunnel and stops it with Ctrl-C",
		run: func(s *session) error { return s.portForward(alice, "prod", "pod/web", "18080:8080") }},
	{name: "pod-get", what: "negative twin of port-forward: alice runs `kubectl get pod web` in prod",
		run: func(s *session) error { return must(s.kubectl(alice, "", "get", "pod", "web", "-n", "prod")) }},
	{name: "ephemeral-container", what: "alice runs `kubectl debug web --image=busybox:1.37 --target=app` in prod: a patch of pods/ephemeralcontainers",
		run: func(s *session) error {
			return must(s.kubectl(alice, "", "debug", "-n", "prod", "web", "--image=busybox:1.37", "--target=app", "-c", "debugger", "--profile=general", "--", "sleep", "3600"))
		}},
	{name: "pod-patch", what: "negative twin of ephemeral-container: alice labels pod web in prod (`kubectl label pod web release=2.14.1-hotfix`), an ordinary pod patch",
		run: func(s *session) error {
			return must(s.kubectl(alice, "", "label", "pod", "web", "-n", "prod", "release=2.14.1-hotfix"))
		}},
	{name: "exec-read-token", what: "alice runs `kubectl exec web -- cat /var/run/secrets/kubernetes.io/serviceaccount/token` in prod (WebSocket from kubectl, SPDY from the apiserver to the kubelet)",
		run: func(s *session) error {
			return must(s.kubectl(alice, "", "exec", "-n", "prod", "web", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"))
		}},
	{name: "attach", what: "alice runs `kubectl attach -i web -c app` in prod and closes stdin",
		run: func(s *session) error {
			return must(s.kubectl(alice, "exit\n", "attach", "-i", "-n", "prod", "web", "-c", "app"))
		}},

	// --- nodes/proxy --------------------------------------------------------------------------
	{name: "nodes-proxy-kubelet-api", what: "mallory (granted nodes/proxy get for a monitoring dashboard) lists nodes and, with curl through nodes/proxy, reads the kubelet's /pods, /configz, /logs/ and a container log, is denied POST /run, then tries exec through a WebSocket GET to /exec: the apiserver does not forward the query of upgrade requests, so the kubelet answers 400, yet the audit event says 101",
		run: func(s *session) error {
			get := func(path string) func() error {
				return func() error {
					return wantCode(200)(s.raw(mallory, uaCurl, "GET", "/api/v1/nodes/node-1/proxy"+path, nil))
				}
			}
			return steps(
				func() error { return must(s.kubectl(mallory, "", "get", "nodes", "-o", "wide")) },
				get("/pods"), get("/configz"), get("/logs/"), get("/containerLogs/prod/web/app?tailLines=100"),
				func() error {
					return wantCode(403)(s.raw(mallory, uaCurl, "POST", "/api/v1/nodes/node-1/proxy/run/prod/web/app?cmd=id", nil))
				},
				func() error {
					return wantCode(400)(s.websocketExec(mallory, uaWebsockets, "/api/v1/nodes/node-1/proxy/exec/prod/web/app?command=id&output=1"))
				},
			)
		}},
	{name: "nodes-proxy-run", what: "ops-admin runs `id` and reads the service-account token in pod web through the kubelet's /run endpoint (curl POST /api/v1/nodes/node-1/proxy/run/prod/web/app?cmd=...), bypassing pods/exec",
		run: func(s *session) error {
			return steps(
				func() error {
					return wantCode(200)(s.raw(opsAdmin, uaCurl, "POST", "/api/v1/nodes/node-1/proxy/run/prod/web/app?cmd=id", nil))
				},
				func() error {
					return wantCode(200)(s.raw(opsAdmin, uaCurl, "POST", "/api/v1/nodes/node-1/proxy/run/prod/web/app?cmd=cat%20%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken", nil))
				},
			)
		}},
	{name: "nodes-proxy-metrics-scrape", what: "negative twin of nodes-proxy-kubelet-api: Prometheus (service account monitoring/prometheus, token bound to its pod) lists nodes and scrapes /metrics, /metrics/cadvisor and /metrics/probes of node-1 through nodes/proxy, three rounds",
		run: func(s *session) error {
			p := s.tok.prometheus
			if err := wantCode(200)(s.raw(p, uaPrometheus, "GET", "/api/v1/nodes?limit=500&resourceVersion=0", nil, "Accept", "application/vnd.kubernetes.protobuf, */*")); err != nil {
				return err
			}
			accept := "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
			for range 3 {
				for _, path := range []string{"/metrics", "/metrics/cadvisor", "/metrics/probes"} {
					if err := wantCode(200)(s.raw(p, uaPrometheus, "GET", "/api/v1/nodes/node-1/proxy"+path, nil, "Accept", accept, "X-Prometheus-Scrape-Timeout-Seconds", "10")); err != nil {
						return err
					}
				}
				time.Sleep(2 * time.Second)
			}
			return nil
		}},

	// --- Secrets --------------------------------------------------------------------------------
	{name: "secret-get-by-user", what: "alice runs `kubectl get secret db-creds -o yaml` in prod",
		run: func(s *session) error {
			return must(s.kubectl(alice, "", "get", "secret", "db-creds", "-n", "prod", "-o", "yaml"))
		}},
	{name: "secret-read-with-node-credentials", what: "someone with node-1's kubelet credentials and kubectl lists the pods on node-1, is denied `get secrets -A` and kube-system's cloud credentials, and reads db-creds, which a pod on node-1 mounts",
		run: func(s *session) error {
			return steps(
				func() error {
					return must(s.kubectl(node1, "", "get", "pods", "-A", "--field-selector", "spec.nodeName=node-1", "-o", "wide"))
				},
				func() error { return deny(s.kubectl(node1, "", "get", "secrets", "-A")) },
				func() error {
					return deny(s.kubectl(node1, "", "get", "secret", "cloud-provider-credentials", "-n", "kube-system"))
				},
				func() error {
					return must(s.kubectl(node1, "", "get", "secret", "db-creds", "-n", "prod", "-o", "yaml"))
				},
			)
		}},
	{name: "secret-read-by-serviceaccount-curl", what: "the CI runner's service account token (ci/ci-runner, bound to its pod) used with curl: a denied list of prod's secrets, then a GET of db-creds",
		run: func(s *session) error {
			return steps(
				func() error {
					return wantCode(403)(s.raw(s.tok.ciRunner, uaCurl, "GET", "/api/v1/namespaces/prod/secrets", nil))
				},
				func() error {
					return wantCode(200)(s.raw(s.tok.ciRunner, uaCurl, "GET", "/api/v1/namespaces/prod/secrets/db-creds", nil))
				},
			)
		}},
	{name: "secrets-list-all-namespaces", what: "ops-admin runs `kubectl get secrets -A`",
		run: func(s *session) error { return must(s.kubectl(opsAdmin, "", "get", "secrets", "-A")) }},
	{name: "secrets-list-kube-system", what: "ops-admin runs `kubectl get secrets -n kube-system -o yaml`",
		run: func(s *session) error {
			return must(s.kubectl(opsAdmin, "", "get", "secrets", "-n", "kube-system", "-o", "yaml"))
		}},
	{name: "secrets-harvest", what: "alice lists prod's secrets by name and runs `kubectl get -o yaml` on each of the 30, one after the other",
		run: func(s *session) error {
			out, err := s.kubectl(alice, "", "get", "secrets", "-n", "prod", "-o", "name")
			if err != nil {
				return err
			}
			for _, name := range strings.Fields(out) {
				if _, err := s.kubectl(alice, "", "get", name, "-n", "prod", "-o", "yaml"); err != nil {
					return err
				}
			}
			return nil
		}},
	{name: "secrets-controller-manager", what: "negative: kube-controller-manager's shared informer lists and watches secrets in all namespaces (closed after a few seconds), and it reads kube-system's bootstrap token",
		run: func(s *session) error {
			cs := s.clientset(kcm, uaKCM)
			f := informers.NewSharedInformerFactory(cs, 0)
			inf := f.Core().V1().Secrets().Informer()
			stop := make(chan struct{})
			f.Start(stop)
			if !cache.WaitForCacheSync(s.ctx.Done(), inf.HasSynced) {
				return fmt.Errorf("secret informer did not sync")
			}
			s.logf("kube-controller-manager informer: %d secrets", len(inf.GetStore().List()))
			time.Sleep(2 * time.Second)
			ua := strings.TrimSuffix(uaKCM, "/shared-informers") + "/tokencleaner"
			if _, err := s.clientset(kcm, ua).CoreV1().Secrets("kube-system").Get(s.ctx, "bootstrap-token-07401b", metav1.GetOptions{}); err != nil {
				return err
			}
			close(stop)
			f.Shutdown()
			return nil
		}},
	{name: "secret-kubelet-watch", what: "negative: node-1's kubelet lists and watches the one secret a pod of node-1 mounts (fieldSelector metadata.name=db-creds), closed after a few seconds",
		run: func(s *session) error {
			cs := s.clientset(node1, uaKubelet)
			lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "secrets", "prod", fields.OneTermEqualSelector("metadata.name", "db-creds"))
			store := cache.NewStore(cache.MetaNamespaceKeyFunc)
			r := cache.NewReflector(lw, &corev1.Secret{}, store, 0)
			ctx, cancel := context.WithCancel(s.ctx)
			done := make(chan struct{})
			go func() { r.RunWithContext(ctx); close(done) }()
			deadline := time.Now().Add(30 * time.Second)
			for len(store.List()) == 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if len(store.List()) == 0 {
				cancel()
				return fmt.Errorf("kubelet reflector got no secret")
			}
			time.Sleep(2 * time.Second)
			cancel()
			<-done
			return nil
		}},

	// --- Impersonation ------------------------------------------------------------------------------
	{name: "impersonate-system-masters", what: "ops-admin runs `kubectl get nodes` and `kubectl get clusterrolebindings` with `--as=system:admin --as-group=system:masters`",
		run: func(s *session) error {
			return steps(
				func() error {
					return must(s.kubectl(opsAdmin, "", "get", "nodes", "--as=system:admin", "--as-group=system:masters"))
				},
				func() error {
					return must(s.kubectl(opsAdmin, "", "get", "clusterrolebindings", "--as=system:admin", "--as-group=system:masters"))
				},
			)
		}},
	{name: "impersonate-user", what: "negative twin of impersonate-system-masters: ops-admin checks what alice sees with `kubectl get pods -n prod --as=alice --as-group=dev-team`",
		run: func(s *session) error {
			return must(s.kubectl(opsAdmin, "", "get", "pods", "-n", "prod", "--as=alice", "--as-group=dev-team"))
		}},

	// --- Admission webhooks, aws-auth, CoreDNS ---------------------------------------------------------
	{name: "validating-webhook-created", what: "ops-admin creates a ValidatingWebhookConfiguration with `kubectl apply -f` (client-side apply: GET, then POST)",
		run: func(s *session) error { return must(s.kubectl(opsAdmin, validatingWebhook, "apply", "-f", "-")) }},
	{name: "mutating-webhook-changed", what: "ops-admin patches the sidecar injector's MutatingWebhookConfiguration (JSON patch: failurePolicy Ignore, namespaceSelector removed, so it now mutates every namespace's pods)",
		setup: func(s *session) error {
			cs := s.clientset(user("recordaudit-setup"), "recordaudit-setup/v0 (setup, not recorded)")
			_, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(s.ctx, sidecarInjector(), metav1.CreateOptions{})
			return err
		},
		run: func(s *session) error {
			return must(s.kubectl(opsAdmin, "", "patch", "mutatingwebhookconfiguration", "sidecar-injector", "--type=json",
				`-p=[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"},{"op":"remove","path":"/webhooks/0/namespaceSelector"}]`))
		}},
	{name: "aws-auth-configmap-changed", what: "ops-admin runs `kubectl edit configmap aws-auth -n kube-system` and maps an IAM user to system:masters (GET, then PATCH)",
		run: func(s *session) error {
			return s.edit(opsAdmin, "aws-auth", "-n", "kube-system", "configmap", "aws-auth")
		}},
	{name: "coredns-configmap-changed", what: "ops-admin runs `kubectl edit configmap coredns -n kube-system` and forwards cluster DNS to 203.0.113.53 (GET, then PATCH)",
		run: func(s *session) error {
			return s.edit(opsAdmin, "coredns", "-n", "kube-system", "configmap", "coredns")
		}},
	{name: "configmap-changed", what: "negative: alice runs `kubectl edit configmap app-config -n prod` and sets LOG_LEVEL=debug (GET, then PATCH)",
		run: func(s *session) error { return s.edit(alice, "app-config", "-n", "prod", "configmap", "app-config") }},

	// --- Tokens and certificates -----------------------------------------------------------------------
	{name: "token-request-by-user", what: "alice runs `kubectl create token deployer -n prod --duration=720h` (TokenRequest)",
		run: func(s *session) error {
			return must(s.kubectl(alice, "", "create", "token", "deployer", "-n", "prod", "--duration=720h"))
		}},
	{name: "csr-created-and-approved", what: "ops-admin creates a CertificateSigningRequest for a client certificate (CN=jenkins, signer kubernetes.io/kube-apiserver-client) with `kubectl create -f` and approves it with `kubectl certificate approve`",
		run: func(s *session) error {
			csr, err := jenkinsCSR()
			if err != nil {
				return err
			}
			return steps(
				func() error { return must(s.kubectl(opsAdmin, csr, "create", "-f", "-")) },
				func() error { return must(s.kubectl(opsAdmin, "", "certificate", "approve", "jenkins")) },
			)
		}},
	{name: "token-request-by-node", what: "negative: node-1's kubelet requests a token for pod web's service account (prod/web), bound to the pod, as it does to refresh projected tokens",
		run: func(s *session) error {
			cs := s.clientset(node1, uaKubelet)
			p, err := cs.CoreV1().Pods("prod").Get(s.ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = cs.CoreV1().ServiceAccounts("prod").CreateToken(s.ctx, "web", &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3607)),
					BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: p.UID}},
			}, metav1.CreateOptions{})
			return err
		}},

	// --- Events -------------------------------------------------------------------------------------------
	{name: "events-deleted", what: "alice deletes the Warning event about web's failing readiness probe with `kubectl delete event` in prod",
		run: func(s *session) error {
			out, err := s.kubectl(alice, "", "get", "events", "-n", "prod", "--field-selector", "type=Warning", "-o", "name")
			if err != nil {
				return err
			}
			return must(s.kubectl(alice, "", append([]string{"delete", "-n", "prod"}, strings.Fields(out)...)...))
		}},
	{name: "events-deletecollection", what: "alice deletes every event of prod in one request with curl (DELETE /api/v1/namespaces/prod/events: deletecollection)",
		run: func(s *session) error {
			return wantCode(200)(s.raw(alice, uaCurl, "DELETE", "/api/v1/namespaces/prod/events", nil))
		}},
	{name: "events-list", what: "negative twin of events-deleted: alice runs `kubectl get events -n prod`",
		run: func(s *session) error { return must(s.kubectl(alice, "", "get", "events", "-n", "prod")) }},

	// --- Permission enumeration ----------------------------------------------------------------------
	{name: "can-i-list", what: "mallory runs `kubectl auth can-i --list -n prod` (one SelfSubjectRulesReview)",
		run: func(s *session) error { return must(s.kubectl(mallory, "", "auth", "can-i", "--list", "-n", "prod")) }},
	{name: "can-i-loop", what: "mallory runs `kubectl auth can-i <verb> <resource> -n prod` in a shell loop over 24 verb/resource pairs (24 SelfSubjectAccessReviews)",
		run: func(s *session) error {
			for _, r := range []string{"pods", "pods/exec", "secrets", "configmaps", "deployments", "daemonsets", "serviceaccounts", "roles"} {
				for _, v := range []string{"get", "create", "delete"} {
					s.kubectl(mallory, "", "auth", "can-i", v, r, "-n", "prod") // "no" exits 1
				}
			}
			return nil
		}},
	{name: "rakkess-access-matrix", what: "mallory runs rakkess (kubectl access-matrix) for prod: discovery, then one SelfSubjectAccessReview per namespaced resource and verb (list, create, update, delete), eight at a time",
		run: func(s *session) error { return s.rakkess(mallory, "prod") }},
	{name: "list-sweep", what: "mallory runs `kubectl get <type> -n prod` for 20 resource types in a row: 7 allowed by her role, 13 forbidden",
		run: func(s *session) error {
			for _, r := range []string{"pods", "services", "deployments", "replicasets", "configmaps", "endpoints", "events",
				"secrets", "serviceaccounts", "roles", "rolebindings", "statefulsets", "daemonsets", "jobs", "cronjobs",
				"ingresses", "networkpolicies", "persistentvolumeclaims", "horizontalpodautoscalers", "poddisruptionbudgets"} {
				s.kubectl(mallory, "", "get", r, "-n", "prod")
			}
			return nil
		}},
	{name: "single-ssar", what: "negative: alice runs `kubectl auth can-i create deployments -n prod` once",
		run: func(s *session) error {
			return must(s.kubectl(alice, "", "auth", "can-i", "create", "deployments", "-n", "prod"))
		}},

	// --- Wildcard roles ----------------------------------------------------------------------------------
	{name: "wildcard-clusterrole-and-binding", what: "ops-admin creates ClusterRole break-glass (apiGroups, resources and verbs `*`) with `kubectl create -f` and binds it to mallory with `kubectl create clusterrolebinding`",
		run: func(s *session) error {
			return steps(
				func() error { return must(s.kubectl(opsAdmin, wildcardRole, "create", "-f", "-")) },
				func() error {
					return must(s.kubectl(opsAdmin, "", "create", "clusterrolebinding", "break-glass-mallory", "--clusterrole=break-glass", "--user=mallory"))
				},
			)
		}},
	{name: "wildcard-clusterrole-created", parts: []string{"wildcard-clusterrole-bound"},
		partsWhat: []string{"the second file of wildcard-clusterrole-created: ops-admin binds ClusterRole break-glass to mallory with `kubectl create clusterrolebinding`, the role's creation being in the first file"},
		what:      "the same as wildcard-clusterrole-and-binding, recorded as two files: the ClusterRole's creation here, the binding in wildcard-clusterrole-bound",
		run: func(s *session) error {
			return steps(
				func() error { return must(s.kubectl(opsAdmin, wildcardRole, "create", "-f", "-")) },
				func() error { return s.mark("wildcard-clusterrole-bound") },
				func() error {
					return must(s.kubectl(opsAdmin, "", "create", "clusterrolebinding", "break-glass-mallory", "--clusterrole=break-glass", "--user=mallory"))
				},
			)
		}},

	// --- Anonymous and denied requests -------------------------------------------------------------------
	{name: "anonymous-probe", what: "anonymous curl: /version, /healthz and /readyz (allowed), then /api, the pods of all namespaces and kube-system's secrets (forbidden)",
		run: func(s *session) error {
			return steps(
				func() error { return wantCode(200)(s.raw(anonymous, uaCurl, "GET", "/version", nil)) },
				func() error { return wantCode(200)(s.raw(anonymous, uaCurl, "GET", "/healthz", nil)) },
				func() error { return wantCode(200)(s.raw(anonymous, uaCurl, "GET", "/readyz", nil)) },
				func() error { return wantCode(403)(s.raw(anonymous, uaCurl, "GET", "/api", nil)) },
				func() error { return wantCode(403)(s.raw(anonymous, uaCurl, "GET", "/api/v1/pods", nil)) },
				func() error {
					return wantCode(403)(s.raw(anonymous, uaCurl, "GET", "/api/v1/namespaces/kube-system/secrets", nil))
				},
			)
		}},
	{name: "forbidden-burst", what: "mallory runs `kubectl get secrets` and `kubectl get pods` in each of the 7 namespaces: 13 of the 14 forbidden",
		run: func(s *session) error {
			for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease", "monitoring", "ci", "prod"} {
				for _, r := range []string{"secrets", "pods"} {
					s.kubectl(mallory, "", "get", r, "-n", ns)
				}
			}
			return nil
		}},
}

// portForward runs `kubectl port-forward`, sends one request through the tunnel, then stops
// kubectl with SIGINT, as a user's Ctrl-C does.
func (s *session) portForward(p principal, ns, target, ports string) error {
	args := []string{"port-forward", "-n", ns, target, ports}
	cmd, stdout, stderr, err := s.kubectlCmd(p, "", args...)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	local := "127.0.0.1:" + strings.Split(ports, ":")[0]
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", local, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-errc:
			s.logKubectl(p, args, stdout.String(), stderr.String(), err)
			return fmt.Errorf("port-forward ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port-forward did not listen on %s", local)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + local + "/api/orders?limit=5")
	if err != nil {
		return fmt.Errorf("request through the tunnel: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.logf("through the tunnel: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-errc:
		s.logKubectl(p, args, stdout.String(), stderr.String(), err)
	case <-time.After(20 * time.Second):
		return fmt.Errorf("port-forward did not stop")
	}
	return nil
}

// edit runs `kubectl edit` with this program as the editor, applying recipe to the file.
func (s *session) edit(p principal, recipe string, args ...string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	os.Setenv("KUBE_EDITOR", self+" -edit-recipe "+recipe)
	defer os.Unsetenv("KUBE_EDITOR")
	return must(s.kubectl(p, "", append([]string{"edit"}, args...)...))
}

// editRecipes are the changes the person makes in the editor.
var editRecipes = map[string]func(string) string{
	"aws-auth": func(y string) string {
		return strings.Replace(y, "data:\n", "data:\n  mapUsers: |\n    - userarn: arn:aws:iam::444455556666:user/build-bot\n      username: build-bot\n      groups:\n      - system:masters\n", 1)
	},
	"coredns": func(y string) string {
		return strings.Replace(y, "forward . /etc/resolv.conf", "forward . 203.0.113.53", 1)
	},
	"app-config": func(y string) string { return strings.Replace(y, "LOG_LEVEL: info", "LOG_LEVEL: debug", 1) },
}

// rakkess does what `rakkess --namespace ns` does: discover the namespaced resources, then ask
// one SelfSubjectAccessReview per resource and verb, several at a time.
func (s *session) rakkess(p principal, ns string) error {
	cs := s.clientset(p, uaRakkess)
	lists, err := cs.Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		return err
	}
	type job struct{ group, resource, verb string }
	var jobs []job
	for _, l := range lists {
		gv := strings.SplitN(l.GroupVersion, "/", 2)
		group := ""
		if len(gv) == 2 {
			group = gv[0]
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			for _, v := range []string{"list", "create", "update", "delete"} {
				jobs = append(jobs, job{group, r.Name, v})
			}
		}
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(s.ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Group: j.group, Resource: j.resource, Verb: j.verb}},
			}, metav1.CreateOptions{})
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.logf("rakkess: %d access reviews", len(jobs))
	return firstErr
}

const validatingWebhook = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: image-policy.example.com
webhooks:
- name: image-policy.example.com
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Ignore
  timeoutSeconds: 5
  clientConfig:
    service:
      namespace: policy
      name: image-policy-webhook
      path: /validate
  rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["pods"]
  namespaceSelector:
    matchLabels:
      image-policy: enforced
`

func sidecarInjector() *admissionregistrationv1.MutatingWebhookConfiguration {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	path := "/inject"
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecar-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "sidecar-injector.mesh.example.com",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "mesh-system", Name: "sidecar-injector", Path: &path}},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mesh-injection": "enabled"}},
		}},
	}
}

const wildcardRole = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: break-glass
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
`

// jenkinsCSR is a CertificateSigningRequest manifest with a fresh key, as `openssl req` would make it.
func jenkinsCSR() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jenkins", Organization: []string{"ci"}}}, key)
	if err != nil {
		return "", err
	}
	req := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	return fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: jenkins
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 31536000
  usages:
  - client auth
`, b64(req)), nil
}
