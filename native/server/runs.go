package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/protocol"
)

// runs lists the run directories under the runs directory, newest first.
func (s *Server) runs() []protocol.RunInfo {
	entries, _ := os.ReadDir(s.cfg.RunsDir)
	s.mu.Lock()
	current, running := s.status.Run, s.status.Running
	s.mu.Unlock()
	type dated struct {
		info protocol.RunInfo
		mod  int64
	}
	var out []dated
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.cfg.RunsDir, e.Name())
		journal, specPath := search.RunDir(dir)
		spec, err := session.ReadSpec(specPath)
		if err != nil {
			continue // not a run
		}
		ri := protocol.RunInfo{Name: e.Name(), Target: spec.Settings.Trials, Objective: spec.ObjectiveName(), Space: spec.SpaceName(),
			Running: running && current == e.Name()}
		if _, trials, err := readTrials(journal); err != nil {
			ri.Error = err.Error()
		} else {
			ri.Trials = len(trials)
			if w, ok := search.Best(trials); ok && !math.IsNaN(w.Objective) {
				ri.Best = w.Objective
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "report.md")); err == nil {
			ri.Finished = true
		}
		var mod int64
		if st, err := os.Stat(journal); err == nil {
			mod = st.ModTime().UnixNano()
		}
		out = append(out, dated{ri, mod})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].mod > out[b].mod })
	infos := make([]protocol.RunInfo, len(out))
	for i, d := range out {
		infos[i] = d.info
	}
	return infos
}

// readTrials reads a journal without writing to it.
func readTrials(path string) (int, []search.Trial, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil, nil
	}
	j, trials, err := search.OpenJournal(path, false)
	if err != nil {
		return 0, nil, err
	}
	j.Close()
	return len(trials), trials, nil
}

// openRun reads a run's trials as trial events and its result table.
func (s *Server) openRun(name string) (*protocol.RunData, error) {
	if !runName.MatchString(name) || name[0] == '.' {
		return nil, fmt.Errorf("run %q: not a run name", name)
	}
	dir := filepath.Join(s.cfg.RunsDir, name)
	journal, specPath := search.RunDir(dir)
	spec, err := session.ReadSpec(specPath)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	space, err := s.ses.Family.Space(spec)
	if err != nil {
		return nil, fmt.Errorf("run %s was searched over another family: %w", name, err)
	}
	_, trials, err := readTrials(journal)
	if err != nil {
		return nil, err
	}
	out := &protocol.RunData{Run: name}
	for _, t := range trials {
		out.Trials = append(out.Trials, session.TrialEvent(space, t))
	}
	if raw, err := os.ReadFile(filepath.Join(dir, session.RowsFile)); err == nil {
		var rows []session.Row
		if json.Unmarshal(raw, &rows) == nil {
			out.Rows = rowsOf(rows)
		}
	}
	return out, nil
}
