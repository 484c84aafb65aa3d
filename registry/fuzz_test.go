package registry

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

func FuzzParse(f *testing.F) {
	l := NewLayout(DefaultPrefix)
	for _, seed := range []string{
		"/cse-sr/domains/default", "/cse-sr/projects/a/b", "/cse-sr/ms/files/a/b/c",
		"/cse-sr/inst/files/a/b/c/d", "/cse-sr/inst/files/a//c/d", "/cse-sr/inst/files/\xff/b/c/d", "/x",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		k, err := l.Parse(key)
		if err != nil || k.Kind == KindOther {
			return
		}
		// A key that parses is rebuilt exactly from its parts.
		var rebuilt string
		switch k.Kind {
		case KindDomain:
			rebuilt = l.DomainKey(k.Domain)
		case KindProject:
			rebuilt = l.ProjectKey(k.Domain, k.Project)
		case KindService:
			rebuilt = l.ServiceKey(k.Domain, k.Project, k.ServiceID)
		case KindInstance:
			rebuilt = l.InstanceKey(k.Domain, k.Project, k.ServiceID, k.InstanceID)
		}
		if rebuilt != string(key) {
			t.Fatalf("%q parsed as %+v, which rebuilds as %q", key, k, rebuilt)
		}
	})
}

// FuzzApply feeds arbitrary values through put, update and delete of one
// instance and one service next to a well-formed instance: nothing panics,
// no count goes negative, and the well-formed instance stays counted.
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"status":"UP"}`), []byte(`{"status":"DOWN"}`), []byte(`{"appId":"a"}`))
	f.Add([]byte(`{"status":`), []byte(""), []byte("\xff"))
	f.Add([]byte(`{"status":"UP"}`), []byte(`[1,2]`), []byte(`{"appId":"default","framework":{"name":"\u0000"}}`))
	l := NewLayout(DefaultPrefix)
	good := l.InstanceKey("d", "p", "s", "good")
	fuzzed := l.InstanceKey("d", "p", "s", "fuzzed")
	svcKey := l.ServiceKey("default", "default", "s")
	f.Fuzz(func(t *testing.T, first, second, service []byte) {
		s := NewState(l, true, nil)
		mustApply := func(e Event) {
			if _, err := s.Apply(e); err != nil {
				t.Fatalf("%+v: %v", e, err)
			}
		}
		mustApply(Event{Type: Put, Key: []byte(good), Value: []byte(`{"status":"UP"}`)})
		mustApply(Event{Type: Put, Key: []byte(svcKey), Value: service})
		mustApply(Event{Type: Put, Key: []byte(fuzzed), Value: first})
		mustApply(Event{Type: Put, Key: []byte(fuzzed), Value: second, PrevValue: first, HasPrev: true})
		mustApply(Event{Type: Delete, Key: []byte(fuzzed), PrevValue: second, HasPrev: true})
		mustApply(Event{Type: Delete, Key: []byte(svcKey), PrevValue: service, HasPrev: true})
		c := s.Counts()
		if len(c.Services) != 0 {
			t.Fatalf("services left after delete: %v", c.Services)
		}
		if len(c.Instances) != 1 || c.Instances[InstanceGroup{"d", "p", "UP"}] != 1 {
			t.Fatalf("instances %v, want exactly the well-formed one", c.Instances)
		}
	})
}

// referenceService and referenceInstance decode with json.Unmarshal, the
// obvious implementation that DecodeService and DecodeInstance must match.
func referenceService(value []byte) (Service, bool) {
	if checkValue(value) != nil || !isObject(value) {
		return Service{}, false
	}
	var doc struct {
		AppID     string `json:"appId"`
		Framework *struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"framework"`
	}
	if json.Unmarshal(value, &doc) != nil {
		return Service{}, false
	}
	s := Service{AppID: doc.AppID, Framework: Unknown, FrameworkVersion: Unknown}
	if doc.Framework != nil {
		if doc.Framework.Name != "" {
			s.Framework = doc.Framework.Name
		}
		if doc.Framework.Version != "" {
			s.FrameworkVersion = doc.Framework.Version
		}
	}
	return s, true
}

func referenceInstance(value []byte) (string, bool) {
	if checkValue(value) != nil || !isObject(value) {
		return "", false
	}
	var doc struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(value, &doc) != nil || !slices.Contains(InstanceStatuses, doc.Status) {
		return "", false
	}
	return doc.Status, true
}

func isObject(value []byte) bool {
	trimmed := bytes.TrimLeft(value, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"status":"UP"}`, `{"Status":"DOWN"}`, `{"status":"UP","status":"DOWN"}`, `{"status":5,"status":"UP"}`,
		`{"st\u0061tus":"U\u0050"}`, `{"status":null}`, ` {"a":[1,{"status":"x"}],"status":"TESTING"} `,
		`{"appId":"default","framework":{"name":"go-chassis","version":"2.7.0"}}`, `{"framework":"x"}`,
		`{"framework":{"name":null},"FRAMEWORK":{"version":"1"}}`, `null`, `[]`, `{"appId":{}}`, `{"framework":[]}`,
		"{\"status\":\"UP\"}\n", `{"ſtatus":"UP"}`, `{"\u212aey":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		gotSvc, err := DecodeService(value)
		wantSvc, ok := referenceService(value)
		if (err == nil) != ok || gotSvc != wantSvc {
			t.Fatalf("DecodeService(%q) = %+v, %v; encoding/json gives %+v, ok %v", value, gotSvc, err, wantSvc, ok)
		}
		gotStatus, err := DecodeInstance(value)
		wantStatus, ok := referenceInstance(value)
		if (err == nil) != ok || gotStatus != wantStatus {
			t.Fatalf("DecodeInstance(%q) = %q, %v; encoding/json gives %q, ok %v", value, gotStatus, err, wantStatus, ok)
		}
	})
}
