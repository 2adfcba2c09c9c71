package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gptailor/gptailor/native/dist"
	"github.com/gptailor/gptailor/native/session"
)

// distFlags are search's distributed-evaluation flags.
type distFlags struct {
	workers int
	url     string
	listen  string
	creds   string
	tlsCA   string
	token   string
	ackWait time.Duration
	tries   int
}

func (d *distFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&d.workers, "workers", 0, "evaluate on N local worker processes (gptailor worker) over an embedded NATS JetStream server")
	fs.StringVar(&d.url, "nats", "", "evaluate on the workers attached to this NATS server (nats://host:4222) instead of an embedded one")
	fs.StringVar(&d.listen, "nats-listen", "", "with --workers (or alone): the embedded server listens here so workers on other machines can join (loopback unless --nats-token is given)")
	fs.StringVar(&d.creds, "nats-creds", "", "NATS credentials file (JWT + NKey) for --nats")
	fs.StringVar(&d.tlsCA, "nats-tls-ca", "", "CA certificate that signs the NATS server's TLS certificate")
	fs.StringVar(&d.token, "nats-token", "", "a secret token: the embedded server requires it, and clients present it")
	fs.DurationVar(&d.ackWait, "ack-wait", 30*time.Second, "a worker silent this long on a job (it acks progress at a third of it) loses the job to another")
	fs.IntVar(&d.tries, "max-deliver", 3, "deliveries of a job before it becomes a failed trial")
}

func (d distFlags) active() bool { return d.workers > 0 || d.url != "" || d.listen != "" }

func (d distFlags) validate() error {
	var errs []error
	if d.workers < 0 {
		errs = append(errs, fmt.Errorf("--workers %d: must be 0 or more", d.workers))
	}
	if d.url != "" && d.listen != "" {
		errs = append(errs, errors.New("--nats uses an existing server and --nats-listen starts one: pass one of them"))
	}
	if d.ackWait < time.Second {
		errs = append(errs, fmt.Errorf("--ack-wait %v: must be at least 1s", d.ackWait))
	}
	if d.tries < 1 {
		errs = append(errs, fmt.Errorf("--max-deliver %d: must be at least 1", d.tries))
	}
	return errors.Join(errs...)
}

// distribute makes the session's runner a pool of workers when the flags
// ask for one: the embedded server (storage in the run directory), the
// local worker processes, the pool. The batch (trials in flight) defaults
// to the number of workers. It returns what stops it all.
func distribute(ctx context.Context, s *session.Session, spec *session.RunSpec, runDir string, d distFlags, stderr io.Writer) (func(), error) {
	if !d.active() {
		return func() {}, nil
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	url := d.url
	if url == "" {
		ns, u, err := dist.StartServer(dist.ServerOptions{Dir: filepath.Join(runDir, "nats"), Listen: d.listen, Token: d.token})
		if err != nil {
			return nil, err
		}
		url = u
		stops = append(stops, ns.Shutdown)
		fmt.Fprintf(stderr, "dist: embedded NATS JetStream server at %s (storage in %s)\n", url, filepath.Join(runDir, "nats"))
	}
	co := dist.ConnectOptions{Name: "gptailor-search", Creds: d.creds, TLSCA: d.tlsCA, Token: d.token}
	nc, js, err := dist.Connect(ctx, url, co)
	if err != nil {
		stop()
		return nil, err
	}
	stops = append(stops, nc.Close)
	pool, err := dist.OpenPool(ctx, nc, js, s, spec.RunID, dist.PoolOptions{AckWait: d.ackWait, Tries: d.tries, Log: stderr})
	if err != nil {
		stop()
		return nil, err
	}
	stops = append(stops, pool.Close)
	if d.workers > 0 {
		kill, err := startWorkers(url, d, s, stderr)
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, kill)
	}
	if spec.Settings.Batch == 0 {
		spec.Settings.Batch = d.workers
		if d.workers == 0 {
			// Workers elsewhere: as many trials in flight as workers heard
			// from in the first seconds (the journal does not depend on it).
			time.Sleep(3 * time.Second)
			spec.Settings.Batch = max(1, len(pool.Workers()))
		}
		fmt.Fprintf(stderr, "dist: %d trials in flight (--batch)\n", spec.Settings.Batch)
	}
	s.Runner = pool
	return func() {
		pool.Finish(context.Background())
		stop()
	}, nil
}

// workerCommand makes the command of a local worker process (the tests,
// whose binary is not gptailor, replace it).
var workerCommand = func(args []string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, args...), nil
}

// startWorkers starts n `gptailor worker` children on url, splitting the
// cores between them; the returned func stops them.
func startWorkers(url string, d distFlags, s *session.Session, stderr io.Writer) (func(), error) {
	threads := max(1, runtime.NumCPU()/d.workers)
	var cmds []*exec.Cmd
	for i := 0; i < d.workers; i++ {
		args := []string{"worker", "--nats", url, "--threads", strconv.Itoa(threads), "--name", fmt.Sprintf("local-%d", i+1)}
		for _, m := range s.Family.Models {
			args = append(args, "--family", m.Name+"="+m.Dir)
		}
		if d.token != "" {
			args = append(args, "--nats-token", d.token)
		}
		cmd, err := workerCommand(args)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = io.Discard, stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // they go when we go
		if err := cmd.Start(); err != nil {
			for _, c := range cmds {
				c.Process.Kill()
			}
			return nil, fmt.Errorf("starting worker %d: %w", i+1, err)
		}
		cmds = append(cmds, cmd)
	}
	fmt.Fprintf(stderr, "dist: %d local workers, %d threads each\n", d.workers, threads)
	return func() {
		var wg sync.WaitGroup
		for _, c := range cmds {
			c.Process.Signal(os.Interrupt)
			wg.Add(1)
			go func() {
				defer wg.Done()
				done := make(chan struct{})
				go func() { c.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					c.Process.Kill()
					<-done
				}
			}()
		}
		wg.Wait()
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
	token := fs.String("nats-token", "", "the server's token")
	cacheMB := fs.Int("cache-mb", 1024, "memory for packed layers, source and merged alike")
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
	if err := errors.Join(atLeast("--threads", *threads, 0), atLeast("--cache-mb", *cacheMB, 1)); err != nil {
		return fail(stderr, "worker", err)
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	if *name == "" {
		h, _ := os.Hostname()
		*name = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	f, err := session.OpenFamily(fam, session.FamilyOptions{CacheBytes: int64(*cacheMB) << 20})
	if err != nil {
		return fail(stderr, "worker", err)
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, js, err := dist.Connect(ctx, *url, dist.ConnectOptions{Name: "gptailor-worker " + *name, Creds: *creds, TLSCA: *tlsCA, Token: *token, ReconnectWait: 500 * time.Millisecond})
	if err != nil {
		return fail(stderr, "worker", err)
	}
	defer nc.Close()
	files, err := os.MkdirTemp("", "gptailor-worker-")
	if err != nil {
		return fail(stderr, "worker", err)
	}
	defer os.RemoveAll(files)
	fmt.Fprintf(stderr, "worker %s: family %s (fingerprint %s), %d threads, on %s\n", *name, familyString(fam), f.Fingerprint, runtime.GOMAXPROCS(0), *url)
	w := &dist.Worker{Name: *name, Family: f, Files: files, Log: stderr}
	if err := w.Serve(ctx, nc, js); err != nil {
		return fail(stderr, "worker", err)
	}
	return 0
}
