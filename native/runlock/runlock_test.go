package runlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A helper process holds the lock until its stdin closes.
func TestMain(m *testing.M) {
	if dir := os.Getenv("RUNLOCK_HOLD"); dir != "" {
		l, err := Acquire(dir, "gptailor search --run "+dir)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		bufio.NewReader(os.Stdin).ReadString('\n')
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Issue 22 item 6: a second writer of a run directory is refused, naming
// the holder's pid and command; the lock goes with its holder.
func TestSecondWriterRefusedNamingThePID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RUNLOCK_HOLD="+dir)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "held\n" {
		t.Fatalf("helper: %q", line)
	}
	_, err := Acquire(dir, "gptailor search")
	var he *HeldError
	want := fmt.Sprintf("%s is in use by pid %d (gptailor search --run %s), which holds %s/.lock: two writers would interleave its journal; wait for it to finish or stop it", dir, cmd.Process.Pid, dir, dir)
	if !errors.As(err, &he) || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	stdin.Close()
	cmd.Wait()
	l, err := Acquire(dir, "gptailor search")
	if err != nil {
		t.Fatalf("after the holder exited: %v", err)
	}
	// In one process too: a second taker (another open file) is refused.
	if _, err := Acquire(dir, "again"); !errors.As(err, &he) || he.PID != os.Getpid() {
		t.Fatalf("second taker in one process: %v", err)
	}
	l.Release()
	if l2, err := Acquire(dir, "x"); err != nil {
		t.Fatalf("after Release: %v", err)
	} else {
		l2.Release()
	}
}
