package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// MaxBatchPrompts bounds the prompts decoded together when concurrent
// requests are merged.
const MaxBatchPrompts = 16

// batcher merges concurrent greedy completion requests for the same model
// with the same max_tokens and stop strings (lm-eval's generate_until
// sends a task's requests so) into one decoding batch: the first of them
// the queue runs takes every such request still waiting and decodes them
// together; the others, when their turn comes, find their answer ready.
// Greedy decoding does not depend on the batch, so each gets what it
// would have alone.
type batcher struct {
	mu      sync.Mutex
	pending map[string][]*batchItem
	// merged counts requests answered by another request's batch.
	merged int
}

type batchItem struct {
	key     string
	ctx     context.Context // the request's: gone, it is not taken
	w       *work
	claimed bool
	done    chan struct{}
	out     *outcome
	err     error
}

// batchKey is the key of requests that can share a batch, "" for one that
// cannot (sampling, streaming, echo, logprobs).
func batchKey(model string, w *work) string {
	if w.onText != nil || w.echo || w.k >= 0 || !w.opts.Greedy() || w.opts.MaxTokens == 0 {
		return ""
	}
	stops, _ := json.Marshal(w.opts.Stop)
	return fmt.Sprintf("%s\x00%d\x00%s", model, w.opts.MaxTokens, stops)
}

// add registers a request that may share a batch.
func (b *batcher) add(ctx context.Context, key string, w *work) *batchItem {
	it := &batchItem{key: key, ctx: ctx, w: w, done: make(chan struct{})}
	b.mu.Lock()
	if b.pending == nil {
		b.pending = map[string][]*batchItem{}
	}
	b.pending[key] = append(b.pending[key], it)
	b.mu.Unlock()
	return it
}

// drop forgets a request the queue refused.
func (b *batcher) drop(it *batchItem) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remove(it.key, func(x *batchItem) bool { return x == it })
}

func (b *batcher) remove(key string, gone func(*batchItem) bool) {
	keep := b.pending[key][:0]
	for _, x := range b.pending[key] {
		if !gone(x) {
			keep = append(keep, x)
		}
	}
	if len(keep) == 0 {
		delete(b.pending, key)
	} else {
		b.pending[key] = keep
	}
}

// take claims it and every waiting request of its key that fits; nil
// when another request's batch already answered it.
func (b *batcher) take(it *batchItem) []*batchItem {
	b.mu.Lock()
	defer b.mu.Unlock()
	if it.claimed {
		b.merged++
		return nil
	}
	it.claimed = true
	group, n := []*batchItem{it}, len(it.w.prompts)
	for _, x := range b.pending[it.key] {
		if x.claimed || x.ctx.Err() != nil || n+len(x.w.prompts) > MaxBatchPrompts {
			continue
		}
		x.claimed = true
		group, n = append(group, x), n+len(x.w.prompts)
	}
	b.remove(it.key, func(x *batchItem) bool { return x.claimed || x.ctx.Err() != nil })
	return group
}

// runBatch answers it: decoding its batch (with the waiting requests it
// takes) on net, or finding the answer another batch left. The batch's
// decoding stops only when every request in it has gone.
func (a *API) runBatch(it *batchItem, do func(ctx context.Context, w *work) (*outcome, error)) {
	group := a.batch.take(it)
	if group == nil {
		<-it.done // its batch ran before this job (one job at a time)
		return
	}
	defer func() {
		for _, x := range group {
			if x.out == nil && x.err == nil {
				x.err = internal(fmt.Errorf("batch ended without an answer"))
			}
			close(x.done)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for _, x := range group {
			<-x.ctx.Done()
		}
		cancel()
	}()
	all := &work{opts: it.w.opts, k: -1}
	for _, x := range group {
		all.prompts = append(all.prompts, x.w.prompts...)
	}
	out, err := do(ctx, all)
	off := 0
	for _, x := range group {
		n := len(x.w.prompts)
		if err != nil && out == nil {
			x.err = err
		} else {
			x.out, x.err = &outcome{res: out.res[off : off+n], gen: out.gen[off : off+n], sent: out.sent[off : off+n]}, err
		}
		off += n
	}
}
