package mixin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// The SDK keeps its panel and query types in a registry of its own.
var registerPlugins = sync.OnceFunc(plugins.RegisterDefaultPlugins)

// checkDashboard decodes a dashboard strictly into the Grafana Foundation
// SDK's types, generated from Grafana's own schema: an unknown or misspelled
// field, a missing required one or a value of the wrong type is an error.
// The SDK decodes a panel's fieldConfig loosely (only its custom part
// strictly), and accepts any panel type and query, so those are checked
// here too.
func checkDashboard(data []byte) (*dashboard.Dashboard, error) {
	registerPlugins()
	var d dashboard.Dashboard
	if err := schemaErr(d.UnmarshalJSONStrict(data)); err != nil {
		return nil, err
	}
	var raw struct {
		Panels []struct {
			Type        string          `json:"type"`
			FieldConfig json.RawMessage `json:"fieldConfig"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	var errs []error
	for i, p := range raw.Panels {
		if p.Type == "row" {
			continue // RowPanel is a type of its own, decoded strictly above
		}
		if _, ok := cog.ConfigForPanelcfgVariant(p.Type); !ok {
			errs = append(errs, fmt.Errorf("panels[%d]: panel type %q has no schema", i, p.Type))
		}
		var fc dashboard.FieldConfigSource
		if err := schemaErr(fc.UnmarshalJSONStrict(p.FieldConfig)); err != nil {
			errs = append(errs, fmt.Errorf("panels[%d].fieldConfig: %w", i, err))
		}
	}
	for i, p := range d.Panels {
		if p.Panel == nil {
			continue
		}
		for j, target := range p.Panel.Targets {
			if _, ok := target.(*prometheus.Dataquery); !ok {
				errs = append(errs, fmt.Errorf("panels[%d].targets[%d]: %T, not a Prometheus query", i, j, target))
			}
		}
	}
	return &d, errors.Join(errs...)
}

// schemaErr turns the SDK's empty error list (a non-nil interface) into nil.
func schemaErr(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}

func decodeDashboard(t *testing.T, name string, data []byte) *dashboard.Dashboard {
	t.Helper()
	d, err := checkDashboard(data)
	if err != nil {
		t.Fatalf("%s does not match Grafana's dashboard schema:\n%v", name, err)
	}
	return d
}

func TestDashboardsMatchGrafanaSchema(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	if len(files) < 2 {
		t.Fatalf("dashboards: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := decodeDashboard(t, filepath.Base(f), data)
		if d.Uid == nil || len(d.Panels) < 10 {
			t.Errorf("%s: decoded without a uid or with only %d panels", f, len(d.Panels))
		}
	}
}

// TestDashboardSchemaCheckRejects shows the check catches the mistakes it is
// for, each made once in a valid dashboard.
func TestDashboardSchemaCheckRejects(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "dashboards", "servicecomb-registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkDashboard(data); err != nil {
		t.Fatalf("the unmodified dashboard fails: %v", err)
	}
	first := func(d map[string]any, typ string) map[string]any {
		for _, p := range d["panels"].([]any) {
			if p := p.(map[string]any); p["type"] == typ {
				return p
			}
		}
		t.Fatalf("no %s panel", typ)
		return nil
	}
	rename := func(m map[string]any, from, to string) { m[to] = m[from]; delete(m, from) }
	for _, c := range []struct {
		name   string
		break_ func(d map[string]any)
		want   string
	}{
		{"misspelled dashboard field", func(d map[string]any) { rename(d, "refresh", "refersh") }, "refersh"},
		{"misspelled panel field", func(d map[string]any) { rename(first(d, "timeseries"), "gridPos", "gridpos") }, "gridpos"},
		{"misspelled row field", func(d map[string]any) { rename(first(d, "row"), "collapsed", "colapsed") }, "colapsed"},
		{"misspelled panel option", func(d map[string]any) {
			rename(first(d, "stat")["options"].(map[string]any), "colorMode", "colourMode")
		}, "colourMode"},
		{"misspelled field config", func(d map[string]any) {
			rename(first(d, "stat")["fieldConfig"].(map[string]any)["defaults"].(map[string]any), "unit", "units")
		}, "units"},
		{"misspelled custom field config", func(d map[string]any) {
			rename(first(d, "timeseries")["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["custom"].(map[string]any), "fillOpacity", "fillOpactiy")
		}, "fillOpactiy"},
		{"misspelled query field", func(d map[string]any) {
			rename(first(d, "table")["targets"].([]any)[0].(map[string]any), "legendFormat", "legend")
		}, "legend"},
		{"misspelled variable field", func(d map[string]any) {
			rename(d["templating"].(map[string]any)["list"].([]any)[1].(map[string]any), "includeAll", "includeall")
		}, "includeall"},
		{"wrong type", func(d map[string]any) { first(d, "stat")["gridPos"].(map[string]any)["w"] = "wide" }, "gridPos"},
		{"missing required field", func(d map[string]any) {
			delete(first(d, "piechart")["options"].(map[string]any), "pieType")
		}, "pieType"},
		{"unknown panel type", func(d map[string]any) { first(d, "bargauge")["type"] = "bar-gauge" }, "bar-gauge"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(data, &d); err != nil {
				t.Fatal(err)
			}
			c.break_(d)
			broken, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			_, err = checkDashboard(broken)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}
