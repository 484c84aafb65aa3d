// Package deploy tests the deployment files: the compose stack and the
// Kubernetes manifests parse, reference files that exist, use the
// exporter's real flags and ports, and the generated manifests match the
// rules and dashboards they come from.
package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/internal/manifests"
)

func TestGeneratedManifestsMatchSources(t *testing.T) {
	rules, dashboards, err := manifests.Sources("..")
	if err != nil || len(rules) == 0 || len(dashboards) == 0 {
		t.Fatalf("sources: %v %v %v", rules, dashboards, err)
	}
	rule, err := manifests.PrometheusRule(rules)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := manifests.DashboardsConfigMap(dashboards)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][]byte{"kubernetes/prometheusrule.yaml": rule, "kubernetes/dashboards-configmap.yaml": cm} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date with rules/ and dashboards/: run `make manifests`", file)
		}
	}
}

var (
	helpOnce sync.Once
	helpText map[string]string
	helpErr  error
)

// help returns the --help-long output of the exporter and the simulator,
// from the real binaries.
func help(t *testing.T) map[string]string {
	t.Helper()
	helpOnce.Do(func() {
		helpText = map[string]string{}
		dir, err := os.MkdirTemp("", "deploy-help")
		if err != nil {
			helpErr = err
			return
		}
		defer os.RemoveAll(dir)
		for _, cmd := range []string{"exporter", "simulator"} {
			bin := filepath.Join(dir, cmd)
			if out, err := exec.Command("go", "build", "-o", bin, "../cmd/"+cmd).CombinedOutput(); err != nil {
				helpErr = err
				t.Log(string(out))
				return
			}
			out, _ := exec.Command(bin, "--help-long").CombinedOutput()
			helpText[cmd] = string(out)
		}
	})
	if helpErr != nil {
		t.Fatal(helpErr)
	}
	return helpText
}

var flagName = regexp.MustCompile(`^(--[a-z][a-z0-9.-]*)`)

// checkFlags requires every --flag in args to appear in the help text.
func checkFlags(t *testing.T, where, helpText string, args []string) {
	t.Helper()
	for _, a := range args {
		m := flagName.FindStringSubmatch(a)
		if m == nil {
			continue
		}
		if !strings.Contains(helpText, m[1]+"=") && !strings.Contains(helpText, m[1]+" ") && !strings.Contains(helpText, "--[no-]"+strings.TrimPrefix(m[1], "--")) {
			t.Errorf("%s: flag %s is not one of the program's flags", where, m[1])
		}
	}
}

type composeFile struct {
	Services map[string]struct {
		Image      string   `yaml:"image"`
		Entrypoint []string `yaml:"entrypoint"`
		Command    []string `yaml:"command"`
		Volumes    []string `yaml:"volumes"`
		Ports      []string `yaml:"ports"`
	} `yaml:"services"`
}

func TestCompose(t *testing.T) {
	data, err := os.ReadFile("compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"etcd", "simulator", "exporter", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("no %s service", name)
		}
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			host, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(host, ".") {
				if _, err := os.Stat(filepath.Join("compose", host)); err != nil {
					t.Errorf("service %s mounts %s, which does not exist", name, host)
				}
			}
		}
	}
	h := help(t)
	exporter := c.Services["exporter"]
	checkFlags(t, "compose exporter", h["exporter"], exporter.Command)
	if !strings.Contains(strings.Join(exporter.Command, " "), "--web.listen-address=:9729") || !contains(exporter.Ports, "9729:9729") {
		t.Errorf("exporter must listen on and publish 9729: %v %v", exporter.Command, exporter.Ports)
	}
	checkFlags(t, "compose simulator", h["simulator"], c.Services["simulator"].Command)
	for _, name := range []string{"exporter", "simulator"} {
		if img := c.Services[name].Image; !strings.HasPrefix(img, "servicecomb_exporter:") {
			t.Errorf("compose %s runs image %q, not the one `make docker` builds (servicecomb_exporter:…)", name, img)
		}
	}
	if ep := c.Services["simulator"].Entrypoint; len(ep) == 0 || ep[0] != "/bin/servicecomb_simulator" {
		t.Errorf("compose simulator entrypoint %v: the image has /bin/servicecomb_simulator", ep)
	}
	if !strings.Contains(h["exporter"], `--web.listen-address=:9729`) {
		t.Error("the exporter's default port is no longer 9729: update the deployment files")
	}
	// The exporter's configuration loads.
	if _, err := config.Load("compose/exporter.yml"); err != nil {
		t.Errorf("compose/exporter.yml: %v", err)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Ports []struct {
			Name string `yaml:"name"`
			Port int    `yaml:"port"`
		} `yaml:"ports"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
		Template struct {
			Spec struct {
				Containers []struct {
					Image string   `yaml:"image"`
					Args  []string `yaml:"args"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
				} `yaml:"containers"`
				Volumes []struct {
					ConfigMap struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestKubernetesManifests(t *testing.T) {
	files, _ := filepath.Glob("kubernetes/*.yaml")
	objects := map[string]k8sObject{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var o k8sObject
		if err := yaml.Unmarshal(data, &o); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		objects[o.Kind+"/"+o.Metadata.Name] = o
	}
	for _, want := range []string{"Deployment/servicecomb-exporter", "Service/servicecomb-exporter", "ConfigMap/servicecomb-exporter",
		"ServiceMonitor/servicecomb-exporter", "PrometheusRule/servicecomb-exporter", "ConfigMap/servicecomb-exporter-dashboards"} {
		if _, ok := objects[want]; !ok {
			t.Errorf("no %s", want)
		}
	}
	d := objects["Deployment/servicecomb-exporter"]
	c := d.Spec.Template.Spec.Containers[0]
	version, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if want := "servicecomb_exporter:" + strings.TrimSpace(string(version)); c.Image != want {
		t.Errorf("deployment image %q, want %q (the version `make docker` tags)", c.Image, want)
	}
	checkFlags(t, "deployment", help(t)["exporter"], c.Args)
	if c.Ports[0].ContainerPort != 9729 || !contains(c.Args, "--web.listen-address=:9729") {
		t.Errorf("container port %v and args %v must agree on 9729", c.Ports, c.Args)
	}
	if d.Spec.Template.Spec.Volumes[0].ConfigMap.Name != "servicecomb-exporter" {
		t.Error("the deployment does not mount the exporter's ConfigMap")
	}
	if p := objects["Service/servicecomb-exporter"].Spec.Ports[0]; p.Name != "http" || p.Port != 9729 {
		t.Errorf("service port %+v", p)
	}
	if e := objects["ServiceMonitor/servicecomb-exporter"].Spec.Endpoints[0]; e.Port != "http" || e.Path != "/metrics" {
		t.Errorf("service monitor endpoint %+v", e)
	}
	cfg := objects["ConfigMap/servicecomb-exporter"].Data["config.yml"]
	if _, err := config.LoadBytes([]byte(cfg), "configmap config.yml"); err != nil {
		t.Errorf("the ConfigMap's config.yml does not load: %v", err)
	}
}
