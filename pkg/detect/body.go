package detect

import (
	"slices"

	gojson "github.com/goccy/go-json"
)

// The parts of request bodies the rules read. Decoded only for the few requests a rule is
// about (pod and workload creations, RBAC changes, services, config maps).

type objectMeta struct {
	Name         string `json:"name"`
	GenerateName string `json:"generateName"`
	Namespace    string `json:"namespace"`
}

type container struct {
	Name            string `json:"name"`
	Image           string `json:"image"`
	SecurityContext *struct {
		Privileged               *bool `json:"privileged"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		Capabilities             *struct {
			Add []string `json:"add"`
		} `json:"capabilities"`
	} `json:"securityContext"`
}

type podSpec struct {
	HostNetwork         bool        `json:"hostNetwork"`
	HostPID             bool        `json:"hostPID"`
	HostIPC             bool        `json:"hostIPC"`
	Containers          []container `json:"containers"`
	InitContainers      []container `json:"initContainers"`
	EphemeralContainers []container `json:"ephemeralContainers"`
	Volumes             []struct {
		Name     string `json:"name"`
		HostPath *struct {
			Path string `json:"path"`
		} `json:"hostPath"`
	} `json:"volumes"`
}

// workload is a pod or a controller with a pod template (Deployment, DaemonSet, StatefulSet,
// ReplicaSet, Job, ReplicationController) or a CronJob.
type workload struct {
	Kind     string     `json:"kind"`
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		podSpec
		Template *struct {
			Spec podSpec `json:"spec"`
		} `json:"template"`
		JobTemplate *struct {
			Spec struct {
				Template struct {
					Spec podSpec `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

// pod returns the pod spec of a workload body.
func (w *workload) pod() *podSpec {
	switch {
	case w.Spec.Template != nil:
		return &w.Spec.Template.Spec
	case w.Spec.JobTemplate != nil:
		return &w.Spec.JobTemplate.Spec.Template.Spec
	}
	return &w.Spec.podSpec
}

// images lists the images of the pod spec's containers (init, then app, then ephemeral), each
// once.
func (p *podSpec) images() []string {
	var out []string
	for _, group := range [][]container{p.InitContainers, p.Containers, p.EphemeralContainers} {
		for _, c := range group {
			if c.Image != "" && !slices.Contains(out, c.Image) {
				out = append(out, c.Image)
			}
		}
	}
	return out
}

type policyRule struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}

type role struct {
	Metadata objectMeta   `json:"metadata"`
	Rules    []policyRule `json:"rules"`
}

type binding struct {
	Metadata objectMeta `json:"metadata"`
	RoleRef  struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"roleRef"`
	Subjects []struct {
		Kind      string `json:"kind"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"subjects"`
}

type service struct {
	Spec struct {
		Type  string `json:"type"`
		Ports []struct {
			NodePort int `json:"nodePort"`
		} `json:"ports"`
	} `json:"spec"`
}

type configMap struct {
	Data map[string]string `json:"data"`
}

func decodeBody[T any](raw []byte) (*T, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var v T
	if err := gojson.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	return &v, true
}
