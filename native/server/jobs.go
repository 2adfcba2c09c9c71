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
	per    map[any]int // by owner: a tab (*client) or an API client
	ch     chan job
	closed bool
	// ran and skipped count jobs run and jobs dropped because their
	// client had gone (for tests and diagnostics).
	ran, skipped atomic.Int64
}

type job struct {
	owner any
	ctx   context.Context // cancelled when its owner goes
	run   func(ctx context.Context)
}

func newJobQueue(maxAll, maxPer int) *jobQueue {
	q := &jobQueue{maxAll: maxAll, maxPer: maxPer, per: map[any]int{}, ch: make(chan job, maxAll)}
	go q.work()
	return q
}

// submit queues fn for client c, or says why not.
func (q *jobQueue) submit(c *client, what string, fn func(ctx context.Context)) error {
	return q.add(c, c.ctx, "this tab", what, fn)
}

// add queues fn for an owner (who names it in a refusal) whose work
// stops when ctx is done.
func (q *jobQueue) add(owner any, ctx context.Context, who, what string, fn func(ctx context.Context)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("%s refused: the server is shutting down", what)
	}
	if q.per[owner] >= q.maxPer {
		return fmt.Errorf("%s refused: %s already has %d requests queued or running (limit %d); wait for a reply", what, who, q.per[owner], q.maxPer)
	}
	if q.total >= q.maxAll {
		return fmt.Errorf("%s refused: the server has %d requests queued or running (limit %d); try again shortly", what, q.total, q.maxAll)
	}
	q.per[owner]++
	q.total++
	q.ch <- job{owner: owner, ctx: ctx, run: fn} // never blocks: total <= cap
	return nil
}

func (q *jobQueue) work() {
	for j := range q.ch {
		if j.ctx.Err() == nil {
			j.run(j.ctx)
			q.ran.Add(1)
		} else {
			q.skipped.Add(1)
		}
		q.mu.Lock()
		q.total--
		if q.per[j.owner]--; q.per[j.owner] == 0 {
			delete(q.per, j.owner)
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
