package notify

import (
	"sync"
	"time"
)

// queue is a bounded multi-producer, single-consumer queue. The consumer
// takes everything pending in one step and delivers it outside the lock, so
// a busy type costs one lock round per event for the publisher and almost
// nothing per event for the delivery goroutine; a channel costs both sides
// a contended lock per event.
type queue struct {
	mu       sync.Mutex
	pending  []Event
	capacity int
	closed   bool
	// space is closed (and replaced) when the consumer takes the pending
	// events while publishers wait for room.
	space   chan struct{}
	waiters int
	// wake holds a token when events arrived while the consumer may sleep.
	wake chan struct{}
	// spare is the consumer's last batch, reused for the next pending
	// slice so that a steady stream allocates nothing.
	spare []Event
}

func newQueue(capacity int) *queue {
	return &queue{
		pending:  make([]Event, 0, capacity),
		spare:    make([]Event, 0, capacity),
		capacity: capacity,
		space:    make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
}

// put appends e if there is room. It reports ErrStopped once closed.
func (q *queue) put(e Event) (ok bool, err error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false, ErrStopped
	}
	if len(q.pending) >= q.capacity {
		q.mu.Unlock()
		return false, nil
	}
	q.appendAndUnlock(e)
	return true, nil
}

// appendAndUnlock appends e, releases the lock and wakes the consumer if
// the queue was empty.
func (q *queue) appendAndUnlock(e Event) {
	q.pending = append(q.pending, e)
	first := len(q.pending) == 1
	q.mu.Unlock()
	if first {
		q.signal()
	}
}

// putWait is put that waits up to timeout for room.
func (q *queue) putWait(e Event, timeout time.Duration) (ok bool, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return false, ErrStopped
		}
		if len(q.pending) < q.capacity {
			q.appendAndUnlock(e)
			return true, nil
		}
		q.waiters++
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
			q.mu.Lock()
			q.waiters--
			q.mu.Unlock()
		case <-timer.C:
			q.mu.Lock()
			q.waiters--
			q.mu.Unlock()
			return false, nil
		}
	}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take waits for pending events and returns them all; it returns nil once
// the queue is closed and empty. The returned slice is the consumer's until
// its next take.
func (q *queue) take() []Event {
	q.mu.Lock()
	for len(q.pending) == 0 {
		if q.closed {
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		<-q.wake
		q.mu.Lock()
	}
	batch := q.pending
	clear(q.spare) // the previous batch, delivered: drop its references
	q.pending = q.spare[:0]
	q.spare = batch
	if q.waiters > 0 {
		close(q.space)
		q.space = make(chan struct{})
	}
	q.mu.Unlock()
	return batch
}

// close refuses further events; take returns what is pending, then nil.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	if q.waiters > 0 {
		close(q.space)
		q.space = make(chan struct{})
	}
	q.mu.Unlock()
	q.signal()
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}
