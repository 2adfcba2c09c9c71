package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"time"

	"github.com/gptailor/gptailor/native/dist"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/runlock"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/protocol"
)

var runName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// prepare resolves a search.start request into a run prepared in its
// directory under the runs directory (a fresh one over the server's
// family and tasks, or the stored one when resuming): every refusal,
// including a run directory that cannot be created or a search.json that
// cannot be written, comes back here, before anything starts.
func (s *Server) prepare(req protocol.RunRequest) (*session.Run, *runlock.Lock, error) {
	if req.Run == "" {
		req.Run = "search-" + time.Now().UTC().Format("20060102-150405")
	}
	if !runName.MatchString(req.Run) || req.Run[0] == '.' {
		return nil, nil, fmt.Errorf("run %q: 1-64 letters, digits, '.', '_' or '-', not starting with '.'", req.Run)
	}
	if req.ReportTasks != "" {
		return nil, nil, errors.New("report_tasks: held-out tasks are a CLI option (search --report-tasks)")
	}
	if req.Quant == "" && !req.Resume {
		req.Quant = s.ses.Quant // serve --quant
	}
	if req.Repair != "" {
		calib, err := s.clientFile("repair", req.Repair)
		if err != nil {
			return nil, nil, err
		}
		req.Repair = calib
	}
	var members []model.Member
	for _, m := range s.ses.Family.Models {
		members = append(members, model.Member{Alias: m.Name, Dir: m.Dir})
	}
	dir := filepath.Join(s.cfg.RunsDir, req.Run)
	lock, err := runlock.Acquire(dir, "gptailor serve (the app's search "+req.Run+")")
	if err != nil {
		return nil, nil, fmt.Errorf("run %s: run directory: %w", req.Run, err)
	}
	run, err := s.prepareLocked(req, dir, members)
	if err != nil {
		lock.Release()
		return nil, nil, fmt.Errorf("run %s: %w", req.Run, err)
	}
	return run, lock, nil
}

// prepareLocked is prepare with the run directory locked.
func (s *Server) prepareLocked(req protocol.RunRequest, dir string, members []model.Member) (*session.Run, error) {
	res, err := session.Resolve(dir, req, members, s.cfg.TasksPath, nil)
	if err != nil {
		return nil, err
	}
	spec := res.Spec
	if !res.Resumed && spec.Settings.Batch == 0 && s.cfg.Cluster != nil {
		spec.Settings.Batch = s.cfg.Cluster.Batch(0) // stored with the run: the batch shapes the journal
	}
	specs, err := session.RunTasks(spec, s.cfg.TasksPath, s.ses.Specs) // a resumed run keeps its own tasks
	if err != nil {
		return nil, err
	}
	// The run's own session: its tasks, objective and runner; the
	// server's family and caches.
	return session.New(s.ses.Family, specs).Prepare(spec, dir)
}

// startSearch runs one search at a time, in a run directory like the
// CLI's (journal, report, best plan; resumable from either side); trials
// go to every tab, and the result table when it ends.
func (s *Server) startSearch(c *client, e *protocol.Envelope) {
	var req protocol.RunRequest
	if err := e.Into(&req); err != nil {
		s.fail(c, e.ID, err)
		return
	}
	if !s.haveTasks(c, e.ID) {
		return
	}
	s.mu.Lock()
	if s.status.Running {
		s.mu.Unlock()
		s.fail(c, e.ID, errors.New("a search is running: stop it first"))
		return
	}
	run, lock, err := s.prepare(req)
	if err != nil {
		s.mu.Unlock()
		s.fail(c, e.ID, err) // refused before anything starts or "running" is said
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.status = protocol.Status{Running: true, Run: filepath.Base(run.Dir)}
	s.trials = nil
	var sc *session.Scorer
	if mod := s.scorers.get(s.selected); mod != nil {
		sc = &session.Scorer{Host: s.host, Module: mod} // the chosen scorer is the objective
	}
	s.mu.Unlock()
	s.reply(c, e.ID, protocol.SearchStatus, s.state().Search)
	go func() {
		defer lock.Release()
		s.search(ctx, run, sc)
	}()
}

// search runs a prepared search, broadcasting its trials and its end.
func (s *Server) search(ctx context.Context, run *session.Run, sc *session.Scorer) {
	haveBest := false
	onTrial := func(t search.Trial) {
		ev := run.Event(t)
		s.mu.Lock()
		s.trials = append(s.trials, ev)
		if len(s.trials) > keepTrials {
			s.trials = s.trials[len(s.trials)-keepTrials:]
		}
		s.status.Trials++
		if o := ev.Trial.Objective; o != nil && (!haveBest || *o > s.status.Best) {
			s.status.Best, haveBest = *o, true
		}
		s.mu.Unlock()
		s.broadcast(protocol.EventTrial, ev)
	}
	end := func(out *session.Outcome, err error) {
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
	}
	if c := s.cfg.Cluster; c != nil { // evaluating on the workers
		pool, err := c.Pool(ctx, run.S, run.Spec.RunID)
		if err != nil {
			end(nil, err)
			return
		}
		defer func() { pool.Finish(context.Background()); pool.Close() }()
		run.S.Runner = pool
		// As the CLI's: the final table is evaluated again here, from
		// nothing the workers sent, and a row they got wrong is named.
		log := s.cfg.Log
		if log == nil {
			log = io.Discard
		}
		run.S.Recheck = pool.Recheck(run.S, log, func(m dist.Mismatch) {
			s.mu.Lock()
			s.status.Warnings = append(s.status.Warnings, m.String())
			s.mu.Unlock()
		})
	}
	end(run.Search(ctx, session.RunOptions{Compare: true, Scorer: sc, OnTrial: onTrial}))
}

// rowsOf is the result table for the app.
func rowsOf(rows []session.Row) []protocol.ResultRow {
	out := make([]protocol.ResultRow, len(rows))
	for i, r := range rows {
		out[i] = protocol.ResultRow{Kind: r.Kind, Name: r.Name(), Retention: r.Retention, Objective: r.Objective}
	}
	return out
}
