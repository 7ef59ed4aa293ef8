package dashboards

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/plugin"
)

// pluginDir is where the Dockerfile installs the built plugin (dist/). The frontend build
// copies every src/**/*.json there (.config/bundler/copyFiles.ts), so the dashboards under it
// are the files of src/dashboards.
const pluginDir = "/var/lib/grafana/plugins/" + plugin.ID

// containerPaths maps paths inside the Grafana container to the repository: the bind mounts
// of docker-compose.yaml, and the plugin directory built from src.
func containerPaths(t *testing.T) map[string]string {
	t.Helper()
	var compose struct {
		Services map[string]struct {
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join(root, "docker-compose.yaml"), &compose)
	mounts := map[string]string{}
	for _, s := range compose.Services {
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
				continue
			}
			mounts[parts[1]] = filepath.Join(root, parts[0])
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "/build/dist/ "+pluginDir+"/") {
		t.Errorf("the Dockerfile no longer installs dist/ at %s: update this test's mapping", pluginDir)
	}
	mounts[pluginDir] = filepath.Join(root, "src")
	return mounts
}

// hostPath resolves a container path through the longest matching mount.
func hostPath(t *testing.T, mounts map[string]string, p string) string {
	t.Helper()
	keys := make([]string, 0, len(mounts))
	for k := range mounts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if p == k || strings.HasPrefix(p, k+"/") {
			return filepath.Join(mounts[k], strings.TrimPrefix(p, k))
		}
	}
	t.Errorf("%s is neither mounted by docker-compose.yaml nor in the plugin directory", p)
	return ""
}

// TestProvisioningReferences checks that what docker compose provisions points at files that
// exist: the datasource's audit log directory, the dashboards providers' directories (the
// bundled dashboards among them) and the alert rule files' datasource.
func TestProvisioningReferences(t *testing.T) {
	mounts := containerPaths(t)
	generated := generatedPaths(t)
	provDir := hostPath(t, mounts, "/etc/grafana/provisioning")
	if provDir == "" {
		t.Fatal("provisioning is not mounted at /etc/grafana/provisioning")
	}

	var dsFile struct {
		Datasources []struct {
			UID, Type string
			JSONData  struct {
				File struct {
					Paths []string `yaml:"paths"`
				} `yaml:"file"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(provDir, "datasources", "datasources.yml"), &dsFile)
	for _, d := range dsFile.Datasources {
		if d.Type != plugin.ID {
			continue
		}
		for _, p := range d.JSONData.File.Paths {
			if generated[p] {
				continue
			}
			dir := hostPath(t, mounts, p)
			logs, _ := filepath.Glob(filepath.Join(dir, "audit*.log*"))
			if len(logs) == 0 {
				t.Errorf("datasource %s: no audit logs in %s (%s)", d.UID, p, dir)
			}
		}
	}

	var dashFile struct {
		Providers []struct {
			Name    string
			Type    string
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(provDir, "dashboards", "dashboards.yml"), &dashFile)
	provisioned := map[string]bool{}
	for _, p := range dashFile.Providers {
		dir := hostPath(t, mounts, p.Options.Path)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Errorf("dashboards provider %s: %s (%s) is not a directory: %v", p.Name, p.Options.Path, dir, err)
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			provisioned[path.Base(f)] = true
		}
	}
	for name := range loadDashboards(t) {
		if !provisioned[name] {
			t.Errorf("bundled dashboard %s is not provisioned by any dashboards provider", name)
		}
	}

	alertFiles, _ := filepath.Glob(filepath.Join(provDir, "alerting", "*.y*ml"))
	if len(alertFiles) == 0 {
		t.Error("no alert rule files provisioned")
	}
}

// generatedPaths are the directories the image's entrypoint fills at start (fresh sample logs):
// the Dockerfile must both create them and run the generator into them.
func generatedPaths(t *testing.T) map[string]bool {
	t.Helper()
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(dockerfile), "\n") {
		if !strings.HasPrefix(line, "ENTRYPOINT") || !strings.Contains(line, "k8saudit-auditgen -out ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/var/lib/grafana/") && strings.HasSuffix(f, "/audit.log") {
				out[filepath.Dir(f)] = true
			}
		}
	}
	if len(out) == 0 {
		t.Error("the Dockerfile's entrypoint no longer generates live sample logs")
	}
	return out
}
