package forwarder

import (
	"context"
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	commoncfg "github.com/prometheus/common/config"

	"github.com/servicecomb/servicecomb_exporter/config"
)

// errorLogInterval bounds how often one Alertmanager's failures are logged;
// every failure is counted.
const errorLogInterval = time.Minute

// alertmanager is one Alertmanager: its own bounded queue and send loop, so
// that a slow or dead Alertmanager never delays another.
type alertmanager struct {
	url      string // for labels and logs; never holds credentials
	api      *amclient.AlertmanagerAPI
	timeout  time.Duration
	batch    int
	capacity int
	logger   log.Logger
	metrics  *metrics

	mu          sync.Mutex
	queue       []*models.PostableAlert
	more        chan struct{} // a token when the queue gained alerts
	failing     bool
	lastError   time.Time // last failure logged
	lastDropLog time.Time
	status      AlertmanagerStatus // counted with the metrics, for Status

	// onSent, when set by a benchmark, is told about every batch sent.
	onSent func(batch []*models.PostableAlert, err error)
}

func newAlertmanager(cfg config.AlertmanagerConfig, batch, capacity int, logger log.Logger, m *metrics) (*alertmanager, error) {
	u := cfg.URL.URL
	httpClient, err := commoncfg.NewClientFromConfig(cfg.HTTPClientConfig, "servicecomb_exporter_alertmanager")
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: http_config: %w", cfg.URL.Redacted(), err)
	}
	transport := httptransport.NewWithClient(u.Host, path.Join("/", u.Path, "/api/v2"), []string{u.Scheme}, httpClient)
	am := &alertmanager{
		url:      cfg.URL.Redacted(),
		api:      amclient.New(transport, strfmt.Default),
		timeout:  time.Duration(cfg.Timeout),
		batch:    batch,
		capacity: capacity,
		metrics:  m,
		more:     make(chan struct{}, 1),
	}
	am.logger = log.With(logger, "alertmanager", am.url)
	m.queueCapacity.WithLabelValues(am.url).Set(float64(capacity))
	m.queueLength.WithLabelValues(am.url).Set(0)
	// Every series exists from the start, at zero, so that rates and
	// ratios over them are defined before the first alert.
	m.sent.WithLabelValues(am.url)
	m.errors.WithLabelValues(am.url)
	m.dropped.WithLabelValues(am.url)
	m.latency.WithLabelValues(am.url)
	return am, nil
}

// enqueue adds alerts, dropping the oldest when the queue is full, as
// Prometheus does: newer states of an alarm matter more than older ones.
func (am *alertmanager) enqueue(alerts []*models.PostableAlert) {
	am.mu.Lock()
	am.queue = append(am.queue, alerts...)
	if over := len(am.queue) - am.capacity; over > 0 {
		am.queue = am.queue[over:]
		am.metrics.dropped.WithLabelValues(am.url).Add(float64(over))
		am.status.Dropped += uint64(over)
		if time.Since(am.lastDropLog) >= errorLogInterval {
			level.Warn(am.logger).Log("msg", "alert queue full, dropping the oldest alerts", "capacity", am.capacity)
			am.lastDropLog = time.Now()
		}
	}
	am.metrics.queueLength.WithLabelValues(am.url).Set(float64(len(am.queue)))
	am.mu.Unlock()
	select {
	case am.more <- struct{}{}:
	default:
	}
}

// next takes up to one batch off the queue.
func (am *alertmanager) next() []*models.PostableAlert {
	am.mu.Lock()
	defer am.mu.Unlock()
	n := min(len(am.queue), am.batch)
	if n == 0 {
		return nil
	}
	batch := make([]*models.PostableAlert, n)
	copy(batch, am.queue)
	clear(am.queue[:n]) // let the sent alerts be collected
	am.queue = am.queue[n:]
	am.metrics.queueLength.WithLabelValues(am.url).Set(float64(len(am.queue)))
	return batch
}

func (am *alertmanager) queueLen() int {
	am.mu.Lock()
	defer am.mu.Unlock()
	return len(am.queue)
}

// run sends batches until ctx is done, then flushes what is queued until
// flushCtx is done.
func (am *alertmanager) run(ctx, flushCtx context.Context) {
	for {
		// Checked before taking a batch: once stopping, every batch goes
		// to the flush below instead of failing on a cancelled context.
		for ctx.Err() == nil {
			batch := am.next()
			if batch == nil {
				break
			}
			am.send(ctx, batch)
		}
		select {
		case <-am.more:
		case <-ctx.Done():
			for batch := am.next(); batch != nil && flushCtx.Err() == nil; batch = am.next() {
				am.send(flushCtx, batch)
			}
			return
		}
	}
}

// send posts one batch. A failed batch is not retried: the resend of every
// active and recently resolved alarm is what makes delivery reliable.
func (am *alertmanager) send(ctx context.Context, batch []*models.PostableAlert) {
	ctx, cancel := context.WithTimeout(ctx, am.timeout)
	defer cancel()
	start := time.Now()
	_, err := am.api.Alert.PostAlerts(alert.NewPostAlertsParams().WithContext(ctx).WithAlerts(batch))
	am.metrics.latency.WithLabelValues(am.url).Observe(time.Since(start).Seconds())
	am.metrics.sent.WithLabelValues(am.url).Add(float64(len(batch)))
	if am.onSent != nil {
		am.onSent(batch, err)
	}
	am.mu.Lock()
	defer am.mu.Unlock()
	am.status.Sent += uint64(len(batch))
	if err != nil {
		am.metrics.errors.WithLabelValues(am.url).Add(float64(len(batch)))
		am.status.Errors += uint64(len(batch))
		am.status.LastError, am.status.LastErrorAt = err.Error(), time.Now()
		if !am.failing || time.Since(am.lastError) >= errorLogInterval {
			level.Error(am.logger).Log("msg", "sending alerts failed", "alerts", len(batch), "err", err)
			am.lastError = time.Now()
		}
		am.failing = true
		return
	}
	am.status.LastSuccess = time.Now()
	if am.failing {
		level.Info(am.logger).Log("msg", "sending alerts works again")
		am.failing = false
	}
}
