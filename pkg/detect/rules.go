package detect

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

var workloadResources = []string{"pods", "deployments", "daemonsets", "statefulsets", "replicasets", "jobs", "cronjobs", "replicationcontrollers"}

var catalogue = []*Rule{
	{
		ID: "exec-into-pod", Title: "Exec or attach into a pod", Severity: Medium,
		Prefilter:      &Prefilter{Resources: []string{"pods"}, Subresources: []string{"exec", "attach"}},
		Description:    "Someone opened a shell or attached to a container: the most direct way into a workload.",
		Fields:         []string{"user", "namespace", "name", "detail (command and container)"},
		stream:         true,
		withoutStarted: "see a session only when it ends (one still open is missed)",
		eval: func(e *event, emit func(Finding)) {
			if !e.is("pods") || (string(e.sub) != "exec" && string(e.sub) != "attach") || !e.streamStage() {
				return
			}
			x, _ := audit.ParseExec(string(e.sub), string(e.uri))
			emit(e.finding(execDetail(x, e.code)))
		},
	},
	{
		ID: "risky-exec-command", Title: "Risky command run in a pod", Severity: High,
		Prefilter:      &Prefilter{Resources: []string{"pods"}, Subresources: []string{"exec"}},
		Description:    "An exec ran a shell, a downloader, or read service-account tokens, kubeconfigs or the cloud metadata endpoint.",
		Fields:         []string{"user", "namespace", "name", "detail (command and why it is risky)"},
		stream:         true,
		withoutStarted: "see a session only when it ends (one still open is missed)",
		eval: func(e *event, emit func(Finding)) {
			if !e.is("pods") || string(e.sub) != "exec" || !e.streamStage() {
				return
			}
			x, _ := audit.ParseExec(string(e.sub), string(e.uri))
			if why := riskyCommand(x.Command); why != "" {
				emit(e.finding(why + ": " + execDetail(x, e.code)))
			}
		},
	},
	{
		ID: "port-forward", Title: "Port-forward to a pod", Severity: Medium,
		Prefilter:      &Prefilter{Resources: []string{"pods"}, Subresources: []string{"portforward"}},
		Description:    "A port-forward tunnels traffic from the client into a pod, around network policies and ingress.",
		Fields:         []string{"user", "namespace", "name"},
		stream:         true,
		withoutStarted: "see a session only when it ends (one still open is missed)",
		eval: func(e *event, emit func(Finding)) {
			if e.is("pods") && string(e.sub) == "portforward" && e.streamStage() {
				emit(e.finding("port-forward" + codeSuffix(e.code)))
			}
		},
	},
	{
		ID: "ephemeral-container", Title: "Ephemeral container added to a pod", Severity: Medium,
		Prefilter:   &Prefilter{Resources: []string{"pods"}, Subresources: []string{"ephemeralcontainers"}, Verbs: writeVerbs},
		Description: "kubectl debug adds an ephemeral container, which can run any image in a running pod's namespaces.",
		Fields:      []string{"user", "namespace", "name"},
		eval: func(e *event, emit func(Finding)) {
			if e.is("pods") && string(e.sub) == "ephemeralcontainers" && e.final && e.succeeded() && (e.writes()) {
				emit(withBody(e.finding("ephemeral container added"), e))
			}
		},
	},
	{
		ID: "node-proxy", Title: "Access through nodes/proxy", Severity: High,
		Prefilter:   &Prefilter{Resources: []string{"nodes"}, Subresources: []string{"proxy"}},
		Description: "nodes/proxy reaches the kubelet API directly (exec, logs, pods) and bypasses admission and most audit.",
		Fields:      []string{"user", "name (node)", "detail (path)"},
		eval: func(e *event, emit func(Finding)) {
			// Monitoring scrapes the kubelet's metrics and stats this way all day: only reads of
			// those endpoints are left out.
			if e.is("nodes") && string(e.sub) == "proxy" && e.final && e.succeeded() && !kubeletMetricsRead(e) {
				emit(e.finding("kubelet API via " + string(e.uri)))
			}
		},
	},
	{
		ID: "secret-read-unexpected", Title: "Secret read by an unexpected principal", Severity: Medium,
		Prefilter:   &Prefilter{Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}},
		Description: "A secret was read by a person, a node (listing, or its credentials used by another client than the kubelet), a namespace's default service account (what pods run as unless they name one) or a scripting client, rather than by a controller.",
		Fields:      []string{"user", "user agent", "namespace", "name"},
		eval: func(e *event, emit func(Finding)) {
			if !e.is("secrets") || len(e.sub) > 0 || !e.final || !e.succeeded() || !slices.Contains([]string{"get", "list", "watch"}, string(e.verb)) {
				return
			}
			var why string
			switch {
			case scriptingAgent(e.ua):
				why = "scripting client " + string(e.ua)
			case e.kind == audit.UserHuman:
				why = "read by a person"
			case e.kind == audit.UserNode && string(e.verb) == "list":
				why = "listed by a node"
			case e.kind == audit.UserNode && !bytes.HasPrefix(e.lowerUA(), []byte("kubelet/")):
				why = "a node's credentials used by " + string(e.ua) + ", not by the kubelet"
			case e.kind == audit.UserAnonymous:
				why = "read anonymously"
			case e.kind == audit.UserServiceAccount && bytes.HasSuffix(e.user, []byte(":default")):
				why = "read by the default service account of " + string(bytes.TrimSuffix(bytes.TrimPrefix(e.user, []byte("system:serviceaccount:")), []byte(":default")))
			default:
				return
			}
			emit(e.finding(why))
		},
	},
	{
		ID: "secrets-list-wide", Title: "Cluster-wide or kube-system secrets listed", Severity: High,
		Prefilter:   &Prefilter{Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}},
		Description: "Listing every secret of the cluster or of kube-system hands over the credentials of the control plane.",
		Fields:      []string{"user", "namespace"},
		eval: func(e *event, emit func(Finding)) {
			if !e.is("secrets") || !e.final || !e.succeeded() || (string(e.verb) != "list" && string(e.verb) != "watch") || isSystemUser(e.kind) ||
				singleObject(e.uri) {
				return
			}
			switch {
			case len(e.ns) == 0:
				emit(e.finding("secrets " + string(e.verb) + " across all namespaces"))
			case string(e.ns) == "kube-system":
				emit(e.finding("secrets " + string(e.verb) + " in kube-system"))
			}
		},
	},
	{
		ID: "many-secrets-read", Title: "One principal read many distinct secrets", Severity: High,
		Prefilter:   &Prefilter{Resources: []string{"secrets"}, Verbs: []string{"get"}},
		Description: "A principal read many different secrets within a short window: credential harvesting.",
		Fields:      []string{"user", "detail (how many, which window)"},
		collect: func(e *event) (candidate, bool) {
			if !e.is("secrets") || string(e.verb) != "get" || !e.final || !e.succeeded() || isSystemUser(e.kind) || e.kind == audit.UserServiceAccount && strings.HasPrefix(string(e.user), "system:serviceaccount:kube-system:") {
				return candidate{}, false
			}
			return candidate{key: string(e.user), item: string(e.ns) + "/" + string(e.name), f: e.finding("")}, true
		},
		apart: func(cfg Config) time.Duration { return burstApart(cfg.SecretsWindow, cfg.SecretsThreshold) },
		live:  func(cs []kept, cfg Config) []bool { return inBursts(cs, cfg.SecretsWindow, cfg.SecretsThreshold, true) },
		decide: func(cands []kept, cfg Config, emit func(Finding)) {
			distinctBursts(cands, cfg.SecretsWindow, cfg.SecretsThreshold, func(first, last *kept, n int) {
				f := last.finding()
				f.Detail = fmt.Sprintf("%d distinct secrets read within %s", n, span(first, last))
				emit(f)
			})
		},
	},
	{
		ID: "anonymous-allowed", Title: "Anonymous request allowed", Severity: High,
		// No prefilter: the rule also takes any user in group system:unauthenticated, and a filter cannot say "this user or that group".
		Description: "An unauthenticated request was allowed on something other than a health or discovery endpoint.",
		Fields:      []string{"source IP", "verb", "resource", "detail (URI)"},
		eval: func(e *event, emit func(Finding)) {
			if !e.final || !e.succeeded() || !(string(e.user) == "system:anonymous" || e.inGroup("system:unauthenticated")) {
				return
			}
			if healthEndpoint(string(e.uri)) {
				return
			}
			emit(e.finding("allowed for an anonymous user: " + string(e.uri)))
		},
	},
	{
		ID: "denied-burst", Title: "Burst of 401/403 from one source", Severity: Medium,
		Prefilter:   &Prefilter{Codes: []string{"401", "403"}},
		Description: "Many denied requests from one source IP or user within a short window: probing or a broken credential.",
		Fields:      []string{"source IP or user", "detail (how many, window, public IP)"},
		// WithFailedAuthenticationAudit writes a failed authentication as one ResponseStarted event.
		withoutStarted: "misses failed authentications (401), which kube-apiserver audits only at ResponseStarted",
		collect: func(e *event) (candidate, bool) {
			if !e.final || (e.code != 401 && e.code != 403) {
				return candidate{}, false
			}
			f := e.finding("")
			key := "ip " + f.SourceIP
			if e.code == 403 && len(e.user) > 0 {
				key = "user " + f.User
			}
			return candidate{key: key, f: f}, true
		},
		apart: func(cfg Config) time.Duration { return burstApart(cfg.BurstWindow, cfg.BurstThreshold) },
		live:  func(cs []kept, cfg Config) []bool { return inBursts(cs, cfg.BurstWindow, cfg.BurstThreshold, false) },
		decide: func(cands []kept, cfg Config, emit func(Finding)) {
			bursts(cands, cfg.BurstWindow, cfg.BurstThreshold, func(first, last *kept, n int) {
				f := last.finding()
				f.Detail = fmt.Sprintf("%d denied requests from %s within %s", n, strings.TrimPrefix(strings.TrimPrefix(last.key, "ip "), "user "), span(first, last))
				if publicIP(f.SourceIP) {
					f.Detail += " (public IP)"
				}
				emit(f)
			})
		},
	},
	{
		ID: "binding-privileged", Title: "Binding to cluster-admin, a wildcard role or an anonymous subject", Severity: Critical,
		Prefilter:   &Prefilter{Resources: []string{"clusterrolebindings", "rolebindings"}, Verbs: writeVerbs},
		Description: "A (cluster) role binding grants cluster-admin or a wildcard role, or grants anything to system:anonymous, system:unauthenticated or system:authenticated.",
		Fields:      []string{"user", "name", "detail (role and subjects)"},
		NeedsBody:   []string{"clusterrolebindings", "rolebindings"},
		eval: func(e *event, emit func(Finding)) {
			if !e.is("clusterrolebindings", "rolebindings") || !e.final || !e.succeeded() || !e.writes() {
				return
			}
			b, ok := decodeBody[binding](e.r.RequestObject())
			if !ok {
				return
			}
			var why []string
			if b.RoleRef.Name == "cluster-admin" || b.RoleRef.Name == "admin" && string(e.resource) == "clusterrolebindings" {
				why = append(why, "grants "+b.RoleRef.Kind+" "+b.RoleRef.Name)
			}
			for _, s := range b.Subjects {
				switch s.Name {
				case "system:anonymous", "system:unauthenticated", "system:authenticated":
					why = append(why, "grants "+b.RoleRef.Name+" to "+s.Name)
				}
			}
			if len(why) > 0 {
				emit(e.finding(strings.Join(why, "; ")))
			}
		},
	},
	{
		ID: RoleRule, Title: "Binding to a wildcard role", Severity: Critical,
		Prefilter:   &Prefilter{Resources: rbacResources, Verbs: changeVerbs},
		Description: "A binding grants a role whose rules allow every verb or every resource. Audit logs hold no RBAC state: the role is known from its writes within the range and within the datasource's RBAC look-back before it.",
		Fields:      []string{"user", "name", "detail (the role and its wildcards)"},
		NeedsBody:   []string{"clusterrolebindings", "rolebindings", "clusterroles", "roles"},
		collect: func(e *event) (candidate, bool) {
			if w, ok := roleWrite(e); ok {
				return candidate{key: w.Key, item: roleItem(w), f: Finding{Time: w.Time}}, true
			}
			if !e.is("clusterrolebindings", "rolebindings") || !e.final || !e.succeeded() || !e.writes() {
				return candidate{}, false
			}
			b, ok := decodeBody[binding](e.r.RequestObject())
			if !ok || b.RoleRef.Name == "" || b.RoleRef.Name == "cluster-admin" { // binding-privileged reports those
				return candidate{}, false
			}
			ns := ""
			if b.RoleRef.Kind == "Role" {
				ns = string(e.ns)
				if ns == "" {
					ns = b.Metadata.Namespace
				}
			}
			f := e.finding("grants " + b.RoleRef.Kind + " " + b.RoleRef.Name + ", whose rules use wildcards")
			return candidate{key: b.RoleRef.Kind + "/" + ns + "/" + b.RoleRef.Name, item: "binding", f: f}, true
		},
		decide: func(cands []kept, cfg Config, emit func(Finding)) {
			roles := newRoleTimeline(cfg.RoleHistory, cands)
			for i := range cands {
				c := &cands[i]
				if c.item != "binding" {
					continue
				}
				if w, ok := roles.at(c.key, c.time()); ok && w.Wild && !w.Deleted {
					f := c.finding()
					if w.Time.Before(f.Time) && f.Time.Sub(w.Time) > time.Minute {
						f.Detail += " (role written " + w.Time.UTC().Format(time.RFC3339) + ")"
					}
					emit(f)
				}
			}
		},
		notes: func(cands []kept, cfg Config) []string {
			roles := newRoleTimeline(cfg.RoleHistory, cands)
			var unknown []string
			for i := range cands {
				c := &cands[i]
				if c.item == "binding" && !wellKnownRole(c.key) && !slices.Contains(unknown, c.key) {
					if _, ok := roles.at(c.key, c.time()); !ok {
						unknown = append(unknown, c.key)
					}
				}
			}
			if len(unknown) == 0 {
				return nil
			}
			slices.Sort(unknown)
			names := make([]string, len(unknown))
			for i, k := range unknown {
				kind, rest, _ := strings.Cut(k, "/")
				ns, name, _ := strings.Cut(rest, "/")
				names[i] = kind + " " + name
				if ns != "" {
					names[i] = kind + " " + ns + "/" + name
				}
			}
			where := "within the range"
			if cfg.RoleLookback > 0 {
				where = "within the range or the " + cfg.RoleLookback.String() + " RBAC look-back before it"
			}
			return []string{fmt.Sprintf("%s: %d bindings grant roles whose rules were not written %s, so they could not be judged: %s",
				RoleRule, len(unknown), where, short(names))}
		},
	},
	{
		ID: "role-dangerous", Title: "Role with wildcards or escalation rights", Severity: High,
		Prefilter:   &Prefilter{Resources: []string{"clusterroles", "roles"}, Verbs: writeVerbs},
		Description: "A role was created or changed with wildcards, escalate/bind/impersonate, pods/exec, or rights over RBAC itself.",
		Fields:      []string{"user", "name", "detail (the dangerous rules)"},
		NeedsBody:   []string{"clusterroles", "roles"},
		eval: func(e *event, emit func(Finding)) {
			if !e.is("clusterroles", "roles") || !e.final || !e.succeeded() || !e.writes() {
				return
			}
			r, ok := decodeBody[role](e.r.RequestObject())
			if !ok {
				return
			}
			if why := dangerousRules(r.Rules); len(why) > 0 {
				emit(e.finding(strings.Join(why, "; ")))
			}
		},
	},
	{
		ID: "system-role-modified", Title: "Built-in system role or binding changed", Severity: High,
		Prefilter:   &Prefilter{Resources: rbacResources, Verbs: []string{"update", "patch", "delete"}, Names: []string{"system:*"}},
		Description: "A system:* role or binding was modified or deleted by someone other than the control plane.",
		Fields:      []string{"user", "name"},
		eval: func(e *event, emit func(Finding)) {
			if !e.is("clusterroles", "roles", "clusterrolebindings", "rolebindings") || !e.final || !e.succeeded() || isSystemUser(e.kind) {
				return
			}
			v := string(e.verb)
			if (v == "update" || v == "patch" || v == "delete") && strings.HasPrefix(string(e.name), "system:") {
				emit(e.finding(v + " of " + string(e.name)))
			}
		},
	},
	{
		ID: "rbac-then-workload", Title: "RBAC change followed by a workload change", Severity: High,
		Prefilter:   &Prefilter{Resources: append(slices.Clone(rbacResources), workloadResources...), Verbs: changeVerbs},
		Description: "The same user changed RBAC and then created or changed a workload within minutes: a typical escalation sequence.",
		Fields:      []string{"user", "detail (the RBAC change and the workload)"},
		collect: func(e *event) (candidate, bool) {
			if !e.final || !e.succeeded() || isSystemUser(e.kind) || !(e.writes() || string(e.verb) == "delete") {
				return candidate{}, false
			}
			switch {
			case e.is("clusterroles", "roles", "clusterrolebindings", "rolebindings"):
				return candidate{key: string(e.user), item: "rbac", f: e.finding(string(e.verb) + " " + string(e.resource) + " " + string(e.name))}, true
			case e.is(workloadResources...) && len(e.sub) == 0 && string(e.verb) != "delete":
				return candidate{key: string(e.user), item: "workload", f: withBody(e.finding(""), e)}, true
			}
			return candidate{}, false
		},
		apart: func(cfg Config) time.Duration { return cfg.SequenceWindow },
		live: func(cs []kept, cfg Config) []bool {
			// A workload change with no RBAC change of its user within the window before it
			// neither is a finding nor changes which RBAC change the next one follows.
			live := make([]bool, len(cs))
			last := -1
			for i := range cs {
				if cs[i].item == "rbac" {
					last = i
				}
				live[i] = last >= 0 && cs[i].sub(&cs[last]) <= cfg.SequenceWindow
			}
			return live
		},
		decide: func(cands []kept, cfg Config, emit func(Finding)) {
			lastRBAC := map[string]*kept{}
			for i := range cands {
				c := &cands[i]
				if c.item == "rbac" {
					lastRBAC[c.key] = c
					continue
				}
				r, ok := lastRBAC[c.key]
				if !ok || c.sub(r) > cfg.SequenceWindow {
					continue
				}
				f := c.finding()
				f.Detail = fmt.Sprintf("%s %s %s/%s %s after %s", f.Verb, f.Resource, f.Namespace, f.Name, c.sub(r).Round(1e9), r.str(sDetail))
				emit(f)
				delete(lastRBAC, c.key) // one finding per RBAC change
			}
		},
	},
	{
		ID: "privileged-workload", Title: "Privileged or host-access workload", Severity: High,
		Prefilter:   &Prefilter{Resources: workloadResources, Verbs: writeVerbs},
		Description: "A pod or pod template is privileged, shares the host's network/PID/IPC, adds dangerous capabilities or mounts a sensitive host path.",
		Fields:      []string{"user", "namespace", "name", "detail (what and in which container)"},
		NeedsBody:   workloadResources,
		eval: func(e *event, emit func(Finding)) {
			if !e.is(workloadResources...) || len(e.sub) > 0 || !e.final || !e.succeeded() || !(string(e.verb) == "create" || string(e.verb) == "update") {
				return
			}
			w, ok := decodeBody[workload](e.r.RequestObject())
			if !ok {
				return
			}
			why, images := podRisks(w.pod())
			if len(why) == 0 {
				return
			}
			f := e.finding(strings.Join(why, "; "))
			if f.Name == "" {
				f.Name = w.Metadata.Name
			}
			f.Images, f.generateName = images, w.Metadata.GenerateName
			emit(f)
		},
	},
	{
		ID: "system-namespace-workload", Title: "Workload or service account created in kube-system or kube-public", Severity: Medium,
		Prefilter:   &Prefilter{Resources: append([]string{"serviceaccounts"}, workloadResources...), Verbs: []string{"create"}, Namespaces: []string{"kube-system", "kube-public"}},
		Description: "Something other than the control plane created a workload or service account in a system namespace.",
		Fields:      []string{"user", "namespace", "name"},
		eval: func(e *event, emit func(Finding)) {
			ns := string(e.ns)
			if (ns != "kube-system" && ns != "kube-public") || string(e.verb) != "create" || !e.final || !e.succeeded() || len(e.sub) > 0 {
				return
			}
			// kube-system is the control plane's own: its controllers and nodes create there.
			// kube-public holds no workloads at all, whoever creates them.
			if ns == "kube-system" && (isSystemUser(e.kind) || strings.HasPrefix(string(e.user), "system:serviceaccount:kube-system:") || e.kind == audit.UserNode) {
				return
			}
			switch {
			case e.is("serviceaccounts"):
				emit(e.finding(string(e.resource) + " created in " + ns))
			case e.is(workloadResources...):
				emit(withBody(e.finding(string(e.resource)+" created in "+ns), e))
			}
		},
	},
	{
		ID: "impersonation-privileged", Title: "Impersonation of a privileged identity", Severity: High,
		// No prefilter: no filter field holds the impersonated user.
		Description: "A request impersonated system:masters, a system:* user or cluster-admin.",
		Fields:      []string{"user", "detail (who was impersonated)"},
		eval: func(e *event, emit func(Finding)) {
			imp := string(e.r.Str(audit.FieldImpersonatedUsername))
			if imp == "" || !e.final || !e.succeeded() {
				return
			}
			privileged := privilegedIdentity(imp)
			e.r.EachImpersonatedGroup(func(g []byte) {
				if string(g) == "system:masters" {
					privileged = true
				}
			})
			if privileged {
				emit(e.finding(string(e.user) + " acted as " + imp))
			}
		},
	},
	{
		ID: "admission-or-auth-config-change", Title: "Admission webhook, aws-auth or CoreDNS configuration changed", Severity: High,
		Prefilter:   &Prefilter{Resources: []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings", "configmaps"}, Verbs: changeVerbs},
		Description: "Changes to admission webhooks, the EKS aws-auth map or CoreDNS alter who gets in and what runs.",
		Fields:      []string{"user", "resource", "name"},
		eval: func(e *event, emit func(Finding)) {
			if !e.final || !e.succeeded() || !(e.writes() || string(e.verb) == "delete") || isSystemUser(e.kind) {
				return
			}
			switch {
			case e.is("mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings"):
				emit(e.finding(string(e.verb) + " " + string(e.resource) + " " + string(e.name)))
			case e.is("configmaps") && string(e.ns) == "kube-system" && (string(e.name) == "aws-auth" || string(e.name) == "coredns"):
				emit(e.finding(string(e.verb) + " kube-system/" + string(e.name)))
			}
		},
	},
	{
		ID: "token-or-csr", Title: "Service-account token or certificate requested by an unusual principal", Severity: Medium,
		Prefilter:   &Prefilter{Resources: []string{"serviceaccounts", "certificatesigningrequests"}, Verbs: writeVerbs},
		Description: "A person or script created a service-account token (TokenRequest) or created/approved a certificate signing request.",
		Fields:      []string{"user", "namespace", "name"},
		eval: func(e *event, emit func(Finding)) {
			if !e.final || !e.succeeded() || isSystemUser(e.kind) || e.kind == audit.UserNode {
				return
			}
			switch {
			case e.is("serviceaccounts") && string(e.sub) == "token" && string(e.verb) == "create" && e.kind != audit.UserServiceAccount:
				emit(e.finding("token requested for service account " + string(e.ns) + "/" + string(e.name)))
			case e.is("certificatesigningrequests") && string(e.sub) == "approval" && e.writes():
				emit(e.finding("approved certificate signing request " + string(e.name)))
			case e.is("certificatesigningrequests") && len(e.sub) == 0 && string(e.verb) == "create" && e.kind == audit.UserHuman:
				emit(e.finding("created certificate signing request " + string(e.name)))
			}
		},
	},
	{
		ID: "events-deleted", Title: "Kubernetes events deleted", Severity: Medium,
		Prefilter:   &Prefilter{Resources: []string{"events"}, Verbs: []string{"delete", "deletecollection"}},
		Description: "Deleting events erases the trail of what happened in a namespace (anti-forensics).",
		Fields:      []string{"user", "namespace"},
		eval: func(e *event, emit func(Finding)) {
			if e.is("events") && (string(e.verb) == "delete" || string(e.verb) == "deletecollection") && e.final && e.succeeded() && !isSystemUser(e.kind) {
				emit(e.finding(string(e.verb) + " events"))
			}
		},
	},
	{
		ID: "permission-enumeration", Title: "Permission enumeration", Severity: Medium,
		// No prefilter: the sweep weighs every read of every principal.
		Description: "A known enumeration tool, a request for every permission at once (kubectl auth can-i --list), a burst of access reviews, or a sweep that reads many resource types and meets a mix of allowed and forbidden answers: mapping what a credential can do.",
		Fields:      []string{"user", "user agent", "detail (tool, reviews, or the forbidden and allowed resource types)"},
		state:       newSweepState,
		collect: func(e *event) (candidate, bool) {
			if !e.final || !e.is("selfsubjectaccessreviews", "selfsubjectrulesreviews") || string(e.verb) != "create" {
				return candidate{}, false
			}
			return candidate{key: string(e.user), f: e.finding("")}, true
		},
		apart: func(cfg Config) time.Duration { return burstApart(cfg.BurstWindow, cfg.BurstThreshold) },
		live:  func(cs []kept, cfg Config) []bool { return inBursts(cs, cfg.BurstWindow, cfg.BurstThreshold, false) },
		decide: func(cands []kept, cfg Config, emit func(Finding)) {
			bursts(cands, cfg.BurstWindow, cfg.BurstThreshold, func(first, last *kept, n int) {
				f := last.finding()
				f.Detail = fmt.Sprintf("%d access reviews within %s", n, span(first, last))
				emit(f)
			})
		},
	},
	{
		ID: "nodeport-service", Title: "NodePort service created", Severity: Low,
		Prefilter:   &Prefilter{Resources: []string{"services"}, Verbs: writeVerbs},
		Description: "A NodePort service opens a port on every node, often outside the ingress and firewall plan.",
		Fields:      []string{"user", "namespace", "name", "detail (ports)"},
		NeedsBody:   []string{"services"},
		eval: func(e *event, emit func(Finding)) {
			if !e.is("services") || len(e.sub) > 0 || !e.final || !e.succeeded() || !e.writes() {
				return
			}
			s, ok := decodeBody[service](e.r.RequestObject())
			if ok && s.Spec.Type == "NodePort" {
				var ports []string
				for _, p := range s.Spec.Ports {
					if p.NodePort != 0 {
						ports = append(ports, fmt.Sprint(p.NodePort))
					}
				}
				emit(e.finding("type NodePort " + strings.Join(ports, ",")))
			}
		},
	},
	{
		ID: "configmap-credentials", Title: "ConfigMap that looks like it holds credentials", Severity: Medium,
		Prefilter:   &Prefilter{Resources: []string{"configmaps"}, Verbs: writeVerbs},
		Description: "Credentials belong in secrets: a ConfigMap whose keys name passwords, tokens or keys is readable by far more principals.",
		Fields:      []string{"user", "namespace", "name", "detail (the keys)"},
		NeedsBody:   []string{"configmaps"},
		eval: func(e *event, emit func(Finding)) {
			if !e.is("configmaps") || !e.final || !e.succeeded() || !e.writes() {
				return
			}
			cm, ok := decodeBody[configMap](e.r.RequestObject())
			if !ok {
				return
			}
			var keys []string
			for k, v := range cm.Data {
				if credentialKey(k) || credentialValue(v) {
					keys = append(keys, k)
				}
			}
			if len(keys) > 0 {
				slices.Sort(keys)
				emit(e.finding("credential-like keys: " + strings.Join(keys, ", ")))
			}
		},
	},
	{
		ID: "system-identity-public-ip", Title: "System identity calling from a public IP", Severity: High,
		Prefilter:   &Prefilter{Users: []string{"system:*", "eks:*"}},
		Description: "Control-plane and EKS identities (system:*, eks:*) call from inside the cluster; one calling from the internet is a stolen credential.",
		Fields:      []string{"user", "source IP"},
		eval: func(e *event, emit func(Finding)) {
			if !e.final || !(strings.HasPrefix(string(e.user), "system:") || strings.HasPrefix(string(e.user), "eks:")) || string(e.user) == "system:anonymous" {
				return
			}
			if ip := e.r.SourceIP(); !obviouslyPrivate(ip) && publicIP(string(ip)) {
				emit(e.finding(string(e.user) + " from public IP " + string(ip)))
			}
		},
	},
}
