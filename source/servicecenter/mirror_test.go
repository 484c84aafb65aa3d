package servicecenter

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// alarmList is Service Center's alarms answer: "id status detail" each.
func alarmList(t *testing.T, alarms ...string) http.HandlerFunc {
	t.Helper()
	type scA struct {
		Status string            `json:"status"`
		ID     string            `json:"id"`
		Fields map[string]string `json:"fields"`
	}
	var list struct {
		Alarms []scA `json:"alarms,omitempty"`
	}
	for _, a := range alarms {
		f := strings.SplitN(a, " ", 3)
		list.Alarms = append(list.Alarms, scA{ID: f[0], Status: f[1], Fields: map[string]string{"detail": f[2]}})
	}
	// Service Center does not escape HTML characters ("->" in a detail).
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(list); err != nil {
		t.Fatal(err)
	}
	return loadFixtureHandler(http.StatusOK, b.String())
}

func transitions(c *alarm.Center, source string, id alarm.ID) string {
	var act, clr uint64
	for _, tc := range c.Transitions() {
		if tc.Source == source && tc.ID == id {
			if tc.Status == alarm.Activated {
				act = tc.Count
			} else {
				clr = tc.Count
			}
		}
	}
	return fmt.Sprintf("%d activated, %d cleared", act, clr)
}

func TestMirroredAlarmsCountRealRaisesOnly(t *testing.T) {
	sc := newFakeSC(t)
	center := newAlarmCenter(t)
	s, _ := newSource(t, Options{Config: scConfig(sc.URL()), Alarms: center})
	ep := sc.URL()
	steps := []struct {
		name       string
		list       []string
		polls      int
		active     bool
		raiseCount uint64
		detail     string
		trans      string
	}{
		{"listed on ten polls: one raise", []string{"BackendConnectionRefuse ACTIVATED read tcp 10.0.0.1:5->10.0.0.2:2379: i/o timeout"}, 10, true, 1,
			"read tcp 10.0.0.1:5->10.0.0.2:2379: i/o timeout", "1 activated, 0 cleared"},
		{"fields changed: one more", []string{"BackendConnectionRefuse ACTIVATED etcd still down"}, 3, true, 2, "etcd still down", "1 activated, 0 cleared"},
		{"listed CLEARED", []string{"BackendConnectionRefuse CLEARED etcd still down"}, 3, false, 2, "etcd still down", "1 activated, 1 cleared"},
		{"activated again with the same fields", []string{"BackendConnectionRefuse ACTIVATED etcd still down"}, 3, true, 3, "etcd still down", "2 activated, 1 cleared"},
		{"gone from the list", nil, 2, false, 3, "etcd still down", "2 activated, 2 cleared"},
	}
	for _, st := range steps {
		sc.set(pathAlarms, alarmList(t, st.list...))
		for range st.polls {
			mustPoll(t, s)
		}
		a, ok := center.Get(ep, alarm.BackendConnectionRefuse)
		if !ok || a.Active() != st.active || a.RaiseCount != st.raiseCount || a.Detail() != st.detail {
			t.Errorf("%s: alarm = %+v, want active %v, raise count %d, detail %q", st.name, a, st.active, st.raiseCount, st.detail)
		}
		if got := transitions(center, ep, alarm.BackendConnectionRefuse); got != st.trans {
			t.Errorf("%s: transitions %s, want %s", st.name, got, st.trans)
		}
	}

	// DELETE on the exporter while Service Center still lists it: an id
	// that does not clear itself follows Service Center's list.
	sc.set(pathAlarms, alarmList(t, "BackendConnectionRefuse ACTIVATED etcd down"))
	mustPoll(t, s)
	center.ClearAll()
	mustPoll(t, s)
	mustPoll(t, s)
	if a, ok := center.Get(ep, alarm.BackendConnectionRefuse); !ok || !a.Active() || a.RaiseCount != 1 {
		t.Errorf("after DELETE: alarm = %+v, want active again, raised once", a)
	}
}

// Service Center never clears InternalError and WebsocketOfScSyncerLost:
// mirrored, they clear after the quiet period counted from their last
// change there, and come back only with new fields.
func TestMirroredAlarmsThatServiceCenterNeverClears(t *testing.T) {
	for _, id := range []alarm.ID{alarm.InternalError, alarm.WebsocketOfScSyncerLost} {
		t.Run(string(id), func(t *testing.T) {
			sc := newFakeSC(t)
			center := newAlarmCenter(t)
			const quiet = 150 * time.Millisecond
			if err := center.SetAutoClear(id, quiet); err != nil {
				t.Fatal(err)
			}
			s, _ := newSource(t, Options{Config: scConfig(sc.URL()), Alarms: center})
			ep := sc.URL()
			sc.set(pathAlarms, alarmList(t, string(id)+" ACTIVATED first occurrence"))
			mustPoll(t, s)
			if a, _ := center.Get(ep, id); !a.Active() {
				t.Fatalf("not raised: %+v", a)
			}
			// Polled again and again, unchanged: it clears all the same.
			wait.For(t, "the quiet period to clear it", 10*time.Second, func() bool {
				mustPoll(t, s)
				a, _ := center.Get(ep, id)
				return !a.Active()
			})
			for range 5 {
				mustPoll(t, s)
			}
			if a, _ := center.Get(ep, id); a.Active() || a.RaiseCount != 1 {
				t.Errorf("unchanged listing raised it again: %+v", a)
			}
			// Nor does DELETE on the exporter bring it back unchanged.
			center.ClearAll()
			mustPoll(t, s)
			if a, ok := center.Get(ep, id); ok {
				t.Errorf("unchanged listing raised it again after DELETE: %+v", a)
			}
			// A new occurrence at Service Center (new fields) raises it.
			sc.set(pathAlarms, alarmList(t, string(id)+" ACTIVATED second occurrence"))
			mustPoll(t, s)
			if a, _ := center.Get(ep, id); !a.Active() || a.RaiseCount != 1 || a.Detail() != "second occurrence" {
				t.Errorf("new occurrence: %+v", a)
			}
			if got := transitions(center, ep, id); got != "2 activated, 1 cleared" {
				t.Errorf("transitions %s", got)
			}
		})
	}
}

func TestServiceCenterAlarmIdsHaveDefinitions(t *testing.T) {
	center := newAlarmCenter(t)
	generic := center.Definition("SomethingNew")
	tests := []struct {
		id        alarm.ID
		severity  string
		autoClear bool
	}{
		{alarm.IncrementPullError, "warning", false},
		// Its quiet period comes with the configuration (cmd/exporter's
		// applyAlarmsConfig), not with the definition.
		{alarm.WebsocketOfScSyncerLost, "warning", false},
		{alarm.AuthenticationFailed, "critical", false},
	}
	for _, tt := range tests {
		d := center.Definition(tt.id)
		if d.ID != tt.id || d.Severity != tt.severity || d.Summary == "" || d.Summary == generic.Summary ||
			strings.Contains(d.Summary, "is active") || (d.AutoClearAfter > 0) != tt.autoClear {
			t.Errorf("definition of %s = %+v", tt.id, d)
		}
	}
}

// The alarms this source raises or gives a definition to have a runbook
// section under the name of their forwarded alert.
func TestRunbooksCoverServiceCenterAlarmIds(t *testing.T) {
	doc, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []alarm.ID{alarm.AuthenticationFailed, alarm.IncrementPullError, alarm.WebsocketOfScSyncerLost} {
		heading := "\n## ServiceComb" + string(id) + "\n"
		if !strings.Contains(string(doc), heading) {
			t.Errorf("docs/runbooks.md has no section %q", strings.TrimSpace(heading))
		}
	}
}
