package dist

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gptailor/gptailor/native/atomicfile"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/session"
)

// Options say where evaluation goes: an embedded server (with local
// worker processes and, with Listen, room for workers elsewhere) or an
// existing server at URL.
type Options struct {
	Workers int    // local `gptailor worker` processes
	URL     string // an existing NATS server; "": embedded
	Listen  string // the embedded server's address ("": loopback, random port)
	Dir     string // the embedded server's storage
	Creds   string
	TLSCA   string
	Token   string
	AckWait time.Duration // default 30 s
	Tries   int           // default 3
	// Fingerprint is the family's (session.Family.Fingerprint): only its
	// workers count towards Batch.
	Fingerprint string
	// JobTimeout bounds a job's evaluation on a worker (default
	// DefaultJobTimeout); the local workers get it.
	JobTimeout time.Duration
	Log        io.Writer // nil: none
	// WorkerArgs are more arguments for the local workers (their share of
	// the caches).
	WorkerArgs []string
}

// Active says whether the options ask for distributed evaluation.
func (o Options) Active() bool { return o.Workers > 0 || o.URL != "" || o.Listen != "" }

// Validate checks the options before any work.
func (o Options) Validate() error {
	var errs []error
	if o.Workers < 0 {
		errs = append(errs, fmt.Errorf("--workers %d: must be 0 or more", o.Workers))
	}
	if m := MaxLocalWorkers(); o.Workers > m {
		errs = append(errs, fmt.Errorf("--workers %d: at most %d on this machine (2 per core, at least 4): each worker holds its own caches and more workers than cores only share them (start workers on other machines with `gptailor worker`)", o.Workers, m))
	}
	if o.URL != "" && o.Listen != "" {
		errs = append(errs, errors.New("--nats uses an existing server and --nats-listen starts one: pass one of them"))
	}
	if o.URL != "" && o.Workers > 0 {
		errs = append(errs, errors.New("--workers starts local workers on an embedded server; with --nats start them with `gptailor worker --nats URL`"))
	}
	if o.AckWait != 0 && o.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("--ack-wait %v: must be at least 1s", o.AckWait))
	}
	if o.JobTimeout < 0 {
		errs = append(errs, fmt.Errorf("--job-timeout %v: must be positive", o.JobTimeout))
	}
	if o.Tries < 0 {
		errs = append(errs, fmt.Errorf("--max-deliver %d: must be at least 1", o.Tries))
	}
	if o.Listen != "" {
		if err := checkListen(o.Listen, o.Token); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MaxLocalWorkers bounds --workers: two per core, at least 4.
func MaxLocalWorkers() int { return max(4, 2*runtime.NumCPU()) }

// MaxBatch bounds the trials kept in flight by the workers heard.
const MaxBatch = 64

// TokenEnv passes the NATS token to a process without its command line
// (which any local user reads in /proc/PID/cmdline).
const TokenEnv = "GPTAILOR_NATS_TOKEN"

// NewToken is a random credential for an embedded server.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TokenFile is where an embedded server's generated token is written (0600)
// for workers the user starts on this machine.
func TokenFile(dir string) string { return filepath.Join(dir, "token") }

// Cluster is a connection to a NATS server with JetStream (embedded or
// not), the local workers started on it, and the workers heard from.
type Cluster struct {
	URL  string
	NC   *nats.Conn
	JS   jetstream.JetStream
	opts Options
	ns   *server.Server
	cmds []*exec.Cmd
	sub  *nats.Subscription

	mu      sync.Mutex
	heard   map[string]Heartbeat
	exited  []chan struct{} // per local worker, closed when it has exited
	alive   int             // local workers running
	closing bool
	gone    chan struct{} // closed when every local worker has exited and no worker is heard
}

// WorkerCommand makes the command of a local worker process (tests, whose
// binary is not gptailor, replace it).
var WorkerCommand = func(args []string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, args...), nil
}

// Start connects (starting the embedded server when no URL is given) and
// starts the local workers over family.
func Start(ctx context.Context, family []model.Member, o Options) (*Cluster, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{URL: o.URL, opts: o, heard: map[string]Heartbeat{}, gone: make(chan struct{})}
	if c.URL == "" {
		// The embedded server always requires a credential: without one any
		// local user could queue jobs and write results.
		if o.Token == "" {
			o.Token = NewToken()
			c.opts.Token = o.Token
			if err := os.MkdirAll(o.Dir, 0o700); err != nil {
				return nil, err
			}
			if err := atomicfile.Write(TokenFile(o.Dir), []byte(o.Token+"\n"), 0o600); err != nil {
				return nil, err
			}
		}
		ns, url, err := StartServer(ServerOptions{Dir: o.Dir, Listen: o.Listen, Token: o.Token})
		if err != nil {
			return nil, err
		}
		c.ns, c.URL = ns, url
		c.logf("dist: embedded NATS JetStream server at %s (storage in %s; workers present the token in %s: gptailor worker --nats-token-file)", url, o.Dir, TokenFile(o.Dir))
	}
	nc, js, err := Connect(ctx, c.URL, ConnectOptions{Name: "gptailor-coordinator", Creds: o.Creds, TLSCA: o.TLSCA, Token: o.Token})
	if err != nil {
		c.Close()
		return nil, err
	}
	c.NC, c.JS = nc, js
	if c.sub, err = WatchWorkers(nc, c.hear); err != nil {
		c.Close()
		return nil, err
	}
	if o.Workers > 0 {
		if err := c.startWorkers(family); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) logf(format string, a ...any) {
	if c.opts.Log != nil {
		fmt.Fprintf(c.opts.Log, format+"\n", a...)
	}
}

// startWorkers starts the local `gptailor worker` children, splitting the
// cores between them; they die with this process.
func (c *Cluster) startWorkers(family []model.Member) error {
	n := c.opts.Workers
	threads := max(1, runtime.NumCPU()/n)
	for i := 0; i < n; i++ {
		args := []string{"worker", "--nats", c.URL, "--threads", strconv.Itoa(threads), "--name", fmt.Sprintf("local-%d", i+1)}
		if c.opts.JobTimeout > 0 {
			args = append(args, "--job-timeout", c.opts.JobTimeout.String())
		}
		for _, m := range family {
			args = append(args, "--family", m.Alias+"="+m.Dir)
		}
		args = append(args, c.opts.WorkerArgs...)
		cmd, err := WorkerCommand(args)
		if err != nil {
			return err
		}
		// The coordinator's crash-point hook (tests) is its own: a worker
		// writing its files would count its points too.
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
			return strings.HasPrefix(kv, atomicfile.CrashEnv+"=") || strings.HasPrefix(kv, TokenEnv+"=")
		})
		// The token by the environment (readable by this user only), never
		// on the command line.
		cmd.Env = append(cmd.Env, TokenEnv+"="+c.opts.Token)
		cmd.Stdout = io.Discard
		if c.opts.Log != nil {
			cmd.Stderr = c.opts.Log
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting worker %d: %w", i+1, err)
		}
		c.cmds = append(c.cmds, cmd)
		done := make(chan struct{})
		c.exited = append(c.exited, done)
		c.alive++
		go c.watch(i+1, cmd, done)
	}
	c.logf("dist: %d local workers, %d threads each", n, threads)
	return nil
}

// watch waits for local worker i to exit and says so; when none is left
// and no other worker has been heard for three heartbeats, the cluster is
// gone: its pools stop waiting (a search ends with the reason instead of
// waiting forever, and resumes later from its journal).
func (c *Cluster) watch(i int, cmd *exec.Cmd, done chan struct{}) {
	err := cmd.Wait()
	close(done)
	c.mu.Lock()
	c.alive--
	left, closing := c.alive, c.closing
	c.mu.Unlock()
	if closing {
		return
	}
	if err == nil {
		err = errors.New("exit status 0")
	}
	c.logf("dist: local worker %d exited (%v); %d left", i, err, left)
	if left > 0 {
		return
	}
	for {
		time.Sleep(time.Second)
		c.mu.Lock()
		closing = c.closing
		c.mu.Unlock()
		if closing {
			return
		}
		if len(c.Workers(3*2*time.Second)) == 0 {
			close(c.gone)
			return
		}
	}
}

// Pool opens run's pool on the cluster.
func (c *Cluster) Pool(ctx context.Context, s *session.Session, run string) (*Pool, error) {
	return OpenPool(ctx, c.NC, c.JS, s, run, PoolOptions{AckWait: c.opts.AckWait, Tries: c.opts.Tries, Log: c.opts.Log, Gone: c.gone, JobTimeout: c.opts.JobTimeout})
}

// Batch is the number of trials to keep in flight: the local workers, or
// (workers elsewhere) those of the family (Options.Fingerprint, when
// set) heard from within wait, at least 1 and at most MaxBatch.
func (c *Cluster) Batch(wait time.Duration) int {
	if c.opts.Workers > 0 {
		return c.opts.Workers
	}
	time.Sleep(wait)
	n := 0
	for _, h := range c.Workers(time.Minute) {
		if c.opts.Fingerprint == "" || h.Fingerprint == c.opts.Fingerprint {
			n++
		}
	}
	return min(max(1, n), MaxBatch)
}

// hear records a heartbeat; at MaxTrackedWorkers names the ones not heard
// for a minute are forgotten, and a new name beyond them is ignored.
func (c *Cluster) hear(h Heartbeat) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.heard[h.Name]; !ok && len(c.heard) >= MaxTrackedWorkers {
		for name, old := range c.heard {
			if time.Since(old.At) > time.Minute {
				delete(c.heard, name)
			}
		}
		if len(c.heard) >= MaxTrackedWorkers {
			return
		}
	}
	c.heard[h.Name] = h
}

// Workers are the workers heard from within the last `within`, by name.
func (c *Cluster) Workers(within time.Duration) []Heartbeat {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Heartbeat
	for _, h := range c.heard {
		if time.Since(h.At) <= within {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Close stops the local workers (an interrupt, then SIGKILL after 5 s),
// the connection and the embedded server.
func (c *Cluster) Close() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	var wg sync.WaitGroup
	for i, cmd := range c.cmds {
		cmd.Process.Signal(os.Interrupt)
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := c.exited[i]
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}()
	}
	wg.Wait()
	if c.sub != nil {
		c.sub.Unsubscribe()
	}
	if c.NC != nil {
		c.NC.Close()
	}
	if c.ns != nil {
		c.ns.Shutdown()
	}
}

// StorageDir is where a run's embedded server keeps its streams.
func StorageDir(runDir string) string { return filepath.Join(runDir, "nats") }
