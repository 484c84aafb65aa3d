package alarm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-kit/log"
)

func TestLogEvents(t *testing.T) {
	tests := []struct {
		transition Transition
		status     Status
		want       string
	}{
		{TransitionActivated, Activated, `level=warn msg="alarm activated" id=BackendConnectionRefuse source= status=ACTIVATED detail=down`},
		{TransitionUpdated, Activated, `level=warn msg="alarm updated" id=BackendConnectionRefuse source= status=ACTIVATED detail=down`},
		{TransitionCleared, Cleared, `level=info msg="alarm cleared" id=BackendConnectionRefuse source= status=CLEARED detail=down`},
		{TransitionRemoved, Cleared, `level=info msg="alarm removed" id=BackendConnectionRefuse source= status=CLEARED detail=down`},
	}
	for _, tt := range tests {
		t.Run(string(tt.transition), func(t *testing.T) {
			var buf bytes.Buffer
			fields, err := encodeFields([]Field{Detail("down")})
			if err != nil {
				t.Fatal(err)
			}
			LogEvents(log.NewLogfmtLogger(&buf))(Event{Transition: tt.transition,
				Alarm: Alarm{ID: BackendConnectionRefuse, Status: tt.status, Fields: fields}})
			if got := strings.TrimSpace(buf.String()); got != tt.want {
				t.Errorf("logged\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}
