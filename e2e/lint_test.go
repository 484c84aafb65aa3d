package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"
)

// These tests need no binaries: `make lint` runs them.

func TestDashboardsFollowConventions(t *testing.T) {
	files, _ := filepath.Glob("../dashboards/*.json")
	if len(files) < 2 {
		t.Fatalf("want the registry and exporter dashboards, found %v", files)
	}
	for _, f := range files {
		d := loadDashboard(t, f)
		name := filepath.Base(f)
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid and title are required", name)
		}
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
			if q, ok := v.Query.(string); ok && v.Name != "datasource" {
				checkSelectors(t, name+" variable "+v.Name, q, v.Name == "job")
			}
		}
		for _, want := range []string{"datasource", "job", "instance"} {
			if !vars[want] {
				t.Errorf("%s: no %q variable", name, want)
			}
		}
		ids := map[int]bool{}
		for _, p := range d.allPanels() {
			where := name + " panel " + p.Title
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: id %d missing or not unique", where, p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if p.Title == "" || p.Description == "" || p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("%s: needs a title, a description and a unit", where)
			}
			if !usesDatasourceVariable(p.Datasource) {
				t.Errorf("%s: panel datasource %s is not ${datasource}", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, target := range p.Targets {
				if !usesDatasourceVariable(target.Datasource) {
					t.Errorf("%s: target datasource %s is not ${datasource}", where, target.Datasource)
				}
				checkSelectors(t, where, target.Expr, false)
			}
		}
	}
}

func usesDatasourceVariable(raw json.RawMessage) bool {
	var ds struct {
		UID string `json:"uid"`
	}
	return json.Unmarshal(raw, &ds) == nil && (ds.UID == "${datasource}" || ds.UID == "$datasource")
}

var selectorAfter = regexp.MustCompile(`^\{([^}]*)\}`)

// checkSelectors requires every metric of expr to be selected by the job
// variable (except in the job variable's own query).
func checkSelectors(t *testing.T, where, expr string, isJobVariable bool) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty query", where)
		return
	}
	for _, loc := range metricToken.FindAllStringIndex(expr, -1) {
		if isJobVariable {
			continue
		}
		sel := selectorAfter.FindStringSubmatch(expr[loc[1]:])
		if sel == nil || !strings.Contains(sel[1], `job=~"$job"`) {
			t.Errorf("%s: %s is not selected with job=~\"$job\": %s", where, expr[loc[0]:loc[1]], expr)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// loadRuleFiles parses every rule file, by file name.
func loadRuleFiles(t *testing.T) map[string]ruleFile {
	t.Helper()
	files, _ := filepath.Glob("../rules/*.rules.yml")
	if len(files) == 0 {
		t.Fatal("no rule files in ../rules")
	}
	out := map[string]ruleFile{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if err := yaml.Unmarshal(data, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = rf
	}
	return out
}

func TestRulesFollowConventions(t *testing.T) {
	runbooks, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(runbooks))
	recorded := map[string]bool{}
	alerts := 0
	for f, rf := range loadRuleFiles(t) {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
					continue
				}
				alerts++
				where := f + " " + r.Alert
				if !strings.HasPrefix(r.Alert, "ServiceComb") {
					t.Errorf("%s: alert names start with ServiceComb", where)
				}
				switch r.Labels["severity"] {
				case "critical", "warning", "info":
				case "":
					// Carried over from the series (an alarm's own severity).
					if !strings.Contains(r.Expr, `"severity", "critical"`) || !strings.Contains(r.Expr, `"severity", "warning"`) {
						t.Errorf("%s: no severity label, and the expression does not set one", where)
					}
				default:
					t.Errorf("%s: severity %q", where, r.Labels["severity"])
				}
				summary := r.Annotations["summary"]
				if summary == "" || !unicode.IsUpper([]rune(summary)[0]) || !strings.HasSuffix(summary, ".") || strings.Contains(summary, "{{") {
					t.Errorf("%s: summary %q must be a static sentence", where, summary)
				}
				// absent() leaves no labels to template with.
				if !strings.Contains(r.Annotations["description"], "{{") && !strings.HasPrefix(strings.TrimSpace(r.Expr), "absent(") {
					t.Errorf("%s: description must be templated", where)
				}
				_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "docs/runbooks.md#")
				if anchor == "" || !anchors[anchor] {
					t.Errorf("%s: runbook_url %q has no anchor in docs/runbooks.md", where, r.Annotations["runbook_url"])
				}
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts")
	}
	// Recording rules used anywhere must be defined.
	recordingUse := regexp.MustCompile(`\b[a-z_]+:[a-zA-Z0-9_:]+\b`)
	for _, e := range allExpressions(t) {
		for _, name := range recordingUse.FindAllString(e.expr, -1) {
			if !recorded[name] {
				t.Errorf("%s uses recording rule %s, which no rule file defines", e.where, name)
			}
		}
	}
}

// markdownAnchors returns the anchors GitHub makes from headings.
func markdownAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	for _, line := range strings.Split(doc, "\n") {
		heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !strings.HasPrefix(line, "#") || !ok {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}
