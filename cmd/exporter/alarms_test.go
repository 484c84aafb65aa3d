package main

import (
	"testing"
	"time"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/notify"
)

// TestApplyAlarmsConfig: the alarms Service Center never clears get their
// quiet period from the configuration, its default included, since the
// alarm center has none of its own.
func TestApplyAlarmsConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.AlarmsConfig
		want time.Duration
	}{
		{"default", config.Default().Alarms, 5 * time.Minute},
		{"set", config.AlarmsConfig{InternalErrorAutoClear: config.DefaultInternalErrorAutoClear * 2}, 10 * time.Minute},
		{"disabled", config.AlarmsConfig{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			center, err := alarm.NewCenter(notify.New(nil), nil, alarm.WithQueue(notify.DefaultQueueSize, 0))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == 0 { // start from another value, to see it change
				if err := applyAlarmsConfig(center, config.Default().Alarms); err != nil {
					t.Fatal(err)
				}
			}
			if err := applyAlarmsConfig(center, tt.cfg); err != nil {
				t.Fatal(err)
			}
			for _, id := range []alarm.ID{alarm.InternalError, alarm.WebsocketOfScSyncerLost} {
				if got := center.Definition(id).AutoClearAfter; got != tt.want {
					t.Errorf("%s auto-clears after %s, want %s", id, got, tt.want)
				}
			}
		})
	}
}
