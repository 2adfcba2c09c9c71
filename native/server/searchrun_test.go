package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gptailor/gptailor/native/dist"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/protocol"
)

func finished(e *protocol.Envelope) bool {
	return e.Type == protocol.SearchStatus && e.ID == "" && !strings.Contains(string(e.Payload), `"running":true`)
}

// A search started from the app is a run directory like the CLI's: its
// search.json names the family, tasks and settings (the CLI's defaults
// where the request says nothing), its journal holds every trial, its
// report the winner and the baselines as data (kinds), and a resume from
// the app continues it to more trials.
func TestAppSearchIsARun(t *testing.T) {
	runs := t.TempDir()
	_, ts := newServerWith(t, func(c *Config) { c.UIDir, c.RunsDir = testUI(t), runs })
	a, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	call(t, a, "h", protocol.Hello, nil)
	if e := call(t, a, "s1", protocol.SearchStart, map[string]any{"run": "from-app", "remove": 1, "trials": 4}); e.Type != protocol.SearchStatus {
		t.Fatalf("start: %s", e.Payload)
	}
	e := waitFor(t, a, finished)
	var st protocol.Status
	json.Unmarshal(e.Payload, &st)
	if st.Error != "" || st.Trials != 4 || st.Run != "from-app" {
		t.Fatalf("status %+v", st)
	}
	kinds := map[string]bool{}
	for _, r := range st.Rows {
		kinds[r.Kind] = true
		if len(r.Retention) != 4 {
			t.Errorf("row %s: %d tasks", r.Name, len(r.Retention))
		}
	}
	for _, k := range []string{search.KindSearch, session.KindShortGPT, session.KindLaCo, session.KindBestDrop, session.KindDense} {
		if !kinds[k] {
			t.Errorf("no %s row in %+v", k, st.Rows)
		}
	}
	if st.Rows[0].Kind != search.KindSearch {
		t.Errorf("first row is %s, want the winner", st.Rows[0].Kind)
	}
	dir := filepath.Join(runs, "from-app")
	spec, err := session.ReadSpec(filepath.Join(dir, "search.json"))
	if err != nil {
		t.Fatal(err)
	}
	def := session.DefaultSettings()
	if spec.Settings.MinBudget != def.MinBudget || spec.Settings.MaxBudget != def.MaxBudget || spec.Settings.Optimizer != def.Optimizer || !filepath.IsAbs(spec.Tasks) || spec.RunID == "" {
		t.Errorf("search.json %+v: want the CLI's defaults, an absolute task list and a run id", spec)
	}
	for _, m := range spec.Family {
		if !filepath.IsAbs(m.Dir) {
			t.Errorf("family member %s: relative path %s", m.Alias, m.Dir)
		}
	}
	// best-plan.json is the winner's plan (the search row), by kind.
	raw, err := os.ReadFile(filepath.Join(dir, "best-plan.json"))
	if err != nil || !strings.Contains(string(raw), `"search-best-trial-`) {
		t.Errorf("best-plan.json: %v %s", err, raw)
	}
	// The runs list and a run opened again: its trials and its table.
	var list []protocol.RunInfo
	json.Unmarshal(call(t, a, "l", protocol.RunsList, nil).Payload, &list)
	if len(list) != 1 || list[0].Name != "from-app" || list[0].Trials != 4 || !list[0].Finished || list[0].Running {
		t.Errorf("runs list %+v", list)
	}
	var data protocol.RunData
	json.Unmarshal(call(t, a, "o", protocol.RunOpen, map[string]string{"run": "from-app"}).Payload, &data)
	if len(data.Trials) != 4 || len(data.Rows) != len(st.Rows) || data.Rows[0].Kind != search.KindSearch {
		t.Errorf("opened run: %d trials, %d rows", len(data.Trials), len(data.Rows))
	}
	if e := call(t, a, "o2", protocol.RunOpen, map[string]string{"run": "../x"}); e.Type != protocol.ReplyError {
		t.Errorf("opening a path: %s", e.Payload)
	}
	if e := call(t, a, "s2", protocol.SearchStart, map[string]any{"run": "from-app", "remove": 1}); e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), "already holds a search") {
		t.Errorf("a second search into the same run: %s", e.Payload)
	}
	if e := call(t, a, "s3", protocol.SearchStart, map[string]any{"run": "from-app", "resume": true, "trials": 7}); e.Type != protocol.SearchStatus {
		t.Fatalf("resume: %s", e.Payload)
	}
	json.Unmarshal(waitFor(t, a, finished).Payload, &st)
	j, trials, err := search.OpenJournal(filepath.Join(dir, "trials.jsonl"), false)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if len(trials) != 7 || st.Error != "" {
		t.Errorf("after resuming to 7 trials: journal %d, status %+v", len(trials), st)
	}
	if e := call(t, a, "s4", protocol.SearchStart, map[string]any{"run": "../escape"}); e.Type != protocol.ReplyError {
		t.Errorf("run name with a path: %s", e.Payload)
	}
}

// Served with NATS workers, a search from the app runs on them; every tab
// sees the workers (name, busy or idle, trial, last heartbeat).
func TestAppSearchOnWorkers(t *testing.T) {
	runs := t.TempDir()
	var ms []model.Member
	for _, a := range []string{"base", "code", "docs", "math"} {
		ms = append(ms, model.Member{Alias: a, Dir: filepath.Join(repoData, "stories260K-"+a)})
	}
	wf, err := session.OpenFamily(ms, session.FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	token := dist.NewToken() // the embedded server always requires one
	c, err := dist.Start(context.Background(), ms, dist.Options{Dir: filepath.Join(runs, "nats"), Listen: "127.0.0.1:0", AckWait: 5 * time.Second, Token: token, Fingerprint: wf.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc, js, err := dist.Connect(context.Background(), c.URL, dist.ConnectOptions{Name: "w", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&dist.Worker{Name: "worker-one", Family: wf, Files: t.TempDir(), Every: 200 * time.Millisecond}).Serve(ctx, nc, js)
	_, ts := newServerWith(t, func(cfg *Config) { cfg.UIDir, cfg.RunsDir, cfg.Cluster = testUI(t), runs, c })
	a, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	call(t, a, "h", protocol.Hello, nil)
	if e := call(t, a, "s", protocol.SearchStart, map[string]any{"run": "on-workers", "remove": 1, "trials": 4, "min_budget": 1, "max_budget": 3}); e.Type != protocol.SearchStatus {
		t.Fatalf("start: %s", e.Payload)
	}
	var seen []protocol.Worker
	e := waitFor(t, a, func(e *protocol.Envelope) bool {
		if e.Type == protocol.EventWorkers {
			var ws []protocol.Worker
			json.Unmarshal(e.Payload, &ws)
			seen = append(seen, ws...)
		}
		return finished(e)
	})
	var st protocol.Status
	json.Unmarshal(e.Payload, &st)
	if st.Error != "" || st.Trials != 4 {
		t.Fatalf("status %+v", st)
	}
	var state protocol.State
	json.Unmarshal(call(t, a, "h2", protocol.Hello, nil).Payload, &state)
	if len(state.Workers) != 1 || state.Workers[0].Name != "worker-one" || state.Workers[0].Foreign || state.Workers[0].Done == 0 {
		t.Errorf("workers in the state: %+v (events saw %+v)", state.Workers, seen)
	}
}
