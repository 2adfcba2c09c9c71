package server

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/protocol"
)

func newServerWith(t *testing.T, edit func(*Config)) (*Server, *httptest.Server) {
	t.Helper()
	var ms []model.Member
	for _, a := range []string{"base", "code", "docs", "math"} {
		ms = append(ms, model.Member{Alias: a, Dir: filepath.Join(repoData, "stories260K-"+a)})
	}
	f, err := session.OpenFamily(ms, session.FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tasks := filepath.Join(repoData, "demo-tasks.yaml")
	list, err := task.ReadList(tasks)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{UIDir: t.TempDir(), Session: session.New(f, list.Tasks), TasksPath: tasks, RunsDir: filepath.Join(t.TempDir(), "runs"), Token: "secret", BuildDir: filepath.Join(t.TempDir(), "builds")}
	edit(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close(); f.Close() })
	return s, ts
}

func procKB(field string) int {
	raw, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(raw), "\n") {
		var kb int
		if n, _ := fmt.Sscanf(line, field+": %d kB", &kb); n == 1 {
			return kb
		}
	}
	return -1
}

const dropPlan = `{"slots":[{"take":["base",0]},{"take":["code",1]},{"take":["base",2]},{"take":["math",4]}]}`

// A flood of evaluations from one tab: at most MaxJobsPerClient are taken,
// the rest are refused with the reason at once; when the tab goes, its
// queued jobs are dropped and the running one stops; other tabs are still
// served, and the whole server's memory stays bounded.
func TestEvaluationFloodBounded(t *testing.T) {
	s, ts := newServerWith(t, func(c *Config) { c.MaxJobsPerClient = 4; c.MaxJobs = 6 })
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	rssBefore := procKB("VmRSS")
	a, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		b, _ := protocol.Encode(fmt.Sprint("e", i), protocol.Evaluate, map[string]any{"plan": json.RawMessage(dropPlan), "samples": 27})
		if err := a.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	refused := 0
	for refused < 196 {
		e := waitFor(t, a, func(e *protocol.Envelope) bool { return e.Type == protocol.ReplyError })
		if !strings.Contains(string(e.Payload), "evaluate refused: this tab already has 4 requests queued or running (limit 4)") {
			t.Fatalf("unexpected error: %s", e.Payload)
		}
		refused++
	}
	// A second tab shares the overall bound of 6.
	b, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < 3; i++ {
		m, _ := protocol.Encode(fmt.Sprint("b", i), protocol.Evaluate, map[string]any{"plan": json.RawMessage(dropPlan), "samples": 1})
		b.WriteMessage(websocket.TextMessage, m)
	}
	e := waitFor(t, b, func(e *protocol.Envelope) bool { return e.Type == protocol.ReplyError })
	if !strings.Contains(string(e.Payload), "evaluate refused: the server has 6 requests queued or running (limit 6)") {
		t.Errorf("overall bound: %s", e.Payload)
	}
	// Tab A goes away: its work stops.
	a.Close()
	deadline := time.Now().Add(30 * time.Second)
	for s.jobs.pending() > 2 && time.Now().Before(deadline) { // B's two remain
		time.Sleep(10 * time.Millisecond)
	}
	ranA := s.jobs.ran.Load()
	if s.jobs.skipped.Load() < 2 {
		t.Errorf("queued jobs of a closed tab ran: ran %d, skipped %d", ranA, s.jobs.skipped.Load())
	}
	// B is still served: its two evaluations reply.
	for i := 0; i < 2; i++ {
		e := waitFor(t, b, func(e *protocol.Envelope) bool { return e.Type == protocol.ReplyEvaluate })
		var r protocol.EvaluateResult
		json.Unmarshal(e.Payload, &r)
		if len(r.Tasks) != 4 || r.Samples != 1 {
			t.Errorf("tab B result: %s", e.Payload)
		}
	}
	peak := procKB("VmHWM")
	t.Logf("200 evaluations from one tab: %d refused at once; %d jobs ran, %d dropped when the tab closed; RSS %d MB before, peak %d MB",
		refused, s.jobs.ran.Load(), s.jobs.skipped.Load(), rssBefore>>10, peak>>10)
	if rssBefore > 0 && peak-rssBefore > 512<<10 {
		t.Errorf("peak RSS grew by %d MB", (peak-rssBefore)>>10)
	}
}

// withCustomSection returns a valid module: wasm with a custom section of
// pad bytes appended (a different hash and size, the same code).
func withCustomSection(wasm []byte, name string, pad int) []byte {
	payload := append([]byte{byte(len(name))}, name...)
	payload = append(payload, make([]byte, pad)...)
	out := append(append([]byte{}, wasm...), 0)
	n := uint32(len(payload))
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, b|0x80)
			continue
		}
		out = append(out, b)
		break
	}
	return append(out, payload...)
}

// Uploads past the store's bounds evict the least recently used scorer
// (never the selected one) and say so; one too large alone is refused.
func TestScorerStoreBounded(t *testing.T) {
	s, ts := newServerWith(t, func(c *Config) { c.MaxScorers = 3; c.MaxScorerBytes = 200_000; c.MaxUpload = 1 << 20 })
	wasm, err := os.ReadFile(filepath.Join("..", "scorer", "examples", "wat", "skeleton.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	upload := func(id, name string, pad int) *protocol.Envelope {
		c.WriteMessage(websocket.BinaryMessage, append([]byte(`{"v":1,"id":"`+id+`","type":"scorer.upload","name":"`+name+`"}`+"\n"), withCustomSection(wasm, name, pad)...))
		return waitFor(t, c, func(e *protocol.Envelope) bool { return e.ID == id })
	}
	names := func(e *protocol.Envelope) []string {
		var st protocol.State
		json.Unmarshal(e.Payload, &st)
		return st.Scorers
	}
	for i, n := range []string{"a.wasm", "b.wasm", "c.wasm"} {
		if e := upload(fmt.Sprint("u", i), n, 1000); e.Type != protocol.ListScorers {
			t.Fatalf("upload %s: %s", n, e.Payload)
		}
	}
	call(t, c, "sel", protocol.SelectScorer, map[string]string{"name": "a.wasm"}) // a is selected (and used)
	e := upload("u3", "d.wasm", 1000)
	if got := strings.Join(names(e), ","); got != "a.wasm,c.wasm,d.wasm" {
		t.Errorf("after a 4th upload: %s, want b evicted", got)
	}
	e = upload("u4", "big.wasm", 150_000) // the count evicts c
	if got := strings.Join(names(e), ","); got != "a.wasm,big.wasm,d.wasm" {
		t.Errorf("after a large upload: %s", got)
	}
	// Bytes evict too, least recently used first, keeping the selected one.
	e = upload("u5", "big2.wasm", 100_000)
	if got := strings.Join(names(e), ","); got != "a.wasm,big2.wasm" {
		t.Errorf("after a second large upload: %s", got)
	}
	e = upload("u6", "huge.wasm", 300_000)
	if e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), "is more than the server keeps (200000)") {
		t.Errorf("too large: %s", e.Payload)
	}
	s.mu.Lock()
	kept := s.scorers.bytes()
	s.mu.Unlock()
	if kept > 200_000 {
		t.Errorf("store holds %d bytes", kept)
	}
}

// search.start with bad settings is refused in its reply: nothing starts
// and no "running" is said.
func TestSearchStartValidated(t *testing.T) {
	s, ts := newServerWith(t, func(*Config) {})
	c, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for req, want := range map[string]string{
		`{"remove":1,"optimizer":"annealing"}`:                 `optimizer \"annealing\": not one of`,
		`{"remove":1,"min_budget":9,"max_budget":3}`:           "max budget 3: must be at least the min budget 9",
		`{"remove":1,"trials":-5}`:                             "trials -5: must be 0 (no limit) or more",
		`{"remove":7}`:                                         "remove",
		`{"remove":1,"min_budget":-1,"optimizer":"annealing"}`: "min budget -1",
		`{"remove":1,"granularity":"head"}`:                    `granularity \"head\": one of layer, block`,
		`{"remove":1,"repair":"/nonexistent/calib.txt"}`:       `repair \"/nonexistent/calib.txt\": not a regular file`,
		`{"remove":1,"eta":1.0001}`:                            "eta 1.0001: Hyperband's η must be a finite number of at least 1.5",
	} {
		e := call(t, c, "s", protocol.SearchStart, json.RawMessage(req))
		if e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), want) {
			t.Errorf("%s: %s %s, want %q", req, e.Type, e.Payload, want)
		}
	}
	if s.state().Search.Running {
		t.Error("a refused search is running")
	}
}
