package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gptailor/gptailor/native/dist"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCLI runs the CLI in a background process with extra environment.
func startCLI(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), cliEnv+"="+string(raw)), env...)
	var e syncBuffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, &e
}

func demoFamilyArgs() []string {
	var a []string
	for _, m := range []string{"base", "code", "docs", "math"} {
		a = append(a, "--family", filepath.Join(repoData, "stories260K-"+m))
	}
	return a
}

func distSearchArgs(dir string, extra ...string) []string {
	a := append([]string{"search"}, demoFamilyArgs()...)
	a = append(a, "--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--trials", "24", "--min-budget", "1", "--max-budget", "9",
		"--compare=false", "--prefix-cache-mb", "64", "--run", dir)
	return append(a, extra...)
}

// failures are the journal's failed trials, "index: error".
func failures(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, tr := range readJournal(t, dir) {
		if tr.Error != "" {
			out = append(out, fmt.Sprintf("%d: %s", tr.Index, tr.Error))
		}
	}
	return out
}

// signalled stops a process (an interrupt: a worker ends cleanly) and
// says whether it had died of SIGKILL.
func signalled(cmd *exec.Cmd) bool {
	cmd.Process.Signal(os.Interrupt)
	var exit *exec.ExitError
	err := cmd.Wait()
	if errors.As(err, &exit) {
		ws, ok := exit.Sys().(syscall.WaitStatus)
		return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	}
	return false
}

// The distributed search on three worker processes, one of which is
// killed (SIGKILL) in the middle of trial 5: its job is redelivered after
// the ack wait, and the journal equals the single-process run's with the
// same batch, trial by trial. The same with local workers (--workers 3).
func TestDistributedSearchSurvivesAWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	base := t.TempDir()
	ref := filepath.Join(base, "single")
	if code, _, e := subprocess(t, 0, distSearchArgs(ref, "--batch", "3")...); code != 0 {
		t.Fatalf("single-process run: exit %d: %s", code, e)
	}
	want := strings.Join(journalKeys(t, ref), "\n")
	ns, url, err := dist.StartServer(dist.ServerOptions{Dir: filepath.Join(base, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	// Whichever worker takes trial 5 first dies on it.
	var workers []*exec.Cmd
	for i := 1; i <= 3; i++ {
		cmd, _ := startCLI(t, []string{dist.CrashEnv + "=5"}, append([]string{"worker", "--nats", url, "--threads", "1", "--name", fmt.Sprintf("w%d", i)}, demoFamilyArgs()...)...)
		workers = append(workers, cmd)
	}
	run := filepath.Join(base, "dist")
	code, _, e := subprocess(t, 0, distSearchArgs(run, "--nats", url, "--batch", "3", "--ack-wait", "2s")...)
	if code != 0 {
		t.Fatalf("distributed run: exit %d: %s", code, e)
	}
	dead := 0
	for _, w := range workers {
		if signalled(w) {
			dead++
		}
	}
	if dead != 1 {
		t.Errorf("%d workers died of SIGKILL, want the one that took trial 5", dead)
	}
	if got := strings.Join(journalKeys(t, run), "\n"); got != want {
		t.Errorf("journal with a worker killed mid-job:\n%s\nsingle process:\n%s", got, want)
	}
	local := filepath.Join(base, "local")
	if code, _, e := subprocess(t, 0, distSearchArgs(local, "--workers", "3")...); code != 0 {
		t.Fatalf("--workers 3: exit %d: %s", code, e)
	} else if !strings.Contains(e, "dist: 3 local workers") || !strings.Contains(e, "3 trials in flight") {
		t.Errorf("--workers 3 said:\n%s", e)
	}
	if got := strings.Join(journalKeys(t, local), "\n"); got != want {
		t.Errorf("journal with --workers 3:\n%s\nsingle process:\n%s", got, want)
	}
}

// A job that kills every worker it reaches ends as a failed trial with its
// reason after --max-deliver deliveries; the search carries on with the
// workers left and finishes.
func TestJobThatAlwaysCrashesFailsItsTrial(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	base := t.TempDir()
	ns, url, err := dist.StartServer(dist.ServerOptions{Dir: filepath.Join(base, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	var killed []*exec.Cmd
	for i := 1; i <= 3; i++ {
		cmd, _ := startCLI(t, []string{dist.CrashEnv + "=2!"}, append([]string{"worker", "--nats", url, "--threads", "1", "--name", fmt.Sprintf("w%d", i)}, demoFamilyArgs()...)...)
		killed = append(killed, cmd)
	}
	run := filepath.Join(base, "run")
	code, _, e := subprocess(t, 0, distSearchArgs(run, "--nats", url, "--batch", "1", "--ack-wait", "1s", "--max-deliver", "2", "--trials", "9")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	got := failures(t, run)
	if len(got) != 1 || !strings.HasPrefix(got[0], "2: ") || !strings.Contains(got[0], "handed out 2 times and no worker finished it") {
		t.Errorf("failed trials %q, want trial 2 failed after 2 deliveries", got)
	}
	dead := 0
	for _, c := range killed {
		if signalled(c) {
			dead++
		}
	}
	if dead != 2 {
		t.Errorf("%d workers died on trial 2, want the 2 deliveries' workers", dead)
	}
}

// The coordinator is killed (SIGKILL, with its local workers) after a few
// trials; --resume with workers again continues from the journal and the
// results the workers stored, and ends with the undisturbed run's journal.
func TestCoordinatorKilledResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	base := t.TempDir()
	ref := filepath.Join(base, "single")
	if code, _, e := subprocess(t, 0, distSearchArgs(ref, "--batch", "2")...); code != 0 {
		t.Fatalf("single-process run: exit %d: %s", code, e)
	}
	want := strings.Join(journalKeys(t, ref), "\n")
	run := filepath.Join(base, "dist")
	// Crash point 8: after search.json and six journal lines.
	code, killed, e := subprocess(t, 8, distSearchArgs(run, "--workers", "2")...)
	if !killed {
		t.Fatalf("the coordinator was not killed at its 8th write: exit %d: %s", code, e)
	}
	if n := len(journalKeys(t, run)); n == 0 || n >= 24 {
		t.Fatalf("killed coordinator journaled %d trials", n)
	}
	code, _, e = subprocess(t, 0, distSearchArgs(run, "--resume", "--workers", "2")...)
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, e)
	}
	if got := strings.Join(journalKeys(t, run), "\n"); got != want {
		t.Errorf("journal after the coordinator's kill and resume:\n%s\nundisturbed:\n%s", got, want)
	}
}

// Distributed flags are checked before any work.
func TestDistributedBadInput(t *testing.T) {
	dir := t.TempDir()
	for args, want := range map[string]string{
		"--nats nats://127.0.0.1:1":                   "no NATS server answers at nats://127.0.0.1:1",
		"--workers -1":                                "--workers -1: must be 0 or more",
		"--nats nats://x:1 --nats-listen 127.0.0.1:0": "pass one of them",
		"--workers 1 --nats-listen 0.0.0.0:0":         "give workers a secret with --nats-token",
		"--workers 1 --ack-wait 10ms":                 "--ack-wait 10ms: must be at least 1s",
	} {
		code, _, e := runCLI(t, "", distSearchArgs(filepath.Join(dir, "r"), append(strings.Fields(args), "--overwrite")...)...)
		if code == 0 || !strings.Contains(e, want) {
			t.Errorf("%s: exit %d, %q; want %q", args, code, e, want)
		}
	}
	code, _, e := runCLI(t, "", "worker", "--nats", "nats://127.0.0.1:1")
	if code == 0 || !strings.Contains(e, "no --family") {
		t.Errorf("worker without a family: exit %d, %q", code, e)
	}
	if _, err := os.Stat(filepath.Join(dir, "r", "trials.jsonl")); err == nil {
		data, _ := os.ReadFile(filepath.Join(dir, "r", "trials.jsonl"))
		if len(data) > 0 {
			t.Errorf("a refused run journaled trials: %s", data)
		}
	}

}

// When every local worker has died (here each one that takes trial 3),
// the search stops with the reason instead of waiting forever, journals
// no failure for the trial nobody could run, and --resume finishes it.
func TestSearchStopsWhenEveryWorkerIsGone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	run := filepath.Join(t.TempDir(), "run")
	t.Setenv(dist.CrashEnv, "3!")
	code, _, e := subprocess(t, 0, distSearchArgs(run, "--workers", "2", "--ack-wait", "1s")...)
	if code != 1 || !strings.Contains(e, "every local worker has exited") || !strings.Contains(e, "--resume continues the run") {
		t.Fatalf("exit %d, want 1 with the reason:\n%s", code, e)
	}
	if f := failures(t, run); len(f) > 0 {
		t.Errorf("failed trials journaled: %q", f)
	}
	for _, tr := range readJournal(t, run) {
		if tr.Index == 3 {
			t.Error("trial 3 journaled though no worker ran it")
		}
	}
	os.Unsetenv(dist.CrashEnv)
	if code, _, e := subprocess(t, 0, distSearchArgs(run, "--resume", "--workers", "2")...); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, e)
	}
	if n, f := len(readJournal(t, run)), failures(t, run); n != 24 || len(f) > 0 {
		t.Errorf("after resuming: %d trials, failures %q", n, f)
	}
}
