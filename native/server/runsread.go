package server

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/protocol"
)

// runs.list and runs.open read journals as streams, read-only (a run may
// be being written: its torn last line is left alone), and bound what
// they send: a 200 MB journal was read whole (780 MB for runs.list, 2.5 GB
// and one 363 MB reply for runs.open).
const (
	// maxOpenTrials and maxOpenBytes bound runs.open's reply: the most
	// recent trials up to either limit (as a live search keeps).
	maxOpenTrials = keepTrials
	maxOpenBytes  = 8 << 20
	// maxRowsFile bounds a run's rows.json.
	maxRowsFile = 4 << 20
)

// summarize is a journal's trial count and winning objective (NaN: none),
// streamed in constant memory.
func summarize(path string) (int, float64, error) {
	n := 0
	var l search.Leader
	err := search.ScanJournal(path, func(t search.Trial) error { n++; l.Add(t); return nil })
	best := math.NaN()
	if w, ok := l.Best(); ok {
		best = w.Objective
	}
	return n, best, err
}

// recentTrials are the journal's last trials as trial events (trial and
// plan), at most maxOpenTrials of them and maxOpenBytes in all. A config
// that is not of the run's space is damage, named, not a panic.
func recentTrials(path string, space *search.Space) ([]protocol.TrialEvent, error) {
	var ring []protocol.TrialEvent
	var sizes []int
	size := 0
	err := search.ScanJournal(path, func(t search.Trial) error {
		if _, err := space.Plan(t.Config, nil); err != nil {
			return &search.DamageError{Path: path, Line: t.Index + 1, Reason: fmt.Sprintf("trial %d: %v", t.Index, err)}
		}
		ev := session.TrialEvent(space, t)
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		ring, sizes = append(ring, ev), append(sizes, len(b))
		size += len(b)
		for len(ring) > maxOpenTrials || size > maxOpenBytes {
			size -= sizes[0]
			ring, sizes = ring[1:], sizes[1:]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append([]protocol.TrialEvent(nil), ring...), nil
}

// readBounded reads at most max bytes of a file, refusing a longer one.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, nil
}
