package dist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/task"
)

// PoolOptions tune the work queue.
type PoolOptions struct {
	// AckWait is how long a worker may go silent on a job (it sends
	// in-progress acks at a third of it) before the job goes to another
	// worker (default 30 s).
	AckWait time.Duration
	// Tries is how many deliveries a job gets before it becomes a failed
	// trial (default 3).
	Tries int
	Log   io.Writer // notices (refusals, workers heard); nil: none
	// Gone, when closed, says no worker is left to evaluate (every local
	// worker has exited): Run returns search.ErrEvaluatorGone.
	Gone <-chan struct{}
	// JobTimeout is the workers' per-job bound (default
	// DefaultJobTimeout): a job without a result after Tries × (JobTimeout
	// + AckWait) + a minute stops the search (search.ErrEvaluatorGone).
	JobTimeout time.Duration
	// Health is how often the pool checks that the server still has its
	// stream, consumer and buckets (default 5 s).
	Health time.Duration
}

// Pool runs a session's jobs on the workers attached to a NATS server: it
// is the session's Runner on the coordinator.
type Pool struct {
	nc          *nats.Conn
	js          jetstream.JetStream
	results     jetstream.KeyValue
	run         string
	fingerprint string
	log         io.Writer
	cancel      context.CancelFunc
	subs        []*nats.Subscription

	mu      sync.Mutex
	done    map[string]*resultMsg // job id -> result (this run's)
	waiting map[string][]chan *resultMsg
	refused map[string][]string // job id -> refusal reasons
	seen    map[string]bool     // workers heard from (each join is said once)
	stored  int                 // results arrived from workers (not found already stored)
	shipped map[string]string   // calibration file path -> its object name
	gone    <-chan struct{}

	specs   []task.Spec
	layers  int
	tries   int
	bound   time.Duration // the longest wait for one job's result
	checkMu sync.Mutex
	nOrig   map[string]int      // task -> its size, from the first result checked
	by      map[string][]string // recipe (session.JobID(target, 0, 0)) -> workers whose results it used
	lost    chan struct{}       // closed when the server has lost the pool's state
	lostWhy error
}

// OpenPool prepares run on a NATS server: the stream, consumer and
// buckets (created when missing; a stream of the same name with another
// shape is refused), the run's manifest and task files; it reads the
// results already stored for the run, so a resumed run reuses them.
func OpenPool(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, s *session.Session, run string, o PoolOptions) (*Pool, error) {
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.Tries <= 0 {
		o.Tries = 3
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = DefaultJobTimeout
	}
	if o.Health <= 0 {
		o.Health = 5 * time.Second
	}
	if err := CheckRun(run); err != nil {
		return nil, err
	}
	if err := Setup(ctx, js, o, s.Family.Fingerprint); err != nil {
		return nil, err
	}
	p := &Pool{nc: nc, js: js, run: run, fingerprint: s.Family.Fingerprint, log: o.Log, gone: o.Gone,
		done: map[string]*resultMsg{}, waiting: map[string][]chan *resultMsg{}, refused: map[string][]string{}, seen: map[string]bool{},
		specs: s.Specs, layers: s.Family.Base().Config.NumHiddenLayers, tries: o.Tries, nOrig: map[string]int{}, by: map[string][]string{},
		lost: make(chan struct{}), bound: time.Duration(o.Tries)*(o.JobTimeout+o.AckWait) + time.Minute}
	var err error
	if p.results, err = js.KeyValue(ctx, ResultsBucket); err != nil {
		return nil, err
	}
	if err := p.publishManifest(ctx, s.Specs); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	w, err := p.results.Watch(wctx, run+".*")
	if err != nil {
		cancel()
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		defer w.Stop()
		first := true
		for e := range w.Updates() {
			if e == nil { // the stored values have all been delivered
				if first {
					close(ready)
					first = false
				}
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			r, err := decodeResult(e.Value())
			if err == nil && e.Key() != run+"."+r.Job {
				err = fmt.Errorf("a result for job %q", Clip(r.Job, 40))
			}
			if err != nil {
				p.logf("dist: result %s: %v: ignored", Clip(e.Key(), 100), err)
				continue
			}
			p.deliver(r, !first)
		}
	}()
	select {
	case <-ready:
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		cancel()
		return nil, errors.New("reading the run's stored results from NATS took over 30 s")
	}
	if n := len(p.done); n > 0 {
		p.logf("dist: %d results of run %s already stored: they are reused", n, run)
	}
	sub, err := nc.Subscribe(NoticeSubject+"."+run, func(m *nats.Msg) {
		if n, err := decodeNotice(m.Data); err == nil {
			p.notice(n)
		}
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	sub.SetPendingLimits(256, 4<<20) // a flood is dropped, not buffered
	p.subs = append(p.subs, sub)
	hb, err := WatchWorkers(nc, func(h Heartbeat) {
		p.mu.Lock()
		known := p.seen[h.Name]
		if !known && len(p.seen) >= MaxTrackedWorkers {
			p.mu.Unlock()
			return
		}
		p.seen[h.Name] = true
		p.mu.Unlock()
		if !known {
			same := "same family"
			if h.Fingerprint != p.fingerprint {
				same = "a DIFFERENT family (fingerprint " + h.Fingerprint + ", this run's is " + p.fingerprint + "): it does not get this run's jobs"
			}
			p.logf("dist: worker %s joined (%d threads, %s)", h.Name, h.Threads, same)
		}
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	p.subs = append(p.subs, hb)
	go p.watchHealth(wctx, o.Health)
	return p, nil
}

// Setup creates the stream, consumer and buckets when missing and checks
// that an existing stream is the work queue gptailor made.
func Setup(ctx context.Context, js jetstream.JetStream, o PoolOptions, fingerprint string) error {
	want := jetstream.StreamConfig{Name: JobsStream, Subjects: []string{JobsSubject + ".>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}
	st, err := js.Stream(ctx, JobsStream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateStream(ctx, want); err != nil {
			return fmt.Errorf("creating stream %s: %w", JobsStream, err)
		}
	case err != nil:
		return fmt.Errorf("stream %s: %w", JobsStream, err)
	default:
		c := st.CachedInfo().Config
		if c.Retention != jetstream.WorkQueuePolicy || len(c.Subjects) != 1 || c.Subjects[0] != want.Subjects[0] {
			return fmt.Errorf("the NATS server already has a stream %s that is not gptailor's work queue (retention %v, subjects %v): it was left by something else; remove it (nats stream rm %s) or use another server", JobsStream, c.Retention, c.Subjects, JobsStream)
		}
	}
	// The single consumer of earlier versions takes every family's jobs:
	// a work queue allows no consumer beside it.
	if err := js.DeleteConsumer(ctx, JobsStream, Consumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("removing the old consumer %s: %w", Consumer, err)
	}
	name := ConsumerFor(fingerprint)
	if _, err := js.CreateOrUpdateConsumer(ctx, JobsStream, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: Subject(fingerprint, ">"), AckWait: o.AckWait, MaxDeliver: o.Tries + 1, MaxAckPending: 1024}); err != nil {
		return fmt.Errorf("consumer %s on %s: %w", name, JobsStream, err)
	}
	for _, b := range []jetstream.KeyValueConfig{
		{Bucket: ResultsBucket, Description: "gptailor: job results by run and job", TTL: 30 * 24 * time.Hour, Storage: jetstream.FileStorage},
		{Bucket: RunsBucket, Description: "gptailor: run manifests", Storage: jetstream.FileStorage},
	} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, b); err != nil {
			return fmt.Errorf("key-value bucket %s: %w", b.Bucket, err)
		}
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: FilesBucket, Description: "gptailor: task files by content hash", Storage: jetstream.FileStorage}); err != nil {
		return fmt.Errorf("object store %s: %w", FilesBucket, err)
	}
	return nil
}

// publishManifest uploads the task files and writes the run's manifest.
func (p *Pool) publishManifest(ctx context.Context, specs []task.Spec) error {
	obs, err := p.js.ObjectStore(ctx, FilesBucket)
	if err != nil {
		return err
	}
	m := Manifest{Run: p.run, Fingerprint: p.fingerprint, Created: time.Now().UTC()}
	for _, s := range specs {
		if s.Type == "kl" {
			return fmt.Errorf("task %s: kl tasks need their reference model on every worker, which distributed runs do not ship yet: run it without --workers/--nats", s.Name)
		}
		name, err := ship(ctx, obs, s.Path)
		if err != nil {
			return fmt.Errorf("task %s: %w", s.Name, err)
		}
		s.Path = name
		m.Tasks = append(m.Tasks, s)
	}
	kv, err := p.js.KeyValue(ctx, RunsBucket)
	if err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, p.run, b)
	return err
}

// ship stores a file in the object store under its content hash (once)
// and returns the object's name.
func ship(ctx context.Context, obs jetstream.ObjectStore, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	name := hex.EncodeToString(h[:])
	if ext := strings.ToLower(filepath.Ext(path)); checkObjectName(name+ext) == nil {
		name += ext // the readers tell JSONL by it
	}
	if _, err := obs.GetInfo(ctx, name); err != nil {
		if _, err := obs.PutBytes(ctx, name, b); err != nil {
			return "", fmt.Errorf("storing %s: %w", path, err)
		}
	}
	return name, nil
}

// ObjectPrefix marks a file a job names by its object in FilesBucket (a
// repair's calibration text): the worker fetches it.
const ObjectPrefix = "nats-object:"

// shipRepair returns the job as workers get it: a repaired plan's
// calibration file is shipped and named by its object.
func (p *Pool) shipRepair(ctx context.Context, j session.Job) (session.Job, error) {
	pl := j.Target.Plan
	if pl == nil || pl.Repair == nil {
		return j, nil
	}
	path := pl.Repair.Calibration
	p.mu.Lock()
	name, ok := p.shipped[path]
	p.mu.Unlock()
	if !ok {
		obs, err := p.js.ObjectStore(ctx, FilesBucket)
		if err != nil {
			return j, err
		}
		if name, err = ship(ctx, obs, path); err != nil {
			return j, fmt.Errorf("repair calibration: %w", err)
		}
		p.mu.Lock()
		if p.shipped == nil {
			p.shipped = map[string]string{}
		}
		p.shipped[path] = name
		p.mu.Unlock()
	}
	q, r := *pl, *pl.Repair
	r.Calibration = ObjectPrefix + name
	q.Repair = &r
	j.Target.Plan = &q
	return j, nil
}

func (p *Pool) logf(format string, a ...any) {
	if p.log != nil {
		fmt.Fprintf(p.log, format+"\n", a...)
	}
}

// deliver records a result and wakes who waits for it; a result already
// recorded (a late duplicate) changes nothing.
func (p *Pool) deliver(r *resultMsg, fresh bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.done[r.Job]; dup {
		return
	}
	p.done[r.Job] = r
	if fresh {
		p.stored++
	}
	for _, ch := range p.waiting[r.Job] {
		ch <- r
	}
	delete(p.waiting, r.Job)
}

// Run implements session.Runner: the stored result when there is one,
// else the job goes on the queue and Run waits for its result. A result
// that fails checkResult is deleted and the job queued again, up to Tries
// times; the trial then fails naming the workers.
func (p *Pool) Run(ctx context.Context, j session.Job) ([]*task.Result, error) {
	wj, err := p.shipRepair(ctx, j)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(jobMsg{Run: p.run, Fingerprint: p.fingerprint, Job: wj})
	if err != nil {
		return nil, err
	}
	if _, err := decodeJob(body, p.layers); err != nil { // what every worker would refuse
		return nil, err
	}
	var refused []string
	for attempt := 0; ; attempt++ {
		r, err := p.await(ctx, j, body, attempt)
		if err != nil {
			return nil, err
		}
		p.checkMu.Lock()
		if !r.checked && !r.notice {
			if err = checkResult(r, j, p.specs, p.nOrig); err == nil {
				r.checked = true
			}
		}
		p.checkMu.Unlock()
		if err != nil {
			why := fmt.Sprintf("worker %s: %v", Clip(r.Worker, MaxNameRunes), err)
			p.logf("dist: refused the result of %s (trial %d) from %s", j.Target.Name(), j.Trial, why)
			refused = append(refused, why)
			p.forget(j.ID)
			p.results.Delete(ctx, p.run+"."+j.ID)
			if attempt+1 >= p.tries {
				return nil, fmt.Errorf("%s: every result was refused: %s", j.Target.Name(), strings.Join(refused, "; "))
			}
			continue
		}
		if r.Error != "" {
			p.mu.Lock()
			why := p.refused[j.ID]
			p.mu.Unlock()
			if len(why) > 0 && !r.notice {
				sort.Strings(why)
				return nil, fmt.Errorf("%s (refused by %s)", r.Error, strings.Join(why, "; "))
			}
			return nil, errors.New(r.Error)
		}
		p.mu.Lock()
		key := session.JobID(j.Target, 0, 0)
		if !slices.Contains(p.by[key], r.Worker) {
			p.by[key] = append(p.by[key], r.Worker)
		}
		p.mu.Unlock()
		return r.Results, nil
	}
}

// await returns the job's result: stored, or queued (again, after a
// refused result: attempt > 0) and waited for.
func (p *Pool) await(ctx context.Context, j session.Job, body []byte, attempt int) (*resultMsg, error) {
	ch := make(chan *resultMsg, 1)
	p.mu.Lock()
	r, ok := p.done[j.ID]
	if !ok {
		p.waiting[j.ID] = append(p.waiting[j.ID], ch)
	}
	p.mu.Unlock()
	if ok {
		return r, nil
	}
	// The message id makes a job published twice within two minutes (a
	// coordinator restarted at once) one job.
	id := p.run + "." + j.ID
	if attempt > 0 {
		id += "." + strconv.Itoa(attempt)
	}
	if _, err := p.js.Publish(ctx, Subject(p.fingerprint, p.run), body, jetstream.WithMsgID(id)); err != nil {
		if lost := p.health(ctx); lost != nil {
			return nil, fmt.Errorf("%w: %v; --resume continues the run", search.ErrEvaluatorGone, lost)
		}
		return nil, fmt.Errorf("queueing %s: %w", j.Target.Name(), err)
	}
	timer := time.NewTimer(p.bound)
	defer timer.Stop()
	select {
	case r = <-ch:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.gone:
		return nil, fmt.Errorf("%w: every local worker has exited (see the log above) and no other worker is heard; --resume continues the run", search.ErrEvaluatorGone)
	case <-p.lost:
		return nil, fmt.Errorf("%w: %v; --resume continues the run", search.ErrEvaluatorGone, p.lostWhy)
	case <-timer.C:
		return nil, fmt.Errorf("%w: no result for %s (trial %d) within %v: no worker of this family took it, or each one stalled; --resume continues the run", search.ErrEvaluatorGone, j.Target.Name(), j.Trial, p.bound)
	}
}

// forget drops a refused result so the job's next one is awaited.
func (p *Pool) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.done, id)
}

// notice records a worker's refusal of a job this pool waits for (others
// are ignored: the record stays bounded); a failing notice ends the wait.
func (p *Pool) notice(n Notice) {
	p.mu.Lock()
	ws := p.waiting[n.Job]
	if len(ws) == 0 {
		p.mu.Unlock()
		return
	}
	first := len(p.refused[n.Job]) == 0
	if len(p.refused[n.Job]) < 8 {
		p.refused[n.Job] = append(p.refused[n.Job], n.Worker+": "+n.Reason)
	}
	if n.Fail {
		r := &resultMsg{Job: n.Job, Trial: n.Trial, Worker: n.Worker, Error: fmt.Sprintf("worker %s dropped the job: %s", n.Worker, n.Reason), notice: true}
		for _, ch := range ws {
			ch <- r
		}
		delete(p.waiting, n.Job)
	}
	p.mu.Unlock()
	if first {
		p.logf("dist: worker %s refused trial %d: %s", n.Worker, n.Trial, n.Reason)
	}
}

// Workers are the workers whose results a target's evaluations used.
func (p *Pool) Workers(t session.Target) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.by[session.JobID(t, 0, 0)]...)
}

// Stored is how many results arrived from workers while the pool was open
// (results found already stored at the start are not counted).
func (p *Pool) Stored() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stored
}

// Finish removes the run's manifest and any job left on the queue (so
// workers do not evaluate for a run that has ended); results stay.
func (p *Pool) Finish(ctx context.Context) error {
	if kv, err := p.js.KeyValue(ctx, RunsBucket); err == nil {
		kv.Delete(ctx, p.run)
	}
	st, err := p.js.Stream(ctx, JobsStream)
	if err != nil {
		return err
	}
	return st.Purge(ctx, jetstream.WithPurgeSubject(Subject(p.fingerprint, p.run)))
}

// Close stops watching; the connection is the caller's.
func (p *Pool) Close() {
	if p.cancel != nil {
		p.cancel()
	}
	for _, s := range p.subs {
		s.Unsubscribe()
	}
}

// WatchWorkers calls fn with every worker heartbeat that decodes
// (decodeHeartbeat), dated when it arrived: a heartbeat's own date only
// serves to refuse one from the future.
func WatchWorkers(nc *nats.Conn, fn func(Heartbeat)) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(HeartbeatSubj+".*", func(m *nats.Msg) {
		now := time.Now()
		if h, err := decodeHeartbeat(m.Data, now); err == nil {
			h.At = now
			fn(h)
		}
	})
	if err == nil {
		sub.SetPendingLimits(1024, 4<<20) // a flood is dropped, not buffered
	}
	return sub, err
}
