package servicecenter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/alarm"
)

// scAlarm is one alarm in Service Center's list.
type scAlarm struct {
	Status string                     `json:"status"`
	ID     string                     `json:"id"`
	Fields map[string]json.RawMessage `json:"fields"`
}

func (s *Source) fetchAlarms(ctx context.Context, ep *endpoint) ([]scAlarm, error) {
	var list struct {
		Alarms []scAlarm `json:"alarms"`
	}
	if err := s.getJSON(ctx, ep, pathAlarms, true, &list); err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	return list.Alarms, nil
}

// mirrorKey names a mirrored alarm: the Service Center (endpoint) and id.
type mirrorKey struct {
	source string
	id     alarm.ID
}

// mirrorAlarms copies the alarm list of one Service Center into the alarm
// center with that Service Center as source. Only real raises reach the
// center, so that the raise count and the quiet period mean something:
//   - an id that does not clear itself is raised whenever the center does
//     not hold it ACTIVATED with the listed fields (first listing, a
//     change of fields, again after a clear or a DELETE on the exporter):
//     Service Center's list is the level;
//   - an id that clears itself after a quiet period (InternalError,
//     WebsocketOfScSyncerLost, which Service Center never clears) is raised
//     only when Service Center lists it anew or with other fields, so it
//     clears once listed unchanged for the quiet period, and comes back
//     only with a new occurrence (new fields) there.
//
// CLEARED ones are cleared, and active alarms of that source that it no
// longer lists are cleared.
func (s *Source) mirrorAlarms(source string, list []scAlarm) {
	if s.opts.Alarms == nil {
		return
	}
	current := map[alarm.ID]alarm.Alarm{}
	for _, a := range s.opts.Alarms.List() {
		if a.Source == source {
			current[a.ID] = a
		}
	}
	listed := make(map[alarm.ID]bool, len(list))
	for _, a := range list {
		id := alarm.ID(a.ID)
		if id == "" || listed[id] {
			continue // Service Center lists an id once
		}
		listed[id] = true
		k := mirrorKey{source: source, id: id}
		switch a.Status {
		case string(alarm.Activated):
			fields, sig := mirroredFields(a.Fields)
			changed := s.mirrored[k] != sig
			s.mirrored[k] = sig
			cur, ok := current[id]
			same := ok && sameFields(cur.Fields, fields)
			if s.opts.Alarms.Definition(id).AutoClearAfter > 0 {
				if !changed || same {
					continue
				}
			} else if same && cur.Active() {
				continue
			}
			if err := s.opts.Alarms.RaiseFrom(source, id, fields...); err != nil {
				level.Warn(s.opts.Logger).Log("msg", "cannot mirror Service Center alarm", "endpoint", source, "id", id, "err", err)
			}
		case string(alarm.Cleared):
			s.mirrored[k] = ""
			if cur, ok := current[id]; ok && cur.Active() {
				s.opts.Alarms.ClearFrom(source, id)
			}
		}
	}
	for id, a := range current {
		if a.Active() && !listed[id] {
			s.opts.Alarms.ClearFrom(source, id)
		}
	}
	for k := range s.mirrored {
		if k.source == source && !listed[k.id] {
			delete(s.mirrored, k)
		}
	}
}

// mirroredFields returns an alarm's fields in key order, values encoded as
// the alarm center stores them, and a signature of them ("" is kept for a
// listing that is not ACTIVATED).
func mirroredFields(raw map[string]json.RawMessage) ([]alarm.Field, string) {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	fields := make([]alarm.Field, 0, len(keys))
	var sig strings.Builder
	sig.WriteString("ACTIVATED")
	for _, k := range keys {
		// Encoded as the center encodes a field (compacted, HTML escaped:
		// "->" in a detail becomes "-\u003e"), so that sameFields compares
		// like with like.
		v, err := json.Marshal(raw[k])
		if err != nil {
			v = raw[k] // not JSON: RaiseFrom refuses it and says so
		}
		fields = append(fields, alarm.Field{Key: k, Value: json.RawMessage(v)})
		fmt.Fprintf(&sig, "\x00%s\x00%s", k, v)
	}
	return fields, sig.String()
}

// sameFields reports whether the center's fields are the listed ones.
func sameFields(have map[string]json.RawMessage, want []alarm.Field) bool {
	if len(have) != len(want) {
		return false
	}
	for _, f := range want {
		if !bytes.Equal(have[f.Key], f.Value.(json.RawMessage)) {
			return false
		}
	}
	return true
}
