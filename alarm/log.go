package alarm

import (
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// LogEvents returns a subscriber for Center.Subscribe that logs every alarm
// transition: activations and updates at warn, clears at info.
func LogEvents(logger log.Logger) func(Event) {
	return func(ev Event) {
		lvl := level.Warn
		if ev.Transition == TransitionCleared || ev.Transition == TransitionRemoved {
			lvl = level.Info
		}
		lvl(logger).Log("msg", "alarm "+string(ev.Transition), "id", ev.Alarm.ID, "source", ev.Alarm.Source,
			"status", ev.Alarm.Status, "detail", ev.Alarm.Detail())
	}
}
