// Package atomicfile replaces files so that a crash at any moment leaves
// either the old content or the new, never a truncated mix: the data goes
// to a temporary file in the same directory, which is synced, renamed over
// the target, and the directory synced. It also holds the crash points the
// fault-injection tests kill a process at.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
)

// Write atomically replaces path with data.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	Point()
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if err = SyncDir(dir); err != nil {
		return err
	}
	Point()
	return nil
}

// SyncDir makes a directory's entries (a rename, a new file) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// CrashEnv names the environment variable that makes the n-th crash point
// of a process (counted from 1) kill it with SIGKILL: the fault-injection
// tests use it to stop a run at every place it writes. Unset, Point does
// nothing.
const CrashEnv = "GPTAILOR_CRASH_AT"

var (
	crashAt = func() int64 {
		n, _ := strconv.ParseInt(os.Getenv(CrashEnv), 10, 64)
		return n
	}()
	points atomic.Int64
)

// Point marks a moment at which a crash must leave every file consistent.
func Point() {
	if crashAt > 0 && points.Add(1) == crashAt {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
