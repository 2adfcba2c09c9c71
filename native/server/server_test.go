package server

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/shared/protocol"
)

var repoData = filepath.Join("..", "..", "testdata")

func newServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	return newServerWith(t, func(c *Config) { c.UIDir, c.MaxUpload, c.SendQueue = testUI(t), 1<<20, 8 })
}

// testUI is a UI directory with a stub page.
func testUI(t *testing.T) string {
	ui := t.TempDir()
	os.WriteFile(filepath.Join(ui, "index.html"), []byte("<p>gptailor</p>"), 0o644)
	return ui
}

func dial(t *testing.T, ts *httptest.Server, token, origin string) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws?token=" + token
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.DefaultDialer.Dial(u, h)
}

// call sends a request and returns the reply with its id, skipping events.
func call(t *testing.T, c *websocket.Conn, id, typ string, payload any) *protocol.Envelope {
	t.Helper()
	b, _ := protocol.Encode(id, typ, payload)
	if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
	return waitFor(t, c, func(e *protocol.Envelope) bool { return e.ID == id })
}

func waitFor(t *testing.T, c *websocket.Conn, ok func(*protocol.Envelope) bool) *protocol.Envelope {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var e protocol.Envelope
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatal(err)
		}
		if ok(&e) {
			return &e
		}
	}
}

func TestTokenAndOrigin(t *testing.T) {
	_, ts := newServer(t)
	if r, _ := http.Get(ts.URL + "/"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("page without token: %d", r.StatusCode)
	}
	jar, _ := cookiejar.New(nil)
	r, err := (&http.Client{Jar: jar}).Get(ts.URL + "/?token=secret") // the cookie, then the page without the token
	if err != nil || r.StatusCode != 200 || r.Request.URL.RawQuery != "" {
		t.Errorf("page with token: %v %v", r, err)
	}
	if _, resp, err := dial(t, ts, "wrong", ""); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("websocket with a wrong token accepted")
	}
	if _, resp, err := dial(t, ts, "secret", "http://evil.example"); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin accepted")
	}
	c, _, err := dial(t, ts, "secret", ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestPlanRoundTrips(t *testing.T) {
	_, ts := newServer(t)
	c, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := call(t, c, "1", protocol.Hello, nil)
	var st protocol.State
	json.Unmarshal(e.Payload, &st)
	if e.Type != protocol.ReplyState || st.Family.Layers != 5 || len(st.Family.Models) != 4 || len(st.Family.Tasks) != 4 {
		t.Fatalf("hello: %s %s", e.Type, e.Payload)
	}
	bad := json.RawMessage(`{"slots":[{"take":["base",9]},{"merge":{"method":"ties","layer":1,"models":["ghost"]}}]}`)
	e = call(t, c, "2", protocol.ValidatePlan, protocol.PlanPayload{Plan: bad})
	var rep protocol.PlanReport
	json.Unmarshal(e.Payload, &rep)
	if rep.Valid || len(rep.Problems) != 2 || rep.Problems[0].Path != "slots[0].take.layer" {
		t.Errorf("validate: %s", e.Payload)
	}
	good := json.RawMessage(`{"slots":[{"take":["base",0]},{"take":["math",1]},{"merge":{"method":"task_arithmetic","layer":2,"models":["code","docs"],"lambda":0.5}},{"take":["base",4]}]}`)
	e = call(t, c, "3", protocol.PutPlan, protocol.PlanPayload{Plan: good})
	json.Unmarshal(e.Payload, &rep)
	if !rep.Valid || rep.Params != 4*45440+512*64+64 {
		t.Errorf("put: %s", e.Payload)
	}
	e = call(t, c, "4", protocol.ExportPlan, protocol.ExportRequest{Format: "json"})
	if e.Type != protocol.ReplyExport || !strings.Contains(string(e.Payload), "task_arithmetic") {
		t.Errorf("export: %s %s", e.Type, e.Payload)
	}
	e = call(t, c, "5", protocol.ExportPlan, protocol.ExportRequest{Format: "mergekit"})
	if e.Type != protocol.ReplyExport || !strings.Contains(string(e.Payload), "merge_method: task_arithmetic") {
		t.Errorf("mergekit export: %s", e.Payload)
	}
	mixed := json.RawMessage(`{"slots":[{"take":["base",0]},{"merge":{"method":"ties","layer":1,"models":["code"]}},{"merge":{"method":"slerp","layer":2,"models":["math"],"t":0.5}}]}`)
	e = call(t, c, "5b", protocol.ExportPlan, protocol.ExportRequest{Format: "mergekit", Plan: mixed})
	if e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), "one merge_method per config") {
		t.Errorf("mergekit export of a mixed plan: %s", e.Payload)
	}
	// Evaluate: progress events, then per-task retention.
	e = call(t, c, "6", protocol.Evaluate, map[string]any{"plan": good, "samples": 2})
	var ev protocol.EvaluateResult
	json.Unmarshal(e.Payload, &ev)
	if e.Type != protocol.ReplyEvaluate || len(ev.Tasks) != 4 || ev.Tasks[0].Retention <= 0 || ev.Samples != 2 {
		t.Errorf("evaluate: %s", e.Payload)
	}
	// Unknown types and malformed messages get an error and the connection lives on.
	if e = call(t, c, "7", "teleport", nil); e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), `unknown message type \"teleport\"`) {
		t.Errorf("unknown type: %s", e.Payload)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"v":9,"type":"hello"}`))
	e = waitFor(t, c, func(e *protocol.Envelope) bool { return e.Type == protocol.ReplyError })
	if !strings.Contains(string(e.Payload), "protocol version 9") {
		t.Errorf("bad version: %s", e.Payload)
	}
	if e = call(t, c, "8", protocol.GetPlan, nil); !strings.Contains(string(e.Payload), "math") {
		t.Errorf("the current plan was not kept: %s", e.Payload)
	}
	e = call(t, c, "9", protocol.BuildPlan, map[string]any{"plan": good, "name": "mine"})
	var br struct {
		Dir     string `json:"dir"`
		Tensors int    `json:"tensors"`
	}
	json.Unmarshal(e.Payload, &br)
	if e.Type != protocol.ReplyBuild || br.Tensors != 38 {
		t.Fatalf("build: %s", e.Payload)
	}
	if m, err := model.Open(br.Dir); err != nil || m.Config.NumHiddenLayers != 4 {
		t.Errorf("built model: %v", err)
	}
	if e = call(t, c, "10", protocol.BuildPlan, map[string]any{"plan": good, "name": "../escape"}); e.Type != protocol.ReplyError {
		t.Errorf("a path in the build name was accepted: %s", e.Payload)
	}
}

func TestUploadsAndSearchEvents(t *testing.T) {
	_, ts := newServer(t)
	a, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.WriteMessage(websocket.BinaryMessage, append([]byte(`{"v":1,"id":"u1","type":"scorer.upload","name":"evil.wasm"}`+"\n"), "not wasm"...))
	e := waitFor(t, a, func(e *protocol.Envelope) bool { return e.ID == "u1" })
	if e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), "not a WebAssembly binary") {
		t.Errorf("bad upload: %s", e.Payload)
	}
	wasm, err := os.ReadFile(filepath.Join("..", "scorer", "examples", "wat", "skeleton.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	a.WriteMessage(websocket.BinaryMessage, append([]byte(`{"v":1,"id":"u2","type":"scorer.upload","name":"skeleton.wasm"}`+"\n"), wasm...))
	if e = waitFor(t, a, func(e *protocol.Envelope) bool { return e.ID == "u2" }); !strings.Contains(string(e.Payload), "skeleton.wasm") {
		t.Errorf("upload: %s", e.Payload)
	}
	call(t, a, "s", protocol.SelectScorer, map[string]string{"name": "skeleton.wasm"})
	e = call(t, a, "start", protocol.SearchStart, map[string]any{"remove": 1, "trials": 4, "min_budget": 1, "max_budget": 1})
	if e.Type != protocol.SearchStatus {
		t.Fatalf("start: %s", e.Payload)
	}
	// Both tabs see trials arrive, then the final status.
	for _, c := range []*websocket.Conn{a, b} {
		n := 0
		waitFor(t, c, func(e *protocol.Envelope) bool {
			if e.Type == protocol.EventTrial {
				n++
			}
			return e.Type == protocol.SearchStatus && e.ID == "" && !strings.Contains(string(e.Payload), `"running":true`)
		})
		if n != 4 {
			t.Errorf("a tab saw %d trial events", n)
		}
	}
	if e = call(t, a, "st", protocol.SearchStatus, nil); !strings.Contains(string(e.Payload), `"trials":4`) {
		t.Errorf("status: %s", e.Payload)
	}
	// A tab that connects now gets the search it missed.
	late, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	var st protocol.State
	json.Unmarshal(call(t, late, "h", protocol.Hello, nil).Payload, &st)
	if len(st.Trials) != 4 || st.Scorer != "skeleton.wasm" {
		t.Errorf("late tab: %d trials, scorer %q", len(st.Trials), st.Scorer)
	}
}

// A client that stops reading is dropped; the server and the others carry on.
func TestSlowClientDoesNotBlock(t *testing.T) {
	s, ts := newServer(t)
	slow, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	call(t, slow, "h", protocol.Hello, nil)
	big := strings.Repeat("x", 1<<20)
	done := make(chan bool)
	go func() {
		for i := 0; i < 60; i++ { // far more than the slow client's queue and socket buffers
			s.broadcast(protocol.EventProgress, map[string]string{"pad": big})
		}
		done <- true
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("broadcast blocked on a client that does not read")
	}
	fast, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	if e := call(t, fast, "h2", protocol.Hello, nil); e.Type != protocol.ReplyState {
		t.Errorf("server stuck: %s", e.Type)
	}
	// A text message past the read limit (here MaxMessage: uploads are
	// limited to 1 MiB) closes the connection with 1009, message too big.
	huge := make([]byte, protocol.MaxMessage+1)
	for i := range huge {
		huge[i] = ' '
	}
	fast.WriteMessage(websocket.TextMessage, huge)
	fast.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, _, err := fast.ReadMessage()
		if err == nil {
			continue // events queued before the close
		}
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("an oversized message: the connection ended with %v, want a close 1009 (message too big)", err)
		}
		break
	}
}
