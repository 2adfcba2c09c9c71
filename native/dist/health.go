package dist

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// watchHealth checks every `every` that the server still holds the
// pool's stream, consumer and results bucket. A server restarted without
// its data has none of them: the jobs in flight are gone with the queue,
// and the key-value watch would retry forever. The pool then stops its
// waits (search.ErrEvaluatorGone: the search ends with the reason and
// --resume continues it once the server is back). A server that is
// merely unreachable is waited for (the client reconnects).
func (p *Pool) watchHealth(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := p.health(ctx); err != nil {
			p.logf("dist: %v", err)
			p.lostWhy = err
			close(p.lost)
			p.cancel() // the results watch
			return
		}
	}
}

// health says what the server has lost, nil when it has lost nothing (or
// cannot be asked now).
func (p *Pool) health(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lost := func(what string) error {
		return fmt.Errorf("the NATS server at %s no longer has %s (restarted without its data?): this run's queued jobs are gone", p.nc.ConnectedUrlRedacted(), what)
	}
	if _, err := p.js.Stream(c, JobsStream); errors.Is(err, jetstream.ErrStreamNotFound) {
		return lost("the stream " + JobsStream)
	}
	if _, err := p.js.Consumer(c, JobsStream, ConsumerFor(p.fingerprint)); errors.Is(err, jetstream.ErrConsumerNotFound) {
		return lost("the consumer " + ConsumerFor(p.fingerprint))
	}
	if _, err := p.js.KeyValue(c, ResultsBucket); errors.Is(err, jetstream.ErrBucketNotFound) {
		return lost("the key-value bucket " + ResultsBucket)
	}
	return nil
}
