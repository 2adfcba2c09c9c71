package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/runlock"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// SearchRequest is search.start's payload: the CLI's search flags. Unset
// fields take session.DefaultSettings. Run names the run directory under
// the server's runs directory; with Resume the run's stored settings are
// used (and the other fields but Trials ignored), as `search --resume`.
type SearchRequest struct {
	Run         string   `json:"run"`
	Resume      bool     `json:"resume"`
	Remove      int      `json:"remove"`
	ParamBudget float64  `json:"param_budget"`
	Methods     []string `json:"methods"`
	Weights     bool     `json:"weights"`
	Space       string   `json:"space"`     // full, selection or removal
	Reference   string   `json:"reference"` // base or best
	Aggregate   string   `json:"aggregate"` // mean, geomean, min or paper
	Trials      *int     `json:"trials"`
	Optimizer   string   `json:"optimizer"`
	MinBudget   int      `json:"min_budget"`
	MaxBudget   int      `json:"max_budget"`
	Eta         float64  `json:"eta"`
	Seed        uint64   `json:"seed"`
	WarmStart   bool     `json:"warm_start"`
	Batch       int      `json:"batch"`
	Granularity string   `json:"granularity"` // layer (default) or block
	// Repair is a calibration file on the server's machine: every candidate
	// and pruning baseline gets a linear repair fitted on it ("": none).
	Repair        string `json:"repair"`
	RepairSamples int    `json:"repair_samples"`
}

var runName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// spec turns a request into the run's spec (a fresh one, or the stored
// one when resuming).
func (s *Server) spec(req SearchRequest) (session.RunSpec, string, error) {
	if req.Run == "" {
		req.Run = "search-" + time.Now().UTC().Format("20060102-150405")
	}
	if !runName.MatchString(req.Run) || req.Run[0] == '.' {
		return session.RunSpec{}, "", fmt.Errorf("run %q: 1-64 letters, digits, '.', '_' or '-', not starting with '.'", req.Run)
	}
	dir := filepath.Join(s.cfg.RunsDir, req.Run)
	journal, specPath := search.RunDir(dir)
	if req.Resume {
		spec, err := session.ReadSpec(specPath)
		if err != nil {
			return spec, "", fmt.Errorf("resume %s: %w", req.Run, err)
		}
		if spec.Settings.Trials > 0 && req.Trials != nil {
			spec.Settings.Trials = *req.Trials
		}
		return spec, dir, nil
	}
	if _, err := os.Stat(journal); err == nil {
		return session.RunSpec{}, "", fmt.Errorf("run %s already holds a search: resume it or choose another name", req.Run)
	}
	st := session.DefaultSettings()
	if req.Trials != nil {
		st.Trials = *req.Trials
	}
	if req.Optimizer != "" {
		st.Optimizer = req.Optimizer
	}
	if req.MinBudget != 0 {
		st.MinBudget = req.MinBudget
	}
	if req.MaxBudget != 0 {
		st.MaxBudget = req.MaxBudget
	}
	if req.Eta != 0 {
		st.Eta = req.Eta
	}
	st.Seed, st.WarmStart, st.Batch = req.Seed, req.WarmStart, req.Batch
	if st.Batch == 0 && s.cfg.Cluster != nil {
		st.Batch = s.cfg.Cluster.Batch(0) // stored with the run: the batch shapes the journal
	}
	var members []model.Member
	for _, m := range s.ses.Family.Models {
		members = append(members, model.Member{Alias: m.Name, Dir: m.Dir})
	}
	spec := session.RunSpec{Family: members, Remove: req.Remove, ParamBudget: req.ParamBudget, Methods: req.Methods, Weights: req.Weights, Space: req.Space, Objective: objectiveOf(req), Tasks: s.cfg.TasksPath, Settings: st, RunID: session.NewRunID(), Granularity: req.Granularity}
	if req.Repair != "" {
		calib, err := s.clientFile("repair", req.Repair)
		if err != nil {
			return spec, "", err
		}
		spec.Repair = &plan.Repair{Method: "linear", Calibration: calib, Samples: req.RepairSamples}
	}
	if req.ParamBudget != 0 {
		if !(req.ParamBudget > 0 && req.ParamBudget <= 1) {
			return spec, "", fmt.Errorf("param_budget %v: must be between 0 and 1", req.ParamBudget)
		}
		spec.Remove, _ = s.ses.Family.RemoveFor(req.ParamBudget)
	}
	if _, err := s.ses.Family.Space(spec); err != nil {
		return spec, "", err
	}
	if err := spec.Objective.Validate(s.ses.Specs); err != nil {
		return spec, "", err
	}
	return spec, dir, nil
}

// startSearch runs one search at a time, in a run directory like the
// CLI's (journal, report, best plan; resumable from either side); trials
// go to every tab, and the result table when it ends.
func (s *Server) startSearch(c *client, e *protocol.Envelope) {
	var req SearchRequest
	if err := e.Into(&req); err != nil {
		s.fail(c, e.ID, err)
		return
	}
	if !s.haveTasks(c, e.ID) {
		return
	}
	spec, dir, err := s.spec(req)
	if err != nil {
		s.fail(c, e.ID, err) // refused before anything starts or "running" is said
		return
	}
	space, err := s.ses.Family.Space(spec)
	if err != nil {
		s.fail(c, e.ID, err)
		return
	}
	specs, err := session.RunTasks(spec, s.cfg.TasksPath, s.ses.Specs) // a resumed run keeps its own tasks
	if err != nil {
		s.fail(c, e.ID, err)
		return
	}
	s.mu.Lock()
	if s.status.Running {
		s.mu.Unlock()
		s.fail(c, e.ID, errors.New("a search is running: stop it first"))
		return
	}
	lock, err := runlock.Acquire(dir, "gptailor serve (the app's search "+filepath.Base(dir)+")")
	if err == nil && !req.Resume {
		err = session.WriteSpec(filepath.Join(dir, "search.json"), spec)
	}
	if err != nil {
		s.mu.Unlock()
		lock.Release()
		s.fail(c, e.ID, err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.status = protocol.Status{Running: true, Run: filepath.Base(dir)}
	s.trials = nil
	var sc *session.Scorer
	if mod := s.scorers.get(s.selected); mod != nil {
		sc = &session.Scorer{Host: s.host, Module: mod} // the chosen scorer is the objective
	}
	s.mu.Unlock()
	s.reply(c, e.ID, protocol.SearchStatus, s.state().Search)
	haveBest := false
	onTrial := func(t search.Trial) {
		p, _ := space.Plan(t.Config, nil)
		ev, _ := json.Marshal(map[string]any{"trial": t, "plan": p})
		s.mu.Lock()
		s.trials = append(s.trials, ev)
		if len(s.trials) > keepTrials {
			s.trials = s.trials[len(s.trials)-keepTrials:]
		}
		s.status.Trials++
		if t.Error == "" && (!haveBest || t.Objective > s.status.Best) {
			s.status.Best, haveBest = t.Objective, true
		}
		s.mu.Unlock()
		s.broadcast(protocol.EventTrial, map[string]any{"trial": t, "plan": p})
	}
	go func() {
		defer lock.Release()
		ses := session.New(s.ses.Family, specs) // the run's own: its tasks, objective and runner
		if c := s.cfg.Cluster; c != nil {       // evaluating on the workers
			pool, err := c.Pool(ctx, ses, spec.RunID)
			if err != nil {
				s.mu.Lock()
				s.status.Running, s.status.Error = false, err.Error()
				st := s.status
				s.mu.Unlock()
				s.broadcast(protocol.SearchStatus, st)
				return
			}
			defer func() { pool.Finish(context.Background()); pool.Close() }()
			ses.Runner = pool
		}
		out, err := ses.RunSearch(ctx, spec, session.RunOptions{Dir: dir, Compare: true, Scorer: sc, OnTrial: onTrial})
		s.mu.Lock()
		s.status.Running = false
		if err != nil {
			s.status.Error = err.Error()
		}
		if out != nil && len(out.Rows) > 0 {
			s.status.Rows = rowsOf(out.Rows)
		}
		st := s.status
		s.mu.Unlock()
		s.broadcast(protocol.SearchStatus, st)
	}()
}

// rowsOf is the result table for the app.
func rowsOf(rows []session.Row) []protocol.ResultRow {
	out := make([]protocol.ResultRow, len(rows))
	for i, r := range rows {
		out[i] = protocol.ResultRow{Kind: r.Kind, Name: r.Name(), Retention: r.Retention, Objective: r.Objective}
	}
	return out
}

// objectiveOf is the request's objective, the default where it says nothing.
func objectiveOf(req SearchRequest) session.Objective {
	o := session.DefaultObjective
	if req.Reference != "" {
		o.Reference = req.Reference
	}
	if req.Aggregate != "" {
		o.Aggregate = req.Aggregate
	}
	return o
}
