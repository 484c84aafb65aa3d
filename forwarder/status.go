package forwarder

import (
	"slices"
	"strings"
	"time"
)

// AlertmanagerStatus is one Alertmanager's delivery state, for the status
// page. The counts are kept beside the metrics of the same name and change
// under the same lock, so the page and /metrics agree.
type AlertmanagerStatus struct {
	URL           string    `json:"url"` // credentials redacted
	QueueLength   int       `json:"queueLength"`
	QueueCapacity int       `json:"queueCapacity"`
	Sent          uint64    `json:"sent"`
	Errors        uint64    `json:"errors"`
	Dropped       uint64    `json:"dropped"`
	LastSuccess   time.Time `json:"lastSuccess,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
	LastErrorAt   time.Time `json:"lastErrorAt,omitzero"`
}

// Status returns every configured Alertmanager's state, ordered by URL.
func (f *Forwarder) Status() []AlertmanagerStatus {
	f.mu.Lock()
	ams := make([]*alertmanager, 0, f.ams.Len())
	for _, r := range f.ams.All() {
		ams = append(ams, r.am)
	}
	f.mu.Unlock()
	out := make([]AlertmanagerStatus, 0, len(ams))
	for _, am := range ams {
		am.mu.Lock()
		s := am.status
		s.URL, s.QueueLength, s.QueueCapacity = am.url, len(am.queue), am.capacity
		am.mu.Unlock()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b AlertmanagerStatus) int { return strings.Compare(a.URL, b.URL) })
	return out
}
