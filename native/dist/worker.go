package dist

import (
	"context"
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

// Worker evaluates jobs for any run whose family is its own.
type Worker struct {
	Name   string
	Family *session.Family
	Files  string    // where task files fetched from the object store are kept
	Log    io.Writer // one line per job; nil: none
	// Every is the heartbeat period (default 2 s).
	Every time.Duration

	results jetstream.KeyValue // the results bucket, looked up once

	mu        sync.Mutex
	manifests map[string]*Manifest
	beat      Heartbeat
}

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
	w.beat = Heartbeat{Name: w.Name, Fingerprint: w.Family.Fingerprint, Threads: runtime.GOMAXPROCS(0), Trial: -1}
	go w.heartbeats(ctx, nc)
	var cons jetstream.Consumer
	for {
		if ctx.Err() != nil {
			return nil
		}
		if cons == nil {
			c, err := js.Consumer(ctx, JobsStream, Consumer)
			if err == nil && w.results == nil {
				w.results, err = js.KeyValue(ctx, ResultsBucket)
			}
			if err != nil {
				// No coordinator has set the queue up yet, or the server is
				// away: wait.
				sleep(ctx, time.Second)
				continue
			}
			cons = c
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

// handle runs one delivery of a job.
func (w *Worker) handle(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, cons jetstream.Consumer) {
	var jm jobMsg
	if err := json.Unmarshal(msg.Data(), &jm); err != nil || jm.Run == "" || jm.Job.ID == "" {
		w.logf("dropping a message that is not a job: %v", err)
		msg.Term()
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
		store(&resultMsg{Error: fmt.Sprintf("%s was handed out %d times and no worker finished it (each one died, was killed or refused it)", jm.Job.Target.Name(), tries)})
		return
	}
	if jm.Fingerprint != w.Family.Fingerprint {
		reason := fmt.Sprintf("family fingerprint %s differs from the run's %s (this worker has %s)", w.Family.Fingerprint, jm.Fingerprint, strings.Join(w.Family.Names(), ", "))
		if b, err := json.Marshal(Notice{Worker: w.Name, Job: jm.Job.ID, Trial: jm.Job.Trial, Reason: reason}); err == nil {
			js.Conn().Publish(NoticeSubject+"."+jm.Run, b)
		}
		w.logf("refusing trial %d of run %s: %s", jm.Job.Trial, jm.Run, reason)
		msg.NakWithDelay(time.Second) // for a worker with the right family
		return
	}
	specs, err := w.tasks(ctx, js, jm.Run)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		msg.Ack() // the run has ended: its manifest is gone
		return
	}
	if err != nil {
		w.logf("run %s: %v", jm.Run, err)
		msg.NakWithDelay(time.Second)
		return
	}
	if p := jm.Job.Target.Plan; p != nil { // the models (and files) by this machine's paths
		q := *p
		q.Models = w.Family.Dirs
		if r := q.Repair; r != nil && strings.HasPrefix(r.Calibration, ObjectPrefix) {
			obs, err := js.ObjectStore(ctx, FilesBucket)
			var local string
			if err == nil {
				local, err = w.fetch(ctx, obs, strings.TrimPrefix(r.Calibration, ObjectPrefix))
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
	jctx, stop := context.WithCancel(ctx)
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
	stop()
	if ctx.Err() != nil {
		msg.Nak() // stopped: someone else takes it
		return
	}
	r := &resultMsg{Results: res, Seconds: time.Since(start).Seconds()}
	if err != nil {
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
	var man Manifest
	if err := json.Unmarshal(e.Value(), &man); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
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

// fetch copies an object of FilesBucket to the worker's files directory
// (once) and returns the local path.
func (w *Worker) fetch(ctx context.Context, obs jetstream.ObjectStore, name string) (string, error) {
	local := filepath.Join(w.Files, filepath.FromSlash(name))
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	b, err := obs.GetBytes(ctx, name)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return "", err
	}
	return local, atomicfile.Write(local, b, 0o644)
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
