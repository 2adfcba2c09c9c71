package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gptailor/gptailor/native/atomicfile"
	"github.com/gptailor/gptailor/native/dist"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
)

// cliEnv, when set, makes the test binary run the CLI with the JSON
// argument list it holds: the fault tests kill real processes.
const cliEnv = "GPTAILOR_TEST_CLI"

func TestMain(m *testing.M) {
	if raw := os.Getenv(cliEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// Local workers (search --workers) are this binary in CLI mode too.
		dist.WorkerCommand = func(args []string) (*exec.Cmd, error) {
			raw, _ := json.Marshal(args)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), cliEnv+"="+string(raw))
			return cmd, nil
		}
		os.Exit(run(args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// subprocess runs the CLI in a child process, optionally killed (SIGKILL)
// at its crashAt-th crash point; killed reports whether that happened.
func subprocess(t *testing.T, crashAt int, args ...string) (code int, killed bool, stderr string) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cliEnv+"="+string(raw), fmt.Sprintf("%s=%d", atomicfile.CrashEnv, crashAt))
	var e bytes.Buffer
	cmd.Stderr = &e
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return -1, true, e.String()
		}
		return exit.ExitCode(), false, e.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, false, e.String()
}

// readJournal reads a run's journal.
func readJournal(t *testing.T, dir string) []search.Trial {
	t.Helper()
	j, trials, err := search.OpenJournal(filepath.Join(dir, "trials.jsonl"), false)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	return trials
}

// journalKeys is what must not depend on where a run was killed: each
// trial's configuration, budget and objective.
func journalKeys(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, tr := range readJournal(t, dir) {
		out = append(out, fmt.Sprintf("%d %s@%d %.12g", tr.Index, tr.Key, tr.Budget, tr.Objective))
	}
	return out
}

// Kill a search (SIGKILL) at every point where it writes a file — the
// run's settings, each journal line, each report file — and at the first
// writes of the resume that follows: `--resume` always continues, and the
// journal ends equal to the undisturbed run's.
func TestSearchKilledAtEveryWritePoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ~40 processes")
	}
	base := t.TempDir()
	searchArgs := func(dir string, extra ...string) []string {
		return append([]string{"search", "--family", filepath.Join(repoData, "stories260K-base"), "--family", filepath.Join(repoData, "stories260K-code"),
			"--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--trials", "6", "--min-budget", "1", "--max-budget", "3",
			"--compare=false", "--prefix-cache-mb", "64", "--run", dir}, extra...)
	}
	ref := filepath.Join(base, "reference")
	if code, _, e := subprocess(t, 0, searchArgs(ref)...); code != 0 {
		t.Fatalf("undisturbed run: exit %d: %s", code, e)
	}
	want := journalKeys(t, ref)
	if len(want) != 6 {
		t.Fatalf("reference journal has %d trials", len(want))
	}
	kills := 0
	for n := 1; ; n++ {
		dir := filepath.Join(base, fmt.Sprintf("kill%d", n))
		code, killed, e := subprocess(t, n, searchArgs(dir)...)
		if !killed {
			if code != 0 {
				t.Fatalf("crash point %d: exit %d: %s", n, code, e)
			}
			break // the run has fewer than n crash points
		}
		kills++
		// A resume that is itself killed at its first write points, then a clean one.
		for m := 1; n <= 3 && m <= 2; m++ {
			if code, killed, e := subprocess(t, m, searchArgs(dir, "--resume")...); !killed && code != 0 {
				t.Fatalf("kill at %d, resume killed at %d: exit %d: %s", n, m, code, e)
			}
		}
		if code, _, e := subprocess(t, 0, searchArgs(dir, "--resume")...); code != 0 {
			t.Fatalf("kill at point %d: --resume exit %d: %s", n, code, e)
		}
		if got := journalKeys(t, dir); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("kill at point %d: the resumed journal differs:\n%s\nwant\n%s", n, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, f := range []string{"search.json", "report.md", "best-plan.json", "pareto.json"} {
			if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
				t.Fatalf("kill at point %d: %s after resume: %v", n, f, err)
			}
		}
	}
	if kills < 10 {
		t.Fatalf("only %d crash points were reached", kills)
	}
	t.Logf("killed at %d write points; every run resumed to the undisturbed journal", kills)
}

// --resume takes the run's stored settings: leaving --trials out keeps the
// stored budget (the file is not rewritten), a larger --trials is applied
// and said, and a changed seed, budget or family is refused by name.
func TestResumeKeepsStoredSettings(t *testing.T) {
	dir := t.TempDir()
	args := []string{"search", "--family", filepath.Join(repoData, "stories260K-base"), "--family", filepath.Join(repoData, "stories260K-code"),
		"--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--min-budget", "1", "--max-budget", "3",
		"--compare=false", "--prefix-cache-mb", "64", "--run", dir}
	if code, _, e := runCLI(t, "", append(args, "--trials", "9")...); code != 0 {
		t.Fatal(e)
	}
	specPath := filepath.Join(dir, "search.json")
	before, _ := os.ReadFile(specPath)
	st, _ := os.Stat(specPath)
	// The README's idiom: the same command again with --resume, --trials left out.
	code, _, e := runCLI(t, "", append(args, "--resume")...)
	if code != 0 || strings.Contains(e, "resuming with") {
		t.Fatalf("exit %d: %s", code, e)
	}
	after, _ := os.ReadFile(specPath)
	st2, _ := os.Stat(specPath)
	if !bytes.Equal(before, after) || !st.ModTime().Equal(st2.ModTime()) {
		t.Error("search.json was rewritten by a resume that changed nothing")
	}
	if n := len(journalKeys(t, dir)); n != 9 {
		t.Errorf("the resumed run has %d trials, want the stored 9", n)
	}
	code, _, e = runCLI(t, "", "search", "--run", dir, "--resume", "--trials", "12")
	if code != 0 || !strings.Contains(e, "search: resuming with --trials 12 (was 9)") {
		t.Errorf("more trials: exit %d: %s", code, e)
	}
	if n := len(journalKeys(t, dir)); n != 12 {
		t.Errorf("%d trials after --trials 12", n)
	}
	var saved session.RunSpec
	raw, _ := os.ReadFile(specPath)
	json.Unmarshal(raw, &saved)
	if saved.Settings.Trials != 12 {
		t.Errorf("stored trials %d", saved.Settings.Trials)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--seed", "4"}, "--seed 4 (the run has 0)"},
		{[]string{"--max-budget", "9"}, "--max-budget 9 (the run has 3)"},
		{[]string{"--optimizer", "random", "--eta", "2"}, "--optimizer random (the run has bo), --eta 2 (the run has 3)"},
		{[]string{"--family", filepath.Join(repoData, "stories260K-base"), "--family", filepath.Join(repoData, "stories260K-math")}, "--family"},
	} {
		code, _, e := runCLI(t, "", append([]string{"search", "--run", dir, "--resume"}, c.args...)...)
		if code != 1 || !strings.Contains(e, "the journal was made with other settings") || !strings.Contains(e, c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, e)
		}
	}
	// Settings equal to the stored ones are no change.
	if code, _, e := runCLI(t, "", "search", "--run", dir, "--resume", "--seed", "0", "--max-budget", "3"); code != 0 || strings.Contains(e, "resuming with") {
		t.Errorf("same settings: exit %d: %s", code, e)
	}
	// Nothing to resume: said, unless the command can start the search.
	empty := t.TempDir()
	if code, _, e := runCLI(t, "", "search", "--run", empty, "--resume"); code != 1 || !strings.Contains(e, "holds no search (no search.json)") {
		t.Errorf("empty run: exit %d: %s", code, e)
	}
}

// Bad sizes, counts and durations are refused where they enter, named,
// before any work: never a hang or a panic.
func TestSizesRefused(t *testing.T) {
	stories := filepath.Join(repoData, "stories260K-base")
	data := filepath.Join(repoData, "data", "stories.jsonl")
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"prune", "--model", stories, "--data", data, "--seq", "0"}, "--seq 0: must be at least 2"},
		{[]string{"prune", "--model", stories, "--data", data, "--seq", "-3"}, "--seq -3: must be at least 2"},
		{[]string{"prune", "--model", stories, "--data", data, "--windows", "-1"}, "--windows -1: must be at least 1"},
		{[]string{"prune", "--model", stories, "--data", data, "-n", "0"}, "-n 0: must be at least 1"},
		{[]string{"eval", "--model", stories, "--data", data, "--seq", "1"}, "--seq 1: must be at least 2"},
		{[]string{"eval", "--model", stories, "--data", data, "--windows", "-1"}, "--windows -1: must be at least 0"},
		{[]string{"eval", "--model", stories, "--data", data, "--limit", "-4"}, "--limit -4: must be at least 0"},
		{[]string{"eval", "--model", stories, "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--scorer-memory-mib", "-5"}, "--scorer-memory-mib -5: must be between 1 and 4096"},
		{[]string{"eval", "--model", stories, "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--scorer-timeout", "-1s"}, "--scorer-timeout -1s: must not be negative"},
		{[]string{"search", "--family", stories, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--run", dir, "--eta", "1"}, "eta 1: Hyperband's η must be a finite number of at least 1.5"},
		{[]string{"search", "--family", stories, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--run", dir, "--eta", "1.0000001"}, "eta 1.0000001: Hyperband's η must be a finite number of at least 1.5"},
		{[]string{"search", "--family", stories, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--run", dir, "--min-budget", "0"}, "min budget 0: must be at least 1"},
		{[]string{"search", "--family", stories, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--run", dir, "--trials", "-2", "--time", "-1m"}, "trials -2: must be 0 (no limit) or more\ntime -1m0s: must be 0 (no limit) or more"},
		{[]string{"search", "--family", stories, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--run", dir, "--param-budget", "1.5"}, "--param-budget 1.5: must be between 0 and 1"},
		{[]string{"search", "--family", stories, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--run", dir, "--remove", "-1"}, "--remove -1: must be at least 0"},
	}
	for _, c := range cases {
		code, _, e := runCLI(t, "", c.args...)
		if code != 1 || !strings.Contains(e, c.want) {
			t.Errorf("%v: exit %d: %s, want %q", c.args, code, e, c.want)
		}
	}
}

// A checkpoint with a NaN weight fails eval naming the tensor (it used to
// print nll NaN and exit 0).
func TestNaNCheckpointRefused(t *testing.T) {
	src := filepath.Join(repoData, "stories260K-base")
	dir := t.TempDir()
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	st, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	name := "model.layers.2.mlp.down_proj.weight"
	info := st.Header.Tensors[name]
	off := st.Header.DataStart + info.Begin + 4*7
	st.Close()
	f, _ := os.OpenFile(filepath.Join(dir, "model.safetensors"), os.O_RDWR, 0)
	var nan [4]byte
	binary.LittleEndian.PutUint32(nan[:], math.Float32bits(float32(math.NaN())))
	f.WriteAt(nan[:], off)
	f.Close()
	code, _, e := runCLI(t, "", "eval", "--model", dir, "--data", filepath.Join(repoData, "data", "stories.jsonl"), "--windows", "1")
	if code != 1 || !strings.Contains(e, "tensor ["+name+"]: non-finite weight: element 7 is NaN") {
		t.Errorf("exit %d: %s", code, e)
	}
}

// serve refuses a non-loopback address unless told, and warns when told.
func TestServeAddressGuard(t *testing.T) {
	base := filepath.Join(repoData, "stories260K-base")
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.7:0", "example.com:0"} {
		code, _, e := runCLI(t, "", "serve", "--family", base, "--addr", addr)
		if code != 1 || !strings.Contains(e, "listens beyond this machine: pass --allow-remote") {
			t.Errorf("%s: exit %d: %s", addr, code, e)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, "127.8.9.10:1": true, "0.0.0.0:1": false, ":1": false} {
		if got, err := loopbackAddr(addr); err != nil || got != want {
			t.Errorf("loopbackAddr(%s) = %v %v", addr, got, err)
		}
	}
	// With --allow-remote the warning comes first (port 99999 then fails to
	// listen, so nothing is opened by the test).
	code, _, e := runCLI(t, "", "serve", "--family", base, "--addr", "0.0.0.0:99999", "--allow-remote")
	if code != 1 || !strings.Contains(e, "WARNING: listening on 0.0.0.0:99999, reachable from other machines") {
		t.Errorf("--allow-remote: exit %d: %s", code, e)
	}
	if _, err := loopbackAddr("no-port"); err == nil {
		t.Error("an address without a port was accepted")
	}
}

// version names the CPU features and the kernel; GPTAILOR_KERNEL picks one,
// and an unknown or unrunnable one is refused before any work.
func TestVersionAndKernelChoice(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	if code != 0 || !strings.Contains(out, "cpu features: ") || !strings.Contains(out, "kernel in use: ") {
		t.Fatalf("version: %d %s", code, out)
	}
	t.Setenv("GPTAILOR_KERNEL", "generic")
	if code, out, _ := runCLI(t, "", "version"); code != 0 || !strings.Contains(out, "kernel in use: generic") {
		t.Errorf("forced generic: %d %s", code, out)
	}
	t.Setenv("GPTAILOR_KERNEL", "avx1024")
	if code, _, e := runCLI(t, "", "version"); code != 2 || !strings.Contains(e, `GPTAILOR_KERNEL=avx1024: unknown kernel "avx1024"`) {
		t.Errorf("unknown kernel: %d %s", code, e)
	}
	t.Setenv("GPTAILOR_KERNEL", "")
	runCLI(t, "", "version") // back to the fastest for the other tests
}
