package reconcile

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

type child struct {
	key string
	fp  []string
}

// spec wants key built from fp (a slice, compared deeply); fail makes its
// build fail.
func spec(key string, fail bool, fp ...string) Spec[string, *child] {
	return Spec[string, *child]{Key: key, Fingerprint: fp, Build: func() (*child, error) {
		if fail {
			return nil, errors.New("cannot build " + key)
		}
		return &child{key: key, fp: fp}, nil
	}}
}

func TestUpdate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before      []Spec[string, *child]
		update      []Spec[string, *child]
		wantErr     string
		wantStarted []string // keys, in spec order
		wantStopped []string // "key" replaced, "key-" removed; sorted
		wantKept    []string // keys whose child is the one from before
		wantKeys    []string
	}{
		{name: "empty to two", update: []Spec[string, *child]{spec("a", false, "1"), spec("b", false, "2")},
			wantStarted: []string{"a", "b"}, wantKeys: []string{"a", "b"}},
		{name: "unchanged kept, not rebuilt",
			before:   []Spec[string, *child]{spec("a", false, "1"), spec("b", false, "2")},
			update:   []Spec[string, *child]{spec("a", true, "1"), spec("b", true, "2")}, // a build would fail
			wantKept: []string{"a", "b"}, wantKeys: []string{"a", "b"}},
		{name: "changed replaced, new started, removed stopped",
			before:      []Spec[string, *child]{spec("a", false, "1"), spec("b", false, "2"), spec("c", false, "3")},
			update:      []Spec[string, *child]{spec("a", false, "1"), spec("b", false, "2", "x"), spec("d", false, "4")},
			wantStarted: []string{"b", "d"}, wantStopped: []string{"b", "c-"}, wantKept: []string{"a"},
			wantKeys: []string{"a", "b", "d"}},
		{name: "failed build changes nothing",
			before:  []Spec[string, *child]{spec("a", false, "1"), spec("b", false, "2")},
			update:  []Spec[string, *child]{spec("b", false, "changed"), spec("c", true, "3")},
			wantErr: "cannot build c", wantKept: []string{"a", "b"}, wantKeys: []string{"a", "b"}},
		{name: "duplicate key changes nothing",
			before:  []Spec[string, *child]{spec("a", false, "1")},
			update:  []Spec[string, *child]{spec("b", false, "2"), spec("b", false, "3")},
			wantErr: "b is configured twice", wantKept: []string{"a"}, wantKeys: []string{"a"}},
		{name: "all removed",
			before:      []Spec[string, *child]{spec("a", false, "1")},
			wantStopped: []string{"a-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Set[string, *child]
			if _, err := s.Update(tc.before); err != nil {
				t.Fatal(err)
			}
			before := maps.Collect(s.All())
			change, err := s.Update(tc.update)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if len(change.Started)+len(change.Stopped) != 0 {
					t.Errorf("failed update reported a change: %+v", change)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var started, stopped []string
			for _, c := range change.Started {
				if c.Child.key != c.Key {
					t.Errorf("started %q holds the child of %q", c.Key, c.Child.key)
				}
				if got, _ := s.Get(c.Key); got != c.Child {
					t.Errorf("started %q is not the one in the set", c.Key)
				}
				started = append(started, c.Key)
			}
			for _, st := range change.Stopped {
				if st.Child != before[st.Key] {
					t.Errorf("stopped %q is not the child it had", st.Key)
				}
				if st.Removed {
					stopped = append(stopped, st.Key+"-")
				} else {
					stopped = append(stopped, st.Key)
				}
			}
			slices.Sort(stopped)
			if !slices.Equal(started, tc.wantStarted) || !slices.Equal(stopped, tc.wantStopped) {
				t.Errorf("started %v stopped %v, want %v %v", started, stopped, tc.wantStarted, tc.wantStopped)
			}
			for _, k := range tc.wantKept {
				if got, ok := s.Get(k); !ok || got != before[k] {
					t.Errorf("%q was not kept", k)
				}
			}
			keys := slices.Sorted(maps.Keys(maps.Collect(s.All())))
			if !slices.Equal(keys, tc.wantKeys) || s.Len() != len(tc.wantKeys) {
				t.Errorf("keys %v (len %d), want %v", keys, s.Len(), tc.wantKeys)
			}
		})
	}
}
