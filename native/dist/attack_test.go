package dist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gptailor/gptailor/internal/demo"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/plan"
)

// client is a raw NATS client: what anyone holding the credential has.
func client(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js, err := Connect(context.Background(), url, ConnectOptions{Name: "attacker"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

// notices collects the notices of a run.
func notices(t *testing.T, nc *nats.Conn, run string) func(n int) []Notice {
	t.Helper()
	var mu sync.Mutex
	var got []Notice
	sub, err := nc.Subscribe(NoticeSubject+"."+run, func(m *nats.Msg) {
		var n Notice
		json.Unmarshal(m.Data, &n)
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return func(n int) []Notice {
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]Notice(nil), got...)
	}
}

// A forged manifest naming its task file "../../…/x" and forged jobs
// naming a calibration file on the worker's disk, or an object whose
// content is not its hash: the worker writes nothing outside its files
// directory, reads nothing of its own disk, and drops each job saying
// why (the coordinator is told).
func TestForgedObjectNamesWriteNothing(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	s := openSession(t)
	fp := s.Family.Fingerprint
	p := openPool(t, url, s, "honest", PoolOptions{}) // sets the queue up
	_ = p
	nc, js := client(t, url)
	ctx := context.Background()
	obs, err := js.ObjectStore(ctx, FilesBucket)
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "authorized_keys")
	evil := strings.Repeat("../", 12) + strings.TrimPrefix(victim, "/")
	if _, err := obs.PutBytes(ctx, evil, []byte("ssh-ed25519 AAAA attacker\n")); err != nil {
		t.Fatal(err)
	}
	kv, _ := js.KeyValue(ctx, RunsBucket)
	put := func(run, path string) {
		b, _ := json.Marshal(Manifest{Run: run, Fingerprint: fp, Tasks: []task.Spec{{Name: "t", Type: "perplexity", Path: path}}})
		if _, err := kv.Put(ctx, run, b); err != nil {
			t.Fatal(err)
		}
	}
	put("evil1", evil)
	// An object named as a hash whose content is something else.
	fake := strings.Repeat("ab", 32) + ".jsonl"
	if _, err := obs.PutBytes(ctx, fake, []byte(`{"text":"x"}`)); err != nil {
		t.Fatal(err)
	}
	put("evil2", fake)
	files := t.TempDir()
	startWorkerFiles(t, url, "w1", files)
	job := func(run string, tg session.Target) {
		j := session.NewJob(tg, 2, 0)
		b, _ := json.Marshal(jobMsg{Run: run, Fingerprint: fp, Job: j})
		if _, err := js.Publish(ctx, Subject(fp, run), b); err != nil {
			t.Fatal(err)
		}
	}
	got1, got2 := notices(t, nc, "evil1"), notices(t, nc, "evil2")
	job("evil1", session.Target{Model: "code"})
	job("evil2", session.Target{Model: "code"})
	// The honest run's manifest, a job whose calibration is a path.
	pl := targets(s)[1].Plan
	q := *pl
	q.Repair = &plan.Repair{Method: "linear", Calibration: "/etc/hostname", Samples: 8}
	got3 := notices(t, nc, "honest")
	job("honest", session.Target{Plan: &q})
	for _, c := range []struct {
		got  []Notice
		want string
	}{
		{got1(1), `is not a content hash (64 hex digits and an optional .ext): refused`},
		{got2(1), "its content's SHA-256 is"},
		{got3(1), `repair calibration "/etc/hostname" is not an object of the run (nats-object:<hash>): a job never names a file on the worker`},
	} {
		if len(c.got) != 1 || !c.got[0].Fail || !strings.Contains(c.got[0].Reason, c.want) {
			t.Errorf("notices %+v, want one failing with %q", c.got, c.want)
		}
	}
	if _, err := os.Stat(victim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a forged object name created %s (%v)", victim, err)
	}
	// The worker's files are the honest run's tasks, each named by its
	// content's hash.
	entries, _ := os.ReadDir(files)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(files, e.Name()))
		if h := sha256.Sum256(b); !strings.HasPrefix(e.Name(), hex.EncodeToString(h[:])) {
			t.Errorf("the worker kept %s, whose content is not its name", e.Name())
		}
	}
}

// startWorkerFiles is startWorker with a given files directory.
func startWorkerFiles(t *testing.T, url, name, files string) *Worker {
	t.Helper()
	f, err := session.OpenFamily(demo.Members("base", "code", "docs", "math"), session.FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := Connect(context.Background(), url, ConnectOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{Name: name, Family: f, Files: files, Every: 200 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); w.Serve(ctx, nc, js) }()
	t.Cleanup(func() { cancel(); <-done; nc.Close(); f.Close() })
	return w
}

// A NaN written straight into the results bucket (under the id the job
// will have) is refused, deleted and the job queued again: the honest
// worker's result is the one used, and the bucket holds it.
func TestNaNResultRefused(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	s := openSession(t)
	local := openSession(t)
	var log bytes.Buffer
	var mu sync.Mutex
	p := openPool(t, url, s, "nan", PoolOptions{Log: lockedWriter{&mu, &log}})
	s.Runner = p
	j := session.NewJob(session.Target{Model: "docs"}, 3, 0)
	forged := &resultMsg{Job: j.ID, Worker: "forger", Results: make([]*task.Result, len(s.Specs))}
	for i, sp := range s.Specs {
		forged.Results[i] = &task.Result{Name: sp.Name, Type: sp.Type, NOriginal: 100, NEffective: 3, Samples: []task.Sample{{NLL: math.NaN(), Tokens: 5, Bytes: 9}, {Tokens: 5, Bytes: 9}, {Tokens: 5, Bytes: 9}}}
	}
	b, _ := forged.encode()
	if _, err := p.results.Put(context.Background(), "nan."+j.ID, b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the watch has it
	startWorker(t, url, "honest", "base", "code", "docs", "math")
	got, err := p.Run(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	want, err := local.Runner.Run(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !reflect.DeepEqual(want[i].Metrics, got[i].Metrics) {
			t.Errorf("task %s: %v, want %v", want[i].Name, got[i].Metrics, want[i].Metrics)
		}
	}
	mu.Lock()
	l := log.String()
	mu.Unlock()
	if !strings.Contains(l, "refused the result of dense docs (trial 0) from worker forger: task stories: sample 0: nll NaN") {
		t.Errorf("log:\n%s", l)
	}
	e, err := p.results.Get(context.Background(), "nan."+j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := decodeResult(e.Value()); r == nil || r.Worker != "honest" {
		t.Errorf("the bucket holds %+v, want the honest worker's result", r)
	}
	// A result with too few samples, or another task's, is refused too.
	bad := *want[0]
	bad.Samples = bad.Samples[:1]
	if err := checkResult(&resultMsg{Job: j.ID, Results: []*task.Result{&bad, want[1], want[2], want[3]}}, j, s.Specs, map[string]int{}); err == nil || !strings.Contains(err.Error(), "task stories: 1 samples (n_effective 3), the job asks for 3") {
		t.Errorf("short result: %v", err)
	}
}

// startLiar pulls the family's jobs and answers them with their true
// samples, except that every loss of a candidate other than the base is
// scaled by scale (consistent samples: no single result shows the lie).
func startLiar(t *testing.T, url string, s *session.Session, scale float64) {
	t.Helper()
	_, js := client(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		var cons jetstream.Consumer
		for ctx.Err() == nil {
			if cons == nil {
				c, err := js.Consumer(ctx, JobsStream, ConsumerFor(s.Family.Fingerprint))
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				cons = c
			}
			msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
			if err != nil {
				continue
			}
			var jm jobMsg
			json.Unmarshal(msg.Data(), &jm)
			res, err := s.Family.RunFrom(ctx, jm.Job.Target, s.Specs, jm.Job.Budget, jm.Job.From)
			if err != nil {
				msg.Term()
				continue
			}
			if jm.Job.Target.Model != plan.BaseAlias {
				for _, r := range res {
					for k := range r.Samples {
						r.Samples[k].NLL *= scale
					}
				}
			}
			b, _ := (&resultMsg{Job: jm.Job.ID, Trial: jm.Job.Trial, Worker: "liar", Results: res}).encode()
			kv, _ := js.KeyValue(ctx, ResultsBucket)
			kv.Create(ctx, jm.Run+"."+jm.Job.ID, b)
			msg.Ack()
		}
	}()
}

// A worker that scales its losses by 0.25 passes every check a single
// result allows and makes a row look far better than the base; the
// final table's re-evaluation in the coordinator's process shows the true
// numbers and names the worker.
func TestLyingWorkerNamedByRecheck(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	s := openSession(t)
	p := openPool(t, url, s, "lie", PoolOptions{})
	s.Runner = p
	startLiar(t, url, openSession(t), 0.25)
	rows := []session.Row{{Kind: session.KindDense, Model: "code"}}
	if err := s.ScoreRows(context.Background(), rows, 4, 1); err != nil {
		t.Fatal(err)
	}
	lied := rows[0].Retention
	if slices.Max(lied) < 2 {
		t.Fatalf("the liar's retention %v: the attack did not take", lied)
	}
	var log bytes.Buffer
	var got []Mismatch
	if err := p.Recheck(s, &log, func(m Mismatch) { got = append(got, m) })(context.Background(), rows, 4); err != nil {
		t.Fatal(err)
	}
	want, err := openSession(t).Evaluate(context.Background(), session.Target{Model: "code"}, 4, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0].Retention, want.Retention) || rows[0].Objective != want.Objective {
		t.Errorf("after the recheck the row shows %v, want this process's %v", rows[0].Retention, want.Retention)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Workers, []string{"liar"}) || !reflect.DeepEqual(got[0].Remote, lied) {
		t.Errorf("mismatches %+v", got)
	}
	if !strings.Contains(log.String(), "WARNING: MISMATCH in the final table: dense code (no layer removed): the workers' results give retention [") || !strings.Contains(log.String(), "results from worker(s) liar") {
		t.Errorf("log:\n%s", log.String())
	}
}

// Poison jobs — a negative from, a 100,000-slot plan, an id that is not
// the job's hash, 2 MB of junk — are dropped by the worker with the
// reason (nothing panics, the worker goes on to the next job); the
// coordinator refuses to queue such a plan itself; a job past the
// worker's time bound fails saying so.
func TestPoisonJobsDropped(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	s := openSession(t)
	fp := s.Family.Fingerprint
	p := openPool(t, url, s, "poison", PoolOptions{})
	nc, js := client(t, url)
	got := notices(t, nc, "poison")
	startWorker(t, url, "w1", "base", "code", "docs", "math")
	ctx := context.Background()
	pub := func(b []byte) {
		if _, err := js.Publish(ctx, Subject(fp, "poison"), b); err != nil {
			t.Fatal(err)
		}
	}
	neg := session.NewJob(session.Target{Model: "code"}, 3, 0)
	neg.From = -5
	neg.ID = session.JobID(neg.Target, 3, -5)
	b, _ := json.Marshal(jobMsg{Run: "poison", Fingerprint: fp, Job: neg})
	pub(b)
	wideJob := func(n, trial int) session.Job {
		wide := &plan.Plan{Version: plan.Version, Models: s.Family.Dirs}
		for i := 0; i < n; i++ {
			wide.Slots = append(wide.Slots, plan.Slot{Take: &plan.Take{Model: "base", Layer: 0}})
		}
		return session.NewJob(session.Target{Plan: wide}, 3, trial)
	}
	wj := wideJob(1000, 1)
	b, _ = json.Marshal(jobMsg{Run: "poison", Fingerprint: fp, Job: wj})
	pub(b)
	liar := session.NewJob(session.Target{Model: "code"}, 3, 2)
	liar.ID = session.JobID(session.Target{Model: "math"}, 3, 0)
	b, _ = json.Marshal(jobMsg{Run: "poison", Fingerprint: fp, Job: liar})
	pub(b)
	huge := wideJob(100000, 4)
	b, _ = json.Marshal(jobMsg{Run: "poison", Fingerprint: fp, Job: huge})
	pub(b)                                // dropped unread: no run to tell
	pub(bytes.Repeat([]byte("x"), 2<<20)) // likewise
	ns := got(3)
	want := []string{
		"from -5: want 0 to budget−1 (budget 3)",
		"plan of 1000 slots: at most 20 (4 × the base's 5 layers)",
		"is not the hash of its target, budget and from",
	}
	if len(ns) != 3 {
		t.Fatalf("notices %+v", ns)
	}
	for i, w := range want {
		if !ns[i].Fail || !strings.Contains(ns[i].Reason, w) {
			t.Errorf("notice %d: %+v, want %q", i, ns[i], w)
		}
	}
	if _, err := p.Run(ctx, wj); err == nil || !strings.Contains(err.Error(), "plan of 1000 slots: at most 20") {
		t.Errorf("the coordinator queued a 1,000-slot plan: %v", err)
	}
	if _, err := p.Run(ctx, huge); err == nil || !strings.Contains(err.Error(), "bytes (at most 1048576)") {
		t.Errorf("the coordinator queued a 100,000-slot plan: %v", err)
	}
	// The worker is alive: a good job runs.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := p.Run(rctx, session.NewJob(session.Target{Model: "math"}, 2, 3)); err != nil {
		t.Fatalf("after the poison: %v", err)
	}
	st, _ := js.Stream(ctx, JobsStream)
	var left uint64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		info, _ := st.Info(ctx)
		if left = info.State.Msgs; left == 0 {
			break
		}
	}
	if left != 0 {
		m, _ := st.GetMsg(ctx, 1)
		t.Errorf("%d poison jobs left on the queue (%d bytes)", left, len(m.Data))
	}
}

// A job past the worker's per-job bound fails with the bound named.
func TestJobTimeBound(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	s := openSession(t)
	p := openPool(t, url, s, "slow", PoolOptions{})
	w := startWorkerFiles(t, url, "w1", t.TempDir())
	w.mu.Lock()
	w.JobTimeout = time.Nanosecond
	w.mu.Unlock()
	_, err := p.Run(context.Background(), session.NewJob(session.Target{Model: "code"}, 2, 0))
	if err == nil || err.Error() != "dense code took over the worker's per-job bound of 1ns (--job-timeout)" {
		t.Errorf("a job past the bound: %v", err)
	}
}

// Two workers of another family and one of the run's: every job is
// delivered once, to the right worker; no trial fails; the coordinator
// says the others do not get the run's jobs.
func TestWrongFamilyWorkersTakeNothing(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	s := openSession(t)
	startWorker(t, url, "stranger1", "base", "code", "docs")
	startWorker(t, url, "stranger2", "base", "math")
	var log bytes.Buffer
	var mu sync.Mutex
	p := openPool(t, url, s, "fam", PoolOptions{Tries: 1, Log: lockedWriter{&mu, &log}})
	startWorker(t, url, "right", "base", "code", "docs", "math")
	ts := targets(s)
	var wg sync.WaitGroup
	errs := make([]error, len(ts))
	for i, tg := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.Run(context.Background(), session.NewJob(tg, 2, i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("trial %d: %v", i, err)
		}
	}
	p.mu.Lock()
	for id, r := range p.done {
		if r.Worker != "right" || r.Delivered != 1 {
			t.Errorf("job %s: worker %s, %d deliveries", id, r.Worker, r.Delivered)
		}
	}
	p.mu.Unlock()
	time.Sleep(500 * time.Millisecond) // heartbeats
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "worker stranger1 joined") || !strings.Contains(log.String(), "it does not get this run's jobs") {
		t.Errorf("log:\n%s", log.String())
	}
}

// The server restarts on the same port without its data: the waiting
// job ends with search.ErrEvaluatorGone and the reason (not a loop); a
// run whose manifest is deleted has its jobs fail saying so.
func TestServerRestartedEmpty(t *testing.T) {
	dir := t.TempDir()
	ns, url := startServer(t, dir, "")
	s := openSession(t)
	p := openPool(t, url, s, "lost", PoolOptions{Health: 100 * time.Millisecond})
	// The manifest deleted under a running pool: the worker drops the job.
	_, js := client(t, url)
	kv, _ := js.KeyValue(context.Background(), RunsBucket)
	kv.Delete(context.Background(), "lost")
	startWorker(t, url, "w1", "base", "code", "docs", "math")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Run(ctx, session.NewJob(session.Target{Model: "code"}, 2, 0)); err == nil || !strings.Contains(err.Error(), "worker w1 dropped the job: run lost has no manifest on the NATS server (the run ended, or the server lost its data)") {
		t.Errorf("a job of a run without a manifest: %v", err)
	}
	addr := strings.TrimPrefix(url, "nats://")
	ns.Shutdown()
	ns.WaitForShutdown()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	startServer(t, t.TempDir(), addr)
	_, err := p.Run(ctx, session.NewJob(session.Target{Model: "docs"}, 2, 1))
	if !errors.Is(err, search.ErrEvaluatorGone) || !strings.Contains(err.Error(), "no longer has the stream GPTAILOR_JOBS (restarted without its data?)") {
		t.Errorf("after an empty restart: %v", err)
	}
	if ctx.Err() != nil {
		t.Error("the pool waited for its deadline")
	}
}

// A flood of forged heartbeats and notices: names over 1 MB are dropped,
// long names clipped, at most MaxTrackedWorkers tracked, future-dated
// ones ignored (they cannot keep a dead cluster "alive"), the batch
// bounded, and 4 MB notices leave the heap where it was.
func TestHeartbeatFlood(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	s := openSession(t)
	c, err := Start(context.Background(), nil, Options{URL: url, Fingerprint: s.Family.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := openPool(t, url, s, "flood", PoolOptions{})
	nc, _ := client(t, url)
	beat := func(name string, at time.Time) {
		b, _ := json.Marshal(Heartbeat{Name: name, Fingerprint: s.Family.Fingerprint, At: at})
		nc.Publish(HeartbeatSubj+".x", b)
	}
	beat("future", time.Now().Add(24*time.Hour))
	beat(strings.Repeat("n", 1<<20), time.Now())
	beat(strings.Repeat("é", 200), time.Now())
	for i := 0; i < 2000; i++ {
		beat(fmt.Sprintf("fake-%d", i), time.Now())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	big := bytes.Repeat([]byte("x"), 4<<20)
	for i := 0; i < 40; i++ {
		b, _ := json.Marshal(Notice{Worker: string(big), Job: "j", Reason: "r"})
		nc.Publish(NoticeSubject+".flood", b)
	}
	nc.Flush()
	time.Sleep(time.Second)
	runtime.GC()
	runtime.ReadMemStats(&after)
	ws := c.Workers(time.Minute)
	if len(ws) != MaxTrackedWorkers {
		t.Errorf("%d workers tracked, want %d", len(ws), MaxTrackedWorkers)
	}
	for _, h := range ws {
		if h.Name == "future" || len([]rune(h.Name)) > MaxNameRunes+1 {
			t.Errorf("tracked %q", h.Name[:min(len(h.Name), 80)])
		}
	}
	if b := c.Batch(0); b != MaxBatch {
		t.Errorf("batch %d from %d forged workers, want the bound %d", b, len(ws), MaxBatch)
	}
	p.mu.Lock()
	nseen, nref := len(p.seen), len(p.refused)
	p.mu.Unlock()
	if nseen > MaxTrackedWorkers || nref != 0 {
		t.Errorf("the pool tracks %d workers and %d refusals", nseen, nref)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
		t.Errorf("160 MB of notices grew the heap by %d MB", grew>>20)
	}
}
