package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// jobQueue runs the heavy requests (evaluate, build) one at a time — the
// engine already uses every core — from a bounded queue: at most maxPer
// queued or running per client and maxAll overall; past that a request is
// refused with the reason. A job whose client has gone is skipped, and a
// running one sees its context cancelled, so no work outlives its tab.
type jobQueue struct {
	mu     sync.Mutex
	maxAll int
	maxPer int
	total  int
	per    map[*client]int
	ch     chan job
	closed bool
	// ran and skipped count jobs run and jobs dropped because their
	// client had gone (for tests and diagnostics).
	ran, skipped atomic.Int64
}

type job struct {
	c   *client
	run func(ctx context.Context)
}

func newJobQueue(maxAll, maxPer int) *jobQueue {
	q := &jobQueue{maxAll: maxAll, maxPer: maxPer, per: map[*client]int{}, ch: make(chan job, maxAll)}
	go q.work()
	return q
}

// submit queues fn for client c, or says why not.
func (q *jobQueue) submit(c *client, what string, fn func(ctx context.Context)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("%s refused: the server is shutting down", what)
	}
	if q.per[c] >= q.maxPer {
		return fmt.Errorf("%s refused: this tab already has %d requests queued or running (limit %d); wait for a reply", what, q.per[c], q.maxPer)
	}
	if q.total >= q.maxAll {
		return fmt.Errorf("%s refused: the server has %d requests queued or running (limit %d); try again shortly", what, q.total, q.maxAll)
	}
	q.per[c]++
	q.total++
	q.ch <- job{c: c, run: fn} // never blocks: total <= cap
	return nil
}

func (q *jobQueue) work() {
	for j := range q.ch {
		if j.c.ctx.Err() == nil {
			j.run(j.c.ctx)
			q.ran.Add(1)
		} else {
			q.skipped.Add(1)
		}
		q.mu.Lock()
		q.total--
		if q.per[j.c]--; q.per[j.c] == 0 {
			delete(q.per, j.c)
		}
		q.mu.Unlock()
	}
}

// pending is how many jobs are queued or running.
func (q *jobQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// stop ends the worker after the queued jobs (whose clients are gone by then).
// A submit after stop is refused, never sent on the closed channel.
func (q *jobQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}
