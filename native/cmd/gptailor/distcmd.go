package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gptailor/gptailor/native/dist"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/sysmem"
)

// distFlags registers the distributed-evaluation flags (search, serve).
func distFlags(fs *flag.FlagSet) *dist.Options {
	o := &dist.Options{}
	fs.IntVar(&o.Workers, "workers", 0, "evaluate on N local worker processes (gptailor worker) over an embedded NATS JetStream server")
	fs.StringVar(&o.URL, "nats", "", "evaluate on the workers attached to this NATS server (nats://host:4222) instead of an embedded one")
	fs.StringVar(&o.Listen, "nats-listen", "", "the embedded server listens here so workers on other machines can join (loopback unless a token is given by --nats-token-file or "+dist.TokenEnv+")")
	fs.StringVar(&o.Creds, "nats-creds", "", "NATS credentials file (JWT + NKey) for --nats")
	fs.StringVar(&o.TLSCA, "nats-tls-ca", "", "CA certificate that signs the NATS server's TLS certificate")
	fs.Func("nats-token", "refused: a token on the command line is readable by every local user (/proc/PID/cmdline); use --nats-token-file or "+dist.TokenEnv, refuseTokenFlag)
	fs.Func("nats-token-file", "a file holding the secret token the embedded server requires and clients present (or set "+dist.TokenEnv+"); without one an embedded server generates one in RUN/nats/token", func(path string) error {
		t, err := readTokenFile(path)
		o.Token = t
		return err
	})
	fs.DurationVar(&o.JobTimeout, "job-timeout", dist.DefaultJobTimeout, "a job evaluating longer on a worker fails saying so (local workers get it)")
	fs.DurationVar(&o.AckWait, "ack-wait", 30*time.Second, "a worker silent this long on a job (it acks progress at a third of it) loses the job to another")
	fs.IntVar(&o.Tries, "max-deliver", 3, "deliveries of a job before it becomes a failed trial")
	return o
}

func refuseTokenFlag(string) error {
	return fmt.Errorf("a token on the command line is readable by every local user in /proc/PID/cmdline: put it in a file (--nats-token-file, mode 0600) or the environment (%s)", dist.TokenEnv)
}

// readTokenFile reads a token file's first line (a regular file of at
// most 4 KiB).
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--nats-token-file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > 4096 {
		return "", fmt.Errorf("--nats-token-file %s: not a regular file of at most 4 KiB", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("--nats-token-file: %w", err)
	}
	t := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if t == "" {
		return "", fmt.Errorf("--nats-token-file %s: no token in the file", path)
	}
	return t, nil
}

// tokenFromEnv fills an unset token from the environment.
func tokenFromEnv(t *string) {
	if *t == "" {
		*t = strings.TrimSpace(os.Getenv(dist.TokenEnv))
	}
}

// distribute makes the session's runner a pool of workers when the flags
// ask for one (the embedded server keeps its storage in the run
// directory, so a resumed run finds its results). The batch (trials in
// flight) defaults to the number of workers. It returns what stops it all.
func distribute(ctx context.Context, s *session.Session, spec *session.RunSpec, runDir string, o dist.Options, cacheMB, prefixMB int, prefixSet bool, stderr io.Writer) (func(), error) {
	if !o.Active() {
		return func() {}, nil
	}
	o.Dir, o.Log, o.Fingerprint = dist.StorageDir(runDir), stderr, s.Family.Fingerprint
	tokenFromEnv(&o.Token)
	if o.Workers > 0 { // the local workers share the caches the search was given
		share := prefixMB / o.Workers
		if !prefixSet {
			// On the demo trace (300 trials, 2 workers) a worker's prefix
			// cache of 128 MiB gave 25.0 s, 512 MiB 27.1 s and a quarter of
			// the machine's memory 31-35 s: capped unless asked for.
			share = min(share, 256)
		}
		o.WorkerArgs = []string{"--cache-mb", strconv.Itoa(max(1, cacheMB/o.Workers)), "--prefix-cache-mb", strconv.Itoa(share)}
	}
	var members []model.Member
	for _, m := range s.Family.Models {
		members = append(members, model.Member{Alias: m.Name, Dir: m.Dir})
	}
	c, err := dist.Start(ctx, members, o)
	if err != nil {
		return nil, err
	}
	pool, err := c.Pool(ctx, s, spec.RunID)
	if err != nil {
		c.Close()
		return nil, err
	}
	if spec.Settings.Batch == 0 {
		spec.Settings.Batch = c.Batch(3 * time.Second)
		fmt.Fprintf(stderr, "dist: %d trials in flight (--batch)\n", spec.Settings.Batch)
	}
	s.Runner = pool
	s.Recheck = pool.Recheck(s, stderr, nil)
	return func() {
		pool.Finish(context.Background())
		pool.Close()
		c.Close()
	}, nil
}

func runWorker(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fam memberFlags
	fs.Var(&fam, "family", "alias=DIR of a family model, the base first (repeatable): the same family as the searches it serves")
	url := fs.String("nats", "", "NATS server URL (nats://host:4222)")
	threads := fs.Int("threads", 0, "cores to use (default: all)")
	name := fs.String("name", "", "worker name shown to the coordinator (default: host-pid)")
	creds := fs.String("nats-creds", "", "NATS credentials file (JWT + NKey)")
	tlsCA := fs.String("nats-tls-ca", "", "CA certificate that signs the NATS server's TLS certificate")
	var token string
	fs.Func("nats-token", "refused: a token on the command line is readable by every local user (/proc/PID/cmdline); use --nats-token-file or "+dist.TokenEnv, refuseTokenFlag)
	fs.Func("nats-token-file", "a file holding the server's token (or set "+dist.TokenEnv+"; an embedded server's is in RUN/nats/token)", func(path string) error {
		t, err := readTokenFile(path)
		token = t
		return err
	})
	jobTimeout := fs.Duration("job-timeout", dist.DefaultJobTimeout, "a job evaluating longer fails saying so")
	cacheMB := fs.Int("cache-mb", 1024, "memory for packed layers, source and merged alike")
	prefixMB := fs.Int("prefix-cache-mb", 256, "memory for activations shared between candidates with common first slots (0: off)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor worker --nats URL --family base=DIR --family [alias=]DIR ... [--threads T] [--name NAME]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *url == "" {
		fs.Usage()
		return 2
	}
	if len(fam) == 0 {
		return fail(stderr, "worker", errors.New("no --family: a worker evaluates plans over the family of the searches it serves; pass the same models (by alias) as the coordinator"))
	}
	tokenFromEnv(&token)
	if *jobTimeout <= 0 {
		return fail(stderr, "worker", fmt.Errorf("--job-timeout %v: must be positive", *jobTimeout))
	}
	if err := errors.Join(atLeast("--threads", *threads, 0), atLeast("--cache-mb", *cacheMB, 1), atLeast("--prefix-cache-mb", *prefixMB, 0)); err != nil {
		return fail(stderr, "worker", err)
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	if *name == "" {
		h, _ := os.Hostname()
		*name = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	f, err := session.OpenFamily(fam, session.FamilyOptions{CacheBytes: int64(*cacheMB) << 20, PrefixBytes: int64(*prefixMB) << 20})
	if err != nil {
		return fail(stderr, "worker", err)
	}
	defer f.Close()
	sysmem.SoftLimit(f.HeapLimit(2048)) // as search: windows of up to 2,048 tokens
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, js, err := dist.Connect(ctx, *url, dist.ConnectOptions{Name: "gptailor-worker " + *name, Creds: *creds, TLSCA: *tlsCA, Token: token, ReconnectWait: 500 * time.Millisecond})
	if err != nil {
		return fail(stderr, "worker", err)
	}
	defer nc.Close()
	files, err := os.MkdirTemp("", "gptailor-worker-")
	if err != nil {
		return fail(stderr, "worker", err)
	}
	defer os.RemoveAll(files)
	fmt.Fprintf(stderr, "worker %s: family %s (fingerprint %s), %d threads, on %s\n", *name, session.MembersString(fam), f.Fingerprint, runtime.GOMAXPROCS(0), *url)
	w := &dist.Worker{Name: *name, Family: f, Files: files, Log: stderr, JobTimeout: *jobTimeout}
	if err := w.Serve(ctx, nc, js); err != nil {
		return fail(stderr, "worker", err)
	}
	return 0
}
