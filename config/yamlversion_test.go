package config

import (
	"errors"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const yamlModule = "gopkg.in/yaml.v3"

// upgradeChecklist says what to re-check when yaml.v3 changes, since
// syntaxError reads its error text.
const upgradeChecklist = `syntaxError (config/decode.go) reads yaml.v3's error text. Before moving pinnedYAMLVersion, re-check against the new release:
  1. errors still read "yaml: line N: problem", without "line N: " when N is 0;
  2. the parser still prints zero-based lines and the scanner one-based ones (isParserProblem lists the parser's problems, from parserc.go);
  3. the tab problem is still reported at the scalar before the tab (tabProblem, tabLine);
  4. "unknown anchor 'x' referenced" still comes without a line (aliasLine);
then run TestYAMLSyntaxErrorForms and the "invalid YAML" cases of the config tests`

// linkedYAMLVersion returns the yaml.v3 version this test binary was built
// with (a replacement's, if any), or else the one go.mod requires.
func linkedYAMLVersion(t *testing.T) string {
	t.Helper()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path != yamlModule {
				continue
			}
			if dep.Replace != nil {
				return dep.Replace.Path + "@" + dep.Replace.Version
			}
			return dep.Version
		}
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == yamlModule {
			return f[1]
		}
	}
	t.Fatalf("%s is neither in the build info nor in go.mod", yamlModule)
	return ""
}

func TestYAMLVersionIsPinned(t *testing.T) {
	if got := linkedYAMLVersion(t); got != pinnedYAMLVersion {
		t.Fatalf("%s is %s, but the YAML syntax errors were checked against %s.\n%s", yamlModule, got, pinnedYAMLVersion, upgradeChecklist)
	}
}

// TestYAMLSyntaxErrorForms pins the raw error text of the pinned yaml.v3 for
// each case syntaxError treats differently, so that a change of form shows
// here first rather than as a wrong line number.
func TestYAMLSyntaxErrorForms(t *testing.T) {
	tests := []struct {
		name, input string
		raw         string // yaml.v3's error
		line        int    // where syntaxError puts it
		problem     string // what syntaxError keeps of it
	}{
		{"parser problem: zero-based line", "global:\n  external_url: [http://x/\nregistry: {}\n",
			"yaml: line 1: did not find expected ',' or ']'", 2, "did not find expected ',' or ']'"},
		{"scanner problem: one-based line", "global: {}\nregistry:\n\texclude_global_services: true\n",
			"yaml: line 3: found character that cannot start any token", 3, "found character that cannot start any token"},
		{"first line: no line number", "global: external_url: x\n",
			"yaml: mapping values are not allowed in this context", 1, "mapping values are not allowed in this context"},
		{"tab reported at the scalar before it", "a: 1\nb: 2\n\tc: 3\n",
			"yaml: line 2: found a tab character that violates indentation", 3, tabProblem},
		{"unknown anchor: no line number", "global: {}\nalerting:\n  external_labels: *labels\n",
			"yaml: unknown anchor 'labels' referenced", 3, "unknown anchor 'labels' referenced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tt.input), &n)
			if err == nil || err.Error() != tt.raw {
				t.Fatalf("yaml.v3 says %v, want %q.\n%s", err, tt.raw, upgradeChecklist)
			}
			if got := syntaxError(err, []byte(tt.input)); got.Line != tt.line || got.Msg != "invalid YAML: "+tt.problem {
				t.Errorf("syntaxError = line %d %q, want line %d %q", got.Line, got.Msg, tt.line, tt.problem)
			}
		})
	}
}

// TestUndefinedAliasLine: the line of an undefined alias comes from its
// node where the document allows, so a "*name" in a comment or a string
// before it is not taken for it.
func TestUndefinedAliasLine(t *testing.T) {
	tests := []struct {
		name, input string
		line        int
	}{
		{"after a comment naming it", "# see *labels below\nglobal: {}\nalerting:\n  external_labels: *labels\n", 4},
		{"after a string holding it", "global: {external_url: 'http://x/*labels'}\nalerting:\n  external_labels: *labels\n", 3},
		{"defined only later", "alerting:\n  external_labels: *labels\nx: &labels {a: b}\n", 2},
		{"in a flow mapping", "{a: 1,\n b: *labels}\n", 2},
		{"root is a list: the text is searched", "- a\n- *labels\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes([]byte(tt.input), "config.yml")
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != tt.line || !strings.Contains(ce.Msg, "unknown anchor 'labels'") {
				t.Errorf("LoadBytes error = %v, want line %d", err, tt.line)
			}
		})
	}
}
