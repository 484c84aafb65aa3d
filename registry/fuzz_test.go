package registry

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	l := NewLayout(testPrefix)
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
	l := NewLayout(testPrefix)
	good := l.InstanceKey("d", "p", "s", "good")
	fuzzed := l.InstanceKey("d", "p", "s", "fuzzed")
	svcKey := l.ServiceKey("default", "default", "s")
	f.Fuzz(func(t *testing.T, first, second, service []byte) {
		s := NewState(l, DefaultRules(), nil)
		mustApply := func(e Event) {
			if _, err := s.Apply(e); err != nil {
				t.Fatalf("%+v: %v", e, err)
			}
		}
		mustApply(Event{Type: Put, Key: []byte(l.ServiceKey("d", "p", "s")), Value: []byte(`{"appId":"a"}`)})
		mustApply(Event{Type: Put, Key: []byte(good), Value: []byte(`{"status":"UP"}`)})
		mustApply(Event{Type: Put, Key: []byte(svcKey), Value: service})
		mustApply(Event{Type: Put, Key: []byte(fuzzed), Value: first})
		mustApply(Event{Type: Put, Key: []byte(fuzzed), Value: second, PrevValue: first, HasPrev: true})
		mustApply(Event{Type: Delete, Key: []byte(fuzzed), PrevValue: second, HasPrev: true})
		mustApply(Event{Type: Delete, Key: []byte(svcKey), PrevValue: service, HasPrev: true})
		c := s.Counts()
		if len(c.Services) != 1 {
			t.Fatalf("services %v, want only d/p/s", c.Services)
		}
		if len(c.Instances) != 1 || c.Instances[InstanceGroup{"d", "p", "UP"}] != 1 {
			t.Fatalf("instances %v, want exactly the well-formed one", c.Instances)
		}
	})
}

// The reference decoders below are the obvious implementation that
// DecodeService and DecodeInstance must match: encoding/json and plain Go,
// sharing nothing with the production code, pre-filter included.

// referenceMaxValueSize is the documented bound on a stored value (256 KiB),
// written out rather than taken from MaxValueSize.
const referenceMaxValueSize = 256 * 1024

// referenceObject reports whether value is one the decoders read: not
// empty, within the bound, valid UTF-8 and a JSON object.
func referenceObject(value []byte) bool {
	if len(value) == 0 || len(value) > referenceMaxValueSize {
		return false
	}
	// A round trip through runes turns every invalid UTF-8 byte into
	// U+FFFD, so it changes exactly the invalid values.
	if string([]rune(string(value))) != string(value) {
		return false
	}
	var doc any
	if json.Unmarshal(value, &doc) != nil {
		return false
	}
	_, ok := doc.(map[string]any)
	return ok
}

func referenceService(value []byte) (Service, bool) {
	if !referenceObject(value) {
		return Service{}, false
	}
	var doc struct {
		AppID       string `json:"appId"`
		ServiceName string `json:"serviceName"`
		Alias       string `json:"alias"`
		Version     string `json:"version"`
		Environment string `json:"environment"`
		Level       string `json:"level"`
		Framework   *struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"framework"`
	}
	if json.Unmarshal(value, &doc) != nil {
		return Service{}, false
	}
	s := Service{AppID: doc.AppID, ServiceName: doc.ServiceName, Alias: doc.Alias,
		Version: doc.Version, Environment: doc.Environment, Level: doc.Level, Framework: "UNKNOWN", FrameworkVersion: "UNKNOWN"}
	// Written out rather than calling FrameworkLabels, so that the
	// reference does not share the code it checks.
	if doc.Framework != nil && doc.Framework.Name != "" {
		s.Framework = doc.Framework.Name
		if doc.Framework.Version != "" {
			s.FrameworkVersion = doc.Framework.Version
		}
	}
	return s, true
}

func referenceInstance(value []byte) (string, bool) {
	if !referenceObject(value) {
		return "", false
	}
	var doc struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(value, &doc) != nil {
		return "", false
	}
	switch doc.Status {
	case "UP", "DOWN", "STARTING", "TESTING", "OUTOFSERVICE":
		return doc.Status, true
	}
	return "", false
}

// show quotes value for a failure message, cut short when long.
func show(value []byte) string {
	if len(value) > 200 {
		return fmt.Sprintf("%q… (%d bytes)", value[:200], len(value))
	}
	return fmt.Sprintf("%q", value)
}

// padded returns an instance document of exactly size bytes.
func padded(size int) []byte {
	const head, tail = `{"status":"UP","pad":"`, `"}`
	return []byte(head + strings.Repeat("a", size-len(head)-len(tail)) + tail)
}

func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"status":"UP"}`, `{"Status":"DOWN"}`, `{"status":"UP","status":"DOWN"}`, `{"status":5,"status":"UP"}`,
		`{"st\u0061tus":"U\u0050"}`, `{"status":null}`, ` {"a":[1,{"status":"x"}],"status":"TESTING"} `,
		`{"appId":"default","framework":{"name":"go-chassis","version":"2.7.0"}}`, `{"framework":"x"}`,
		`{"framework":{"name":null},"FRAMEWORK":{"version":"1"}}`, `null`, `[]`, `{"appId":{}}`, `{"framework":[]}`,
		"{\"status\":\"UP\"}\n", `{"ſtatus":"UP"}`, `{"\u212aey":1}`,
		// The pre-filter: empty, malformed, trailing data, invalid UTF-8.
		``, ` `, `{"status":"UP"`, `{"status":"UP"}}`, `{"status":"UP"} {}`, `{"status" "UP"}`, `{"status":"UP",}`,
		`{"status":"DOWN","x":"` + "\xff" + `"}`, `{"status":"UP","x":"` + "\xed\xa0\x80" + `"}`, "{\"appId\":\"\xc0\xaf\"}",
		`{"status":"UP"` + "\x00" + `}`, `{"status":"UP","x":tru}`, `{"status":"UP","x":01}`,
	} {
		f.Add([]byte(seed))
	}
	// The size bound: the largest value read, and one byte more.
	f.Add(padded(256 * 1024))
	f.Add(padded(256*1024 + 1))
	f.Fuzz(func(t *testing.T, value []byte) {
		gotSvc, err := DecodeService(value)
		wantSvc, ok := referenceService(value)
		if (err == nil) != ok || gotSvc != wantSvc {
			t.Fatalf("DecodeService(%s) = %+v, %v; encoding/json gives %+v, ok %v", show(value), gotSvc, err, wantSvc, ok)
		}
		gotStatus, err := DecodeInstance(value)
		wantStatus, ok := referenceInstance(value)
		if (err == nil) != ok || gotStatus != wantStatus {
			t.Fatalf("DecodeInstance(%s) = %q, %v; encoding/json gives %q, ok %v", show(value), gotStatus, err, wantStatus, ok)
		}
	})
}
