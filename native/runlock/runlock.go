// Package runlock keeps one writer per run directory: an exclusive flock(2)
// on DIR/.lock, taken by whatever appends to a run's journal or owns an
// embedded NATS store (search, search --resume, the app's searches, serve
// and search with workers). A second taker is refused with the holder's
// pid and command; the kernel drops the lock when its process dies, so a
// kill -9 leaves nothing to clean up. The file itself stays (removing it
// would let two processes lock two different files).
package runlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Name is the lock file in a run directory.
const Name = ".lock"

// Lock is a held run lock.
type Lock struct {
	f    *os.File
	path string
}

// HeldError is a lock another process holds.
type HeldError struct {
	Dir  string
	PID  int    // 0 when the holder wrote none (yet)
	What string // the holder's command, as it wrote it
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("pid %d", e.PID)
		if e.What != "" {
			who += " (" + e.What + ")"
		}
	}
	return fmt.Sprintf("%s is in use by %s, which holds %s: two writers would interleave its journal; wait for it to finish or stop it", e.Dir, who, filepath.Join(e.Dir, Name))
}

// Acquire creates dir if needed and locks it for this process; what says
// who holds it (e.g. "gptailor search"), for the refusal another taker
// gets. It never waits.
func Acquire(dir, what string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, Name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lock(f); err != nil {
		f.Close()
		if errors.Is(err, errHeld) {
			he := &HeldError{Dir: dir}
			if raw, rerr := os.ReadFile(path); rerr == nil {
				he.PID, he.What = parse(string(raw))
			}
			return nil, he
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d %s\n", os.Getpid(), strings.ReplaceAll(what, "\n", " "))
		f.Sync()
	}
	return &Lock{f: f, path: path}, nil
}

// Release unlocks (closing the file drops the flock).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func parse(s string) (int, string) {
	s = strings.TrimSpace(s)
	pid, rest, _ := strings.Cut(s, " ")
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return 0, ""
	}
	if len(rest) > 200 {
		rest = rest[:200]
	}
	return n, rest
}
