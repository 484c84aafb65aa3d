package simulator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keeper keeps leases alive over a single LeaseKeepAlive stream.
//
// clientv3's Lease.KeepAlive wants a response channel per lease that
// someone drains, which means a goroutine per lease: too much for registries
// of 10^5..10^6 instances with a lease each. The keeper sends the same
// requests on one stream, with one sender and one receiver. All leases have
// the same TTL, so renewals are due in the order they were last sent: a
// FIFO queue is a priority queue here.
type keeper struct {
	leases pb.LeaseClient
	// period is the time between renewals of a lease: a third of the TTL,
	// as clientv3 does, so that one lost renewal does not expire it.
	period time.Duration
	logger log.Logger
	// expired is told about a kept lease that etcd no longer knows (it
	// expired, or someone else revoked it). Called without keeper locks.
	expired func(clientv3.LeaseID)

	mu    sync.Mutex
	live  map[clientv3.LeaseID]struct{}
	queue []dueLease // due times never decrease from head on
	head  int
	// wake tells the sender that the queue changed.
	wake chan struct{}
}

type dueLease struct {
	id clientv3.LeaseID
	at time.Time
}

// Bounds of the keeper's loops.
const (
	// maxBurst bounds the renewals sent before the sender looks at its
	// context and the receiver again.
	maxBurst = 4096
	// minBackoff and maxBackoff bound the wait before reopening a failed
	// stream; the wait never exceeds a renewal period either, so that etcd
	// back from an outage sees renewals before leases run out.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// stableSession is how long a stream must have worked for the backoff
	// to start again from minBackoff.
	stableSession = 10 * time.Second
)

func newKeeper(leases pb.LeaseClient, ttl time.Duration, logger log.Logger, expired func(clientv3.LeaseID)) *keeper {
	return &keeper{
		leases:  leases,
		period:  max(ttl/3, 100*time.Millisecond),
		logger:  logger,
		expired: expired,
		live:    map[clientv3.LeaseID]struct{}{},
		wake:    make(chan struct{}, 1),
	}
}

// add starts keeping id alive; it was just granted, so its first renewal is
// a period away. Leases added while run is not running wait for it.
func (k *keeper) add(id clientv3.LeaseID) {
	k.mu.Lock()
	k.live[id] = struct{}{}
	k.queue = append(k.queue, dueLease{id: id, at: time.Now().Add(k.period)})
	k.mu.Unlock()
	k.signal()
}

// remove stops keeping id alive (its entry leaves the queue when it falls
// due). It reports whether id was kept.
func (k *keeper) remove(id clientv3.LeaseID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.live[id]
	delete(k.live, id)
	return ok
}

// alive reports whether id is kept alive.
func (k *keeper) alive(id clientv3.LeaseID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.live[id]
	return ok
}

// size is the number of leases kept alive.
func (k *keeper) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.live)
}

func (k *keeper) signal() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// due pops up to limit live leases due at now, queues their next renewal,
// and returns them with the time the next lease falls due (zero if none).
func (k *keeper) due(now time.Time, limit int) ([]clientv3.LeaseID, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var ids []clientv3.LeaseID
	next := now.Add(k.period)
	for k.head < len(k.queue) && len(ids) < limit {
		d := k.queue[k.head]
		if d.at.After(now) {
			break
		}
		k.queue[k.head] = dueLease{}
		k.head++
		if _, ok := k.live[d.id]; !ok {
			continue // removed: drop its entry
		}
		ids = append(ids, d.id)
		k.queue = append(k.queue, dueLease{id: d.id, at: next})
	}
	k.compact()
	if k.head == len(k.queue) {
		return ids, time.Time{}
	}
	return ids, k.queue[k.head].at
}

// compact drops the popped head of the queue once it is most of it, so the
// queue stays within twice the number of entries.
func (k *keeper) compact() {
	if k.head < 1024 || k.head < len(k.queue)/2 {
		return
	}
	n := copy(k.queue, k.queue[k.head:])
	clear(k.queue[n:])
	k.queue = k.queue[:n]
	k.head = 0
}

// requeueAll makes every live lease due now: after a broken stream nobody
// knows which renewals arrived, and the leases may be close to expiring.
func (k *keeper) requeueAll(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.queue)
	k.queue = k.queue[:0]
	k.head = 0
	for id := range k.live {
		k.queue = append(k.queue, dueLease{id: id, at: now})
	}
}

// run keeps the leases alive until ctx is done, reopening the stream with
// backoff when it fails (etcd down, connection lost). The first failure of
// a series is a warning, the retries are debug noise.
func (k *keeper) run(ctx context.Context) {
	backoff := minBackoff
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		err := k.session(ctx, func() {
			if failures > 0 {
				level.Info(k.logger).Log("msg", "lease keep-alive stream reopened", "failures", failures)
				failures = 0
			}
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > stableSession {
			backoff = minBackoff
		}
		failures++
		lvl := level.Debug
		if failures == 1 {
			lvl = level.Warn
		}
		lvl(k.logger).Log("msg", "lease keep-alive stream failed, reopening", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff, max(k.period, minBackoff))
	}
}

// session runs one stream: it sends renewals as they fall due while a
// receiver goroutine reads the answers. opened is called once the stream
// is open. It returns when the stream fails or ctx is done, after the
// receiver has stopped.
func (k *keeper) session(ctx context.Context, opened func()) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := k.leases.LeaseKeepAlive(sctx)
	if err != nil {
		return fmt.Errorf("opening the lease keep-alive stream: %w", err)
	}
	opened()
	var recvErr error
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		recvErr = k.receive(stream)
	}()
	defer func() {
		cancel()
		<-recvDone
	}()

	k.requeueAll(time.Now())
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ids, next := k.due(time.Now(), maxBurst)
		for _, id := range ids {
			if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: int64(id)}); err != nil {
				return fmt.Errorf("sending a lease renewal: %w", err)
			}
		}
		var fire <-chan time.Time
		switch {
		case len(ids) == maxBurst:
			timer.Reset(0) // more are due: go on after a look around
			fire = timer.C
		case !next.IsZero():
			timer.Reset(time.Until(next))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-recvDone:
			return fmt.Errorf("receiving lease renewals: %w", recvErr)
		case <-k.wake:
		case <-fire:
		}
	}
}

// receive reads renewal answers until the stream fails. A TTL ≤ 0 means
// etcd does not know the lease any more.
func (k *keeper) receive(stream pb.Lease_LeaseKeepAliveClient) error {
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.TTL > 0 {
			continue
		}
		id := clientv3.LeaseID(resp.ID)
		if k.remove(id) {
			k.expired(id)
		}
	}
}
