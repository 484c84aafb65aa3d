package main

import (
	"errors"
	"time"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/config"
)

// autoClearer is the part of the alarm center the alarms section sets.
type autoClearer interface {
	SetAutoClear(id alarm.ID, after time.Duration) error
}

// applyAlarmsConfig gives the alarms Service Center never clears their quiet
// period from the configuration, the only place it is defined: InternalError,
// and WebsocketOfScSyncerLost when mirrored.
func applyAlarmsConfig(center autoClearer, c config.AlarmsConfig) error {
	quiet := time.Duration(c.InternalErrorAutoClear)
	return errors.Join(center.SetAutoClear(alarm.InternalError, quiet),
		center.SetAutoClear(alarm.WebsocketOfScSyncerLost, quiet))
}
