package dist

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gptailor/gptailor/internal/demo"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/plan"
)

var repoData = filepath.Join("..", "..", "testdata")

func openSession(t *testing.T, aliases ...string) *session.Session {
	return openSessionTB(t, aliases...)
}

func openSessionTB(t testing.TB, aliases ...string) *session.Session {
	t.Helper()
	if len(aliases) == 0 {
		aliases = []string{"base", "code", "docs", "math"}
	}
	f, err := session.OpenFamily(demo.Members(aliases...), session.FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	list, err := task.ReadList(filepath.Join(repoData, "demo-tasks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return session.New(f, list.Tasks)
}

func startServer(t *testing.T, dir, listen string) (*server.Server, string) {
	t.Helper()
	ns, url, err := StartServer(ServerOptions{Dir: dir, Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	return ns, url
}

// startWorker runs an in-process worker over its own family until the
// test ends (or stop is called).
func startWorker(t *testing.T, url, name string, aliases ...string) (stop func()) {
	return startWorkerNamed(t, url, name, aliases...)
}

func startWorkerTB(b *testing.B, url string) {
	startWorkerNamed(b, url, "bench", "base", "code", "docs", "math")
}

func startWorkerNamed(t testing.TB, url, name string, aliases ...string) (stop func()) {
	t.Helper()
	f, err := session.OpenFamily(demo.Members(aliases...), session.FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := Connect(context.Background(), url, ConnectOptions{Name: name, ReconnectWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	w := &Worker{Name: name, Family: f, Files: t.TempDir(), Every: 200 * time.Millisecond}
	go func() {
		defer wg.Done()
		w.Serve(ctx, nc, js)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			nc.Close()
			f.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

func openPool(t *testing.T, url string, s *session.Session, run string, o PoolOptions) *Pool {
	t.Helper()
	nc, js, err := Connect(context.Background(), url, ConnectOptions{Name: "coordinator"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenPool(context.Background(), nc, js, s, run, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); nc.Close() })
	return p
}

func targets(s *session.Session) []session.Target {
	L := s.Family.Base().Config.NumHiddenLayers
	out := []session.Target{{Model: "code"}}
	for l := 0; l < L; l++ {
		p := &plan.Plan{Version: plan.Version, Models: s.Family.Dirs}
		for i := 0; i < L; i++ {
			if i != l {
				p.Slots = append(p.Slots, plan.Slot{Take: &plan.Take{Model: s.Family.Names()[i%4], Layer: i}})
			}
		}
		out = append(out, session.Target{Plan: p})
	}
	return out
}

// Jobs run on two workers give exactly what the coordinator computes in
// its own process, target by target, result by result.
func TestPoolMatchesLocal(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	local := openSession(t, "base", "code", "docs", "math")
	remote := openSession(t, "base", "code", "docs", "math")
	startWorker(t, url, "w1", "base", "code", "docs", "math")
	startWorker(t, url, "w2", "base", "code", "docs", "math")
	remote.Runner = openPool(t, url, remote, "run1", PoolOptions{})
	ts := targets(local)
	// A repaired plan: its calibration text travels through the object
	// store (the job names the object, and the worker fetches it).
	rp := *ts[3].Plan
	rp.Repair = &plan.Repair{Method: "linear", Calibration: filepath.Join("..", "..", "testdata", "calibration.jsonl"), Samples: 8}
	ts = append(ts, session.Target{Plan: &rp})
	got := make([]*session.Evaluation, len(ts))
	var wg sync.WaitGroup
	errs := make([]error, len(ts))
	for i, tg := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = remote.Evaluate(context.Background(), tg, 4, i)
		}()
	}
	wg.Wait()
	for i, tg := range ts {
		if errs[i] != nil {
			t.Fatalf("%s: %v", tg.Name(), errs[i])
		}
		want, err := local.Evaluate(context.Background(), tg, 4, i)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want.Retention, got[i].Retention) {
			t.Errorf("%s: retention %v on workers, %v here", tg.Name(), got[i].Retention, want.Retention)
		}
		for k := range want.Results {
			if !reflect.DeepEqual(want.Results[k].Samples, got[i].Results[k].Samples) {
				t.Errorf("%s task %s: per-sample results differ", tg.Name(), want.Results[k].Name)
			}
		}
	}
}

// A job published twice (outside the dedupe window) is evaluated and
// stored once: the key holds one revision, the pool counts one arrival;
// and a pool opened again for the run finds the stored results without
// queueing anything (no worker is attached any more).
func TestDuplicateStoredOnceAndResumeReuses(t *testing.T) {
	_, url := startServer(t, t.TempDir(), "")
	s := openSession(t, "base", "code", "docs", "math")
	stop := startWorker(t, url, "w1", "base", "code", "docs", "math")
	p := openPool(t, url, s, "dup", PoolOptions{})
	j := session.NewJob(session.Target{Model: "math"}, 2, 0)
	b, _ := json.Marshal(jobMsg{Run: "dup", Fingerprint: s.Family.Fingerprint, Job: j})
	for i := 0; i < 2; i++ { // no message id: the stream keeps both
		if _, err := p.js.Publish(context.Background(), Subject(s.Family.Fingerprint, "dup"), b); err != nil {
			t.Fatal(err)
		}
	}
	res, err := p.Run(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the queue is drained (the second copy acked as a duplicate).
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := p.js.Stream(context.Background(), JobsStream)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := st.Info(context.Background())
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still queued", info.State.Msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hist, err := p.results.History(context.Background(), "dup."+j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || p.Stored() != 1 {
		t.Errorf("a job queued twice: %d stored revisions, %d arrivals", len(hist), p.Stored())
	}
	stop()
	again := openPool(t, url, s, "dup", PoolOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res2, err := again.Run(ctx, j)
	if err != nil {
		t.Fatalf("a stored result was not reused (no worker is left to compute it): %v", err)
	}
	if !reflect.DeepEqual(res[0].Metrics, res2[0].Metrics) {
		t.Errorf("reused result differs")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// The server stops and comes back (same port, same storage): the worker
// reconnects by itself and the next job runs.
func TestWorkersReconnectAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	ns, url := startServer(t, dir, "")
	addr := strings.TrimPrefix(url, "nats://")
	s := openSession(t, "base", "code", "docs", "math")
	startWorker(t, url, "w1", "base", "code", "docs", "math")
	p := openPool(t, url, s, "restart", PoolOptions{})
	if _, err := p.Run(context.Background(), session.NewJob(session.Target{Model: "code"}, 2, 0)); err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	time.Sleep(300 * time.Millisecond)
	startServer(t, dir, addr)
	// The coordinator's connection reconnects too; its watch is renewed by
	// opening the pool again (as a resumed coordinator would).
	p2 := openPool(t, url, s, "restart", PoolOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p2.Run(ctx, session.NewJob(session.Target{Model: "docs"}, 2, 1)); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}

// Bad servers are named before any work: nobody listening, JetStream
// off, a wrong token, a foreign stream of gptailor's name.
func TestBadServers(t *testing.T) {
	ctx := context.Background()
	if _, _, err := Connect(ctx, "nats://127.0.0.1:1", ConnectOptions{}); err == nil || !strings.Contains(err.Error(), "no NATS server answers at nats://127.0.0.1:1") {
		t.Errorf("unreachable: %v", err)
	}
	plain, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go plain.Start()
	defer plain.Shutdown()
	plain.ReadyForConnections(10 * time.Second)
	if _, _, err := Connect(ctx, plain.ClientURL(), ConnectOptions{}); err == nil || !strings.Contains(err.Error(), "has JetStream disabled") {
		t.Errorf("no JetStream: %v", err)
	}
	ns, url, err := StartServer(ServerOptions{Dir: t.TempDir(), Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	if _, _, err := Connect(ctx, url, ConnectOptions{Token: "wrong"}); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("wrong token: %v", err)
	}
	if _, _, err := Connect(ctx, url, ConnectOptions{Creds: "/nonexistent.creds"}); err == nil || !strings.Contains(err.Error(), "--nats-creds") {
		t.Errorf("missing creds file: %v", err)
	}
	nc, js, err := Connect(ctx, url, ConnectOptions{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: JobsStream, Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	s := openSession(t, "base", "code")
	if _, err := OpenPool(ctx, nc, js, s, "x", PoolOptions{}); err == nil || !strings.Contains(err.Error(), "not gptailor's work queue") {
		t.Errorf("foreign stream: %v", err)
	}
	if _, _, err := StartServer(ServerOptions{Dir: t.TempDir(), Listen: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "--nats-token") {
		t.Errorf("an open listener without a token: %v", err)
	}
}
