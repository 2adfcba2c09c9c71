package server

import (
	"encoding/json"
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
		if n, w, err := summarize(journal); err != nil {
			ri.Error = err.Error()
		} else {
			ri.Trials = n
			if !math.IsNaN(w) {
				ri.Best = w
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
	out := &protocol.RunData{Run: name}
	if out.Trials, err = recentTrials(journal, space); err != nil {
		return nil, err
	}
	if raw, err := readBounded(filepath.Join(dir, session.RowsFile), maxRowsFile); err == nil {
		var rows []session.Row
		if json.Unmarshal(raw, &rows) == nil {
			out.Rows = rowsOf(rows)
		}
	}
	return out, nil
}
