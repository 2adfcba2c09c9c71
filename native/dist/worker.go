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
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gptailor/gptailor/native/atomicfile"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/task"
)

// Worker evaluates jobs for any run whose family is its own: it pulls
// from its family's consumer only (ConsumerFor), so jobs of other
// families never reach it.
type Worker struct {
	Name   string
	Family *session.Family
	Files  string    // where task files fetched from the object store are kept
	Log    io.Writer // one line per job; nil: none
	// Every is the heartbeat period (default 2 s).
	Every time.Duration
	// JobTimeout bounds one job's evaluation (default DefaultJobTimeout):
	// past it the job ends as a failure saying so.
	JobTimeout time.Duration

	results jetstream.KeyValue // the results bucket, looked up once

	mu        sync.Mutex
	manifests map[string]*Manifest
	beat      Heartbeat
}

// DefaultJobTimeout bounds a job's evaluation unless --job-timeout says
// otherwise: a 1B family's full-budget job takes minutes.
const DefaultJobTimeout = time.Hour

func (w *Worker) logf(format string, a ...any) {
	if w.Log != nil {
		fmt.Fprintf(w.Log, "worker %s: "+format+"\n", append([]any{w.Name}, a...)...)
	}
}

// Serve pulls and evaluates jobs until ctx is done, through disconnects
// (the client reconnects; pulls are retried).
func (w *Worker) Serve(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error {
	if w.Every <= 0 {
		w.Every = 2 * time.Second
	}
	w.manifests = map[string]*Manifest{}
	if w.JobTimeout <= 0 {
		w.JobTimeout = DefaultJobTimeout
	}
	w.beat = Heartbeat{Name: w.Name, Fingerprint: w.Family.Fingerprint, Threads: runtime.GOMAXPROCS(0), Trial: -1}
	go w.heartbeats(ctx, nc)
	var cons jetstream.Consumer
	waiting := false
	for {
		if ctx.Err() != nil {
			return nil
		}
		if cons == nil {
			c, err := js.Consumer(ctx, JobsStream, ConsumerFor(w.Family.Fingerprint))
			if err == nil && w.results == nil {
				w.results, err = js.KeyValue(ctx, ResultsBucket)
			}
			if err != nil {
				// No coordinator of this family has set the queue up yet,
				// or the server is away: wait.
				if !waiting {
					w.logf("waiting for a run of this family (fingerprint %s): %v", w.Family.Fingerprint, err)
					waiting = true
				}
				sleep(ctx, time.Second)
				continue
			}
			cons, waiting = c, false
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				cons = nil
			}
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		w.handle(ctx, js, msg, cons)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (w *Worker) heartbeats(ctx context.Context, nc *nats.Conn) {
	t := time.NewTicker(w.Every)
	defer t.Stop()
	for {
		w.mu.Lock()
		w.beat.At = time.Now().UTC()
		b, _ := json.Marshal(w.beat)
		w.mu.Unlock()
		nc.Publish(HeartbeatSubj+"."+w.Name, b)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) setBusy(run string, trial int, busy bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.beat.Busy, w.beat.Run, w.beat.Trial = busy, run, trial
	if !busy {
		w.beat.Run, w.beat.Trial = "", -1
		w.beat.Done++
	}
}

// refuse drops a job that must not run (it is never redelivered) and
// tells its run's coordinator, which fails the job with the reason.
func (w *Worker) refuse(js jetstream.JetStream, msg jetstream.Msg, run, job string, trial int, reason string) {
	w.logf("refusing a job of run %s: %s", Clip(run, MaxNameRunes), reason)
	msg.Term()
	if CheckRun(run) != nil {
		return
	}
	if b, err := json.Marshal(Notice{Worker: w.Name, Job: job, Trial: trial, Reason: reason, Fail: true}); err == nil {
		js.Conn().Publish(NoticeSubject+"."+run, b)
	}
}

// handle runs one delivery of a job.
func (w *Worker) handle(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, cons jetstream.Consumer) {
	jm, err := decodeJob(msg.Data(), w.Family.Base().Config.NumHiddenLayers)
	if err != nil {
		var raw struct {
			Run string
			Job struct {
				ID    string
				Trial int
			}
		}
		if len(msg.Data()) <= MaxJobBytes {
			json.Unmarshal(msg.Data(), &raw)
		}
		w.refuse(js, msg, raw.Run, Clip(raw.Job.ID, 40), raw.Job.Trial, err.Error())
		return
	}
	if jm.Fingerprint != w.Family.Fingerprint {
		// Only a forged job gets here: the consumer filters by family.
		w.refuse(js, msg, jm.Run, jm.Job.ID, jm.Job.Trial, fmt.Sprintf("a job of family %s on family %s's subject", jm.Fingerprint, w.Family.Fingerprint))
		return
	}
	key := jm.Run + "." + jm.Job.ID
	results := w.results
	if _, err := results.Get(ctx, key); err == nil {
		msg.Ack() // a duplicate of a job already done
		return
	}
	md, _ := msg.Metadata()
	delivered := 1
	if md != nil {
		delivered = int(md.NumDelivered)
	}
	tries := 3
	if info := cons.CachedInfo(); info != nil && info.Config.MaxDeliver > 1 {
		tries = info.Config.MaxDeliver - 1
	}
	store := func(r *resultMsg) {
		r.Job, r.Trial, r.Worker, r.Delivered = jm.Job.ID, jm.Job.Trial, w.Name, delivered
		b, err := r.encode()
		if err != nil {
			r = &resultMsg{Job: jm.Job.ID, Trial: jm.Job.Trial, Worker: w.Name, Delivered: delivered, Error: "encoding the result: " + err.Error()}
			b, _ = r.encode()
		}
		if _, err := results.Create(ctx, key, b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			w.logf("storing %s: %v", key, err)
			msg.Nak()
			return
		}
		msg.DoubleAck(ctx)
	}
	if delivered > tries {
		// Every earlier delivery ended without a result: the worker died
		// or was stopped each time.
		store(&resultMsg{Error: fmt.Sprintf("%s was handed out %d times and no worker finished it (each one died or was killed)", jm.Job.Target.Name(), tries)})
		return
	}
	specs, err := w.tasks(ctx, js, jm.Run)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		w.refuse(js, msg, jm.Run, jm.Job.ID, jm.Job.Trial, fmt.Sprintf("run %s has no manifest on the NATS server (the run ended, or the server lost its data)", jm.Run))
		return
	}
	if err != nil {
		var bad *refusal
		if errors.As(err, &bad) {
			w.refuse(js, msg, jm.Run, jm.Job.ID, jm.Job.Trial, err.Error())
			return
		}
		w.logf("run %s: %v", jm.Run, err)
		msg.NakWithDelay(time.Second)
		return
	}
	if p := jm.Job.Target.Plan; p != nil { // the models (and files) by this machine's paths
		q := *p
		q.Models = w.Family.Dirs
		if r := q.Repair; r != nil {
			// A job never names a file on the worker: its calibration text
			// is an object of the run, fetched and checked by its hash.
			name, ok := strings.CutPrefix(r.Calibration, ObjectPrefix)
			if !ok {
				w.refuse(js, msg, jm.Run, jm.Job.ID, jm.Job.Trial, fmt.Sprintf("repair calibration %q is not an object of the run (%s<hash>): a job never names a file on the worker", Clip(r.Calibration, 100), ObjectPrefix))
				return
			}
			obs, err := js.ObjectStore(ctx, FilesBucket)
			var local string
			if err == nil {
				local, err = w.fetch(ctx, obs, name)
			}
			var bad *refusal
			if errors.As(err, &bad) {
				w.refuse(js, msg, jm.Run, jm.Job.ID, jm.Job.Trial, "repair calibration: "+err.Error())
				return
			}
			if err != nil {
				w.logf("run %s: repair calibration: %v", jm.Run, err)
				msg.NakWithDelay(time.Second)
				return
			}
			rr := *r
			rr.Calibration = local
			q.Repair = &rr
		}
		jm.Job.Target.Plan = &q
	}
	crashHook(jm.Job.Trial, delivered)
	w.setBusy(jm.Run, jm.Job.Trial, true)
	defer w.setBusy("", -1, false)
	// In-progress acks keep the job ours while it runs.
	jctx, stop := context.WithTimeout(ctx, w.JobTimeout)
	go func() {
		wait := 10 * time.Second
		if info := cons.CachedInfo(); info != nil && info.Config.AckWait > 0 {
			wait = info.Config.AckWait / 3
		}
		t := time.NewTicker(wait)
		defer t.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()
	start := time.Now()
	res, err := w.Family.RunFrom(jctx, jm.Job.Target, specs, jm.Job.Budget, jm.Job.From)
	over := errors.Is(jctx.Err(), context.DeadlineExceeded)
	stop()
	if ctx.Err() != nil {
		msg.Nak() // stopped: someone else takes it
		return
	}
	r := &resultMsg{Results: res, Seconds: time.Since(start).Seconds()}
	switch {
	case over:
		r = &resultMsg{Error: fmt.Sprintf("%s took over the worker's per-job bound of %v (--job-timeout)", jm.Job.Target.Name(), w.JobTimeout), Seconds: time.Since(start).Seconds()}
	case err != nil:
		r = &resultMsg{Error: err.Error(), Seconds: time.Since(start).Seconds()}
	}
	store(r)
	w.logf("trial %d of run %s (%s at budget %d) in %.2f s", jm.Job.Trial, jm.Run, jm.Job.Target.Name(), jm.Job.Budget, r.Seconds)
}

// tasks are a run's task specs with their files fetched (once per run).
func (w *Worker) tasks(ctx context.Context, js jetstream.JetStream, run string) ([]task.Spec, error) {
	w.mu.Lock()
	m := w.manifests[run]
	w.mu.Unlock()
	if m != nil {
		return m.Tasks, nil
	}
	kv, err := js.KeyValue(ctx, RunsBucket)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, run)
	if err != nil {
		return nil, err
	}
	if len(e.Value()) > MaxManifestBytes {
		return nil, &refusal{fmt.Sprintf("manifest of %d bytes (at most %d)", len(e.Value()), MaxManifestBytes)}
	}
	var man Manifest
	if err := json.Unmarshal(e.Value(), &man); err != nil {
		return nil, &refusal{"manifest: " + err.Error()}
	}
	if man.Run != run || man.Fingerprint != w.Family.Fingerprint || len(man.Tasks) == 0 || len(man.Tasks) > MaxTasks {
		return nil, &refusal{fmt.Sprintf("manifest of run %q, family %q, %d tasks: not this run's, not this family's, or 0 or over %d tasks", Clip(man.Run, MaxNameRunes), Clip(man.Fingerprint, 40), len(man.Tasks), MaxTasks)}
	}
	for i, s := range man.Tasks {
		if err := checkSpec(s); err != nil {
			return nil, &refusal{fmt.Sprintf("manifest task %d: %v", i, err)}
		}
	}
	obs, err := js.ObjectStore(ctx, FilesBucket)
	if err != nil {
		return nil, err
	}
	for i, s := range man.Tasks {
		local, err := w.fetch(ctx, obs, s.Path)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", s.Name, err)
		}
		man.Tasks[i].Path = local
	}
	w.mu.Lock()
	w.manifests[run] = &man
	w.mu.Unlock()
	return man.Tasks, nil
}

// MaxFileBytes bounds a task or calibration file a worker fetches.
const MaxFileBytes = 4 << 30

// refusal is an error that will not go away by retrying: the job is
// dropped with it.
type refusal struct{ why string }

func (r *refusal) Error() string { return r.why }

// fetch copies an object of FilesBucket to the worker's files directory
// (once) and returns the local path. The name must be a content hash
// (checkObjectName): the local path is the files directory and that
// name, whatever the manifest or job says, and the content is checked
// against the hash before it is written.
func (w *Worker) fetch(ctx context.Context, obs jetstream.ObjectStore, name string) (string, error) {
	if err := checkObjectName(name); err != nil {
		return "", &refusal{err.Error()}
	}
	local := filepath.Join(w.Files, name)
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", name, err)
	}
	if info.Size > MaxFileBytes {
		return "", &refusal{fmt.Sprintf("object %s of %d bytes (at most %d)", name, info.Size, int64(MaxFileBytes))}
	}
	b, err := obs.GetBytes(ctx, name)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", name, err)
	}
	if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != name[:64] {
		return "", &refusal{fmt.Sprintf("object %s: its content's SHA-256 is %x", name, h)}
	}
	return local, atomicfile.Write(local, b, 0o600)
}

// CrashEnv lets the tests kill a worker process in the middle of a job:
// with GPTAILOR_WORKER_CRASH_TRIAL=N the worker that starts the first
// delivery of trial N sends itself SIGKILL (kill -9: no ack, no result,
// no goodbye); with N! every delivery does.
const CrashEnv = "GPTAILOR_WORKER_CRASH_TRIAL"

func crashHook(trial, delivered int) {
	v := os.Getenv(CrashEnv)
	if v == "" {
		return
	}
	always := strings.HasSuffix(v, "!")
	if strings.TrimSuffix(v, "!") == fmt.Sprint(trial) && (always || delivered == 1) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}
