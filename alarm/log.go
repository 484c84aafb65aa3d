package alarm

import (
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/servicecomb/servicecomb_exporter/notify"
)

// NewLogSubscriber returns a bus subscriber that logs every alarm
// transition: activations and updates at warn, clears at info.
func NewLogSubscriber(logger log.Logger, eventType notify.Type) notify.Subscriber {
	return notify.NewFuncSubscriber("alarm-log", eventType, Subject, "log", func(e notify.Event) error {
		ev, ok := e.(*Event)
		if !ok {
			return nil
		}
		lvl := level.Warn
		if ev.Transition == TransitionCleared || ev.Transition == TransitionRemoved {
			lvl = level.Info
		}
		lvl(logger).Log("msg", "alarm "+string(ev.Transition), "id", ev.Alarm.ID, "source", ev.Alarm.Source,
			"status", ev.Alarm.Status, "detail", ev.Alarm.Detail())
		return nil
	})
}
