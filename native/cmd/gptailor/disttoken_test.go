package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/dist"
)

// The NATS token never goes on the command line: --nats-token is refused
// saying why, --nats-token-file is read (a missing, empty or non-regular
// file refused naming it), and GPTAILOR_NATS_TOKEN is the other way in.
func TestNATSTokenFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	missing := filepath.Join(dir, "missing")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--nats-token", "s3cret"}, 2, "invalid value \"s3cret\" for flag -nats-token: a token on the command line is readable by every local user in /proc/PID/cmdline: put it in a file (--nats-token-file, mode 0600) or the environment (GPTAILOR_NATS_TOKEN)"},
		{[]string{"--nats-token-file", missing}, 2, "--nats-token-file: open " + missing + ": no such file or directory"},
		{[]string{"--nats-token-file", empty}, 2, "--nats-token-file " + empty + ": no token in the file"},
		{[]string{"--nats-token-file", dir}, 2, "--nats-token-file " + dir + ": not a regular file of at most 4 KiB"},
	} {
		for _, cmd := range [][]string{distSearchArgs(filepath.Join(dir, "r"), "--workers", "1"), {"worker", "--nats", "nats://127.0.0.1:1", "--family", filepath.Join(repoData, "stories260K-base")}} {
			code, _, e := runCLI(t, "", append(cmd, c.args...)...)
			if code != c.code || !strings.Contains(e, c.want) {
				t.Errorf("%s %v: exit %d, %q; want %d with %q", cmd[0], c.args, code, e, c.code, c.want)
			}
		}
	}
}

// A real distributed search on a server that requires a token: the worker
// reads it from a file, the coordinator from the environment, and the
// journal equals the single-process run's; a coordinator with the wrong
// token is refused. --workers 2 (the embedded server's generated token,
// passed to its workers by the environment) gives the same journal.
func TestDistributedSearchWithToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	base := t.TempDir()
	ref := filepath.Join(base, "single")
	if code, _, e := subprocess(t, 0, distSearchArgs(ref, "--batch", "2")...); code != 0 {
		t.Fatalf("single-process run: exit %d: %s", code, e)
	}
	want := strings.Join(journalKeys(t, ref), "\n")
	const token = "a-test-token-0123456789"
	ns, url, err := dist.StartServer(dist.ServerOptions{Dir: filepath.Join(base, "nats"), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	tokFile := filepath.Join(base, "token")
	os.WriteFile(tokFile, []byte(token+"\n"), 0o600)
	w, werr := startCLI(t, nil, append([]string{"worker", "--nats", url, "--threads", "1", "--name", "w1", "--nats-token-file", tokFile}, demoFamilyArgs()...)...)
	t.Setenv(dist.TokenEnv, "wrong")
	if code, _, e := subprocess(t, 0, distSearchArgs(filepath.Join(base, "wrong"), "--nats", url, "--batch", "2")...); code == 0 || !strings.Contains(strings.ToLower(e), "authorization") {
		t.Errorf("a coordinator with the wrong token: exit %d: %s", code, e)
	}
	t.Setenv(dist.TokenEnv, token)
	run := filepath.Join(base, "dist")
	if code, _, e := subprocess(t, 0, distSearchArgs(run, "--nats", url, "--batch", "2")...); code != 0 {
		t.Fatalf("distributed run: exit %d: %s\nworker: %s", code, e, werr)
	}
	if got := strings.Join(journalKeys(t, run), "\n"); got != want {
		t.Errorf("journal on a token server:\n%s\nsingle process:\n%s", got, want)
	}
	signalled(w)
	os.Unsetenv(dist.TokenEnv)
	local := filepath.Join(base, "local")
	code, _, e := subprocess(t, 0, distSearchArgs(local, "--workers", "2", "--batch", "2")...)
	if code != 0 {
		t.Fatalf("--workers 2: exit %d: %s", code, e)
	}
	if st, err := os.Stat(dist.TokenFile(dist.StorageDir(local))); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the generated token file: %v %v", st, err)
	}
	if got := strings.Join(journalKeys(t, local), "\n"); got != want {
		t.Errorf("journal with --workers 2:\n%s\nsingle process:\n%s", got, want)
	}
}
