// Package deploy tests the deployment files against the schemas of the tools
// that read them: the compose stack loads with the Compose specification's
// own loader, every Kubernetes manifest decodes strictly into the API types
// (Kubernetes' and the Prometheus Operator's). They reference files and
// objects that exist, use the exporter's real flags and ports, and the
// generated manifests match the rules and dashboards they come from.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

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

// loadCompose loads a compose file with the Compose specification's own
// loader, which validates it against the specification's JSON schema: a
// misspelled or misplaced key fails. The environment is empty so the host's
// variables cannot change the result.
func loadCompose(t *testing.T, file string) (*composetypes.Project, error) {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(t.Context(), composetypes.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []composetypes.ConfigFile{{Filename: abs}},
		Environment: composetypes.Mapping{},
	})
}

func TestCompose(t *testing.T) {
	project, err := loadCompose(t, "compose/docker-compose.yml")
	if err != nil {
		t.Fatalf("compose/docker-compose.yml: %v", err)
	}
	for _, name := range []string{"etcd", "simulator", "exporter", "prometheus", "alertmanager", "grafana"} {
		if _, ok := project.Services[name]; !ok {
			t.Errorf("no %s service", name)
		}
	}
	for name, s := range project.Services {
		for _, v := range s.Volumes {
			// The loader made bind sources absolute, relative to compose/.
			if v.Type == composetypes.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("service %s mounts %s, which does not exist", name, v.Source)
				}
			}
		}
	}
	h := help(t)
	exporter := project.Services["exporter"]
	checkFlags(t, "compose exporter", h["exporter"], exporter.Command)
	published := false
	for _, p := range exporter.Ports {
		published = published || (p.Target == 9729 && p.Published == "9729")
	}
	if !contains(exporter.Command, "--web.listen-address=:9729") || !published {
		t.Errorf("exporter must listen on and publish 9729: %v %v", exporter.Command, exporter.Ports)
	}
	if hc := exporter.HealthCheck; hc == nil || len(hc.Test) < 3 || hc.Test[1] != "/bin/servicecomb_exporter" || hc.Test[2] != "healthcheck" {
		t.Errorf("compose exporter healthcheck %v: want the image's healthcheck command", hc)
	} else {
		checkFlags(t, "compose exporter healthcheck", h["exporter"], hc.Test)
	}
	checkFlags(t, "compose simulator", h["simulator"], project.Services["simulator"].Command)
	for _, name := range []string{"exporter", "simulator"} {
		if img := project.Services[name].Image; !strings.HasPrefix(img, "servicecomb_exporter:") {
			t.Errorf("compose %s runs image %q, not the one `make docker` builds (servicecomb_exporter:…)", name, img)
		}
	}
	if ep := project.Services["simulator"].Entrypoint; len(ep) == 0 || ep[0] != "/bin/servicecomb_simulator" {
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

// TestComposeLoaderRejects shows the compose check catches mistakes a
// hand-written struct would let through, each made once in a copy of the
// real file.
func TestComposeLoaderRejects(t *testing.T) {
	data, err := os.ReadFile("compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, from, to, want string }{
		{"misspelled service key", "    command: [\"--config.file", "    comand: [\"--config.file", "comand"},
		{"misspelled top-level key", "services:", "service:", "service"},
		{"wrong type", `ports: ["9729:9729"]`, `ports: "9729:9729"`, "ports"},
		{"bad port", `ports: ["9729:9729"]`, `ports: ["9729:http"]`, "containerPort"},
	} {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(string(data), c.from, c.to, 1)
			if broken == string(data) {
				t.Fatalf("%q is not in the compose file", c.from)
			}
			// The unmodified copy loads from the same place, so only the
			// mistake can fail the load.
			dir := t.TempDir()
			good, bad := filepath.Join(dir, "good.yml"), filepath.Join(dir, "bad.yml")
			if err := errors.Join(os.WriteFile(good, data, 0o600), os.WriteFile(bad, []byte(broken), 0o600)); err != nil {
				t.Fatal(err)
			}
			if _, err := loadCompose(t, good); err != nil {
				t.Fatalf("the unmodified copy fails: %v", err)
			}
			_, err := loadCompose(t, bad)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one about %q", err, c.want)
			}
		})
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

// decodeStrict decodes one Kubernetes object from YAML the way the API
// server's strict field validation does: unknown fields, duplicate fields and
// fields in the wrong case are errors.
func decodeStrict(data []byte, into any) error {
	j, err := sigsyaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, into, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// manifest is a decoded object of deploy/kubernetes, typed by its kind.
type manifest struct {
	file string
	obj  metav1.Object
}

// newObject returns the Go type of the API the object is for: Kubernetes'
// own for core and apps objects, the Prometheus Operator's for its CRDs.
func newObject(apiVersion, kind string) (metav1.Object, error) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case monitoringv1.SchemeGroupVersion.String() + " " + monitoringv1.ServiceMonitorsKind:
		return &monitoringv1.ServiceMonitor{}, nil
	case monitoringv1.SchemeGroupVersion.String() + " " + monitoringv1.PrometheusRuleKind:
		return &monitoringv1.PrometheusRule{}, nil
	}
	return nil, fmt.Errorf("no schema for apiVersion %q kind %q", apiVersion, kind)
}

func decodeManifest(data []byte) (metav1.Object, error) {
	var tm metav1.TypeMeta
	if err := sigsyaml.Unmarshal(data, &tm); err != nil {
		return nil, err
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, err
	}
	return obj, decodeStrict(data, obj)
}

// kubeObjects decodes every file of deploy/kubernetes strictly, by kind/name.
func kubeObjects(t *testing.T) map[string]manifest {
	t.Helper()
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in kubernetes/")
	}
	out := map[string]manifest{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if docs := strings.Count("\n"+string(data), "\n---"); docs > 0 {
			t.Errorf("%s: one object per file, please (found a --- separator)", f)
		}
		obj, err := decodeManifest(data)
		if err != nil {
			t.Errorf("%s does not match its API schema: %v", f, err)
			continue
		}
		kind := strings.TrimPrefix(fmt.Sprintf("%T", obj), "*")
		kind = kind[strings.LastIndex(kind, ".")+1:]
		out[kind+"/"+obj.GetName()] = manifest{file: f, obj: obj}
	}
	return out
}

func TestKubernetesManifests(t *testing.T) {
	objects := kubeObjects(t)
	for _, want := range []string{"Deployment/servicecomb-exporter", "Service/servicecomb-exporter", "ConfigMap/servicecomb-exporter",
		"ServiceMonitor/servicecomb-exporter", "PrometheusRule/servicecomb-exporter", "ConfigMap/servicecomb-exporter-dashboards"} {
		if _, ok := objects[want]; !ok {
			t.Fatalf("no %s", want)
		}
	}
	d := objects["Deployment/servicecomb-exporter"].obj.(*appsv1.Deployment)
	svc := objects["Service/servicecomb-exporter"].obj.(*corev1.Service)
	sm := objects["ServiceMonitor/servicecomb-exporter"].obj.(*monitoringv1.ServiceMonitor)
	cm := objects["ConfigMap/servicecomb-exporter"].obj.(*corev1.ConfigMap)

	// The deployment runs the released image with the exporter's real flags.
	pod := d.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	version, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if want := "servicecomb_exporter:" + strings.TrimSpace(string(version)); c.Image != want {
		t.Errorf("deployment image %q, want %q (the version `make docker` tags)", c.Image, want)
	}
	checkFlags(t, "deployment", help(t)["exporter"], c.Args)
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 9729 || !contains(c.Args, "--web.listen-address=:9729") {
		t.Errorf("container port %v and args %v must agree on 9729 (port name http)", c.Ports, c.Args)
	}
	for what, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v: want an HTTP probe on the http port", what, probe)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/-/ready" {
		t.Errorf("readiness probe path %q, want /-/ready", c.ReadinessProbe.HTTPGet.Path)
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/-/healthy" {
		t.Errorf("liveness probe path %q, want /-/healthy", c.LivenessProbe.HTTPGet.Path)
	}

	// The references between the objects hold: selectors select, names name.
	if d.Spec.Selector == nil || !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) {
		t.Errorf("the deployment's selector %v does not select its own pods %v", d.Spec.Selector, pod.Labels)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("the service's selector %v does not select the exporter's pods %v", svc.Spec.Selector, pod.Labels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 9729 || svc.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
		t.Errorf("service ports %+v: want http 9729 to the container's port %q", svc.Spec.Ports, c.Ports[0].Name)
	}
	if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("the service monitor's selector %v does not select the service %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("service monitor endpoints %+v: want the service's port %q, path /metrics", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
	// The job label Prometheus gets (from jobLabel) is what the mixin's default selector matches.
	if job := svc.Labels[sm.Spec.JobLabel]; !strings.HasPrefix(job, "servicecomb") {
		t.Errorf("job label %q (from the service's %q label): the rules select job=~\"servicecomb.*\"", job, sm.Spec.JobLabel)
	}
	mounted := false
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
			continue
		}
		for _, m := range c.VolumeMounts {
			mounted = mounted || (m.Name == v.Name && "--config.file="+m.MountPath+"/config.yml" == findArg(c.Args, "--config.file="))
		}
	}
	if !mounted {
		t.Errorf("the deployment does not mount ConfigMap %s where --config.file points", cm.Name)
	}
	if _, err := config.LoadBytes([]byte(cm.Data["config.yml"]), "configmap config.yml"); err != nil {
		t.Errorf("the ConfigMap's config.yml does not load: %v", err)
	}
}

func findArg(args []string, prefix string) string {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return a
		}
	}
	return ""
}

// TestPrometheusRuleGroupsAreRules checks that the PrometheusRule holds
// exactly the rule groups of rules/, decoded into the operator's own types.
func TestPrometheusRuleGroupsAreRules(t *testing.T) {
	pr := kubeObjects(t)["PrometheusRule/servicecomb-exporter"].obj.(*monitoringv1.PrometheusRule)
	ruleFiles, _, err := manifests.Sources("..")
	if err != nil || len(ruleFiles) == 0 {
		t.Fatalf("rule files %v: %v", ruleFiles, err)
	}
	var want []monitoringv1.RuleGroup
	for _, f := range ruleFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := decodeStrict(data, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want = append(want, rf.Groups...)
	}
	if len(want) == 0 {
		t.Fatal("no rule groups in rules/")
	}
	if !reflect.DeepEqual(pr.Spec.Groups, want) {
		t.Errorf("the PrometheusRule's groups differ from rules/: run `make manifests`")
	}
	names := map[string]bool{}
	for _, g := range pr.Spec.Groups {
		if names[g.Name] {
			t.Errorf("group %s twice", g.Name)
		}
		names[g.Name] = true
	}
}

// TestDashboardsConfigMapHoldsDashboards checks the sidecar ConfigMap holds
// every dashboard of dashboards/, unchanged, and is labelled for the sidecar.
func TestDashboardsConfigMapHoldsDashboards(t *testing.T) {
	cm := kubeObjects(t)["ConfigMap/servicecomb-exporter-dashboards"].obj.(*corev1.ConfigMap)
	_, dashboards, err := manifests.Sources("..")
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("dashboards %v: %v", dashboards, err)
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("labels %v: Grafana's sidecar looks for grafana_dashboard: \"1\"", cm.Labels)
	}
	if len(cm.Data) != len(dashboards) {
		t.Errorf("the ConfigMap holds %d dashboards, dashboards/ %d", len(cm.Data), len(dashboards))
	}
	for _, f := range dashboards {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data[filepath.Base(f)] != string(data) {
			t.Errorf("%s differs in the ConfigMap: run `make manifests`", filepath.Base(f))
		}
	}
}

// TestManifestSchemaRejects shows the strict decoding catches what the old
// hand-written structs let through, each mistake made once in a copy of a
// real manifest.
func TestManifestSchemaRejects(t *testing.T) {
	for _, c := range []struct{ name, file, from, to, want string }{
		{"misspelled container field", "deployment.yaml", "containerPort:", "containerport:", "containerport"},
		{"field in the wrong place", "deployment.yaml", "      securityContext:\n        runAsNonRoot", "      securityContex:\n        runAsNonRoot", "securityContex"},
		{"wrong type", "deployment.yaml", "replicas: 2", "replicas: two", "replicas"},
		{"misspelled service field", "service.yaml", "targetPort:", "targetport:", "targetport"},
		{"misspelled service monitor field", "servicemonitor.yaml", "path: /metrics", "paht: /metrics", "paht"},
		{"misspelled rule field", "prometheusrule.yaml", "for: 5m", "fro: 5m", "fro"},
		{"duplicate field", "configmap.yaml", "  name: servicecomb-exporter\n", "  name: servicecomb-exporter\n  name: other\n", "name"},
		{"unknown kind", "service.yaml", "kind: Service", "kind: Servce", "Servce"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("kubernetes", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeManifest(data); err != nil {
				t.Fatalf("the unmodified %s fails: %v", c.file, err)
			}
			broken := strings.Replace(string(data), c.from, c.to, 1)
			if broken == string(data) {
				t.Fatalf("%q is not in %s", c.from, c.file)
			}
			_, err = decodeManifest([]byte(broken))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one about %q", err, c.want)
			}
		})
	}
}
