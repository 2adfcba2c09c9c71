// Package dist spreads a search's evaluations over worker processes —
// on this machine or on many — through NATS JetStream: a work-queue
// stream holds the jobs, a key-value bucket the results (one per run and
// job, written once), an object store the task files, and workers pull,
// evaluate through package session and publish. A worker that dies leaves
// its job to be redelivered after the ack wait; a job that fails every
// delivery becomes a failed trial with its reason. The NATS server is
// embedded (StartServer) unless the user points at one.
package dist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names on the NATS server.
const (
	JobsStream    = "GPTAILOR_JOBS"    // work queue: subjects gptailor.jobs.<run>
	JobsSubject   = "gptailor.jobs"    // + "." + family fingerprint + "." + run (Subject)
	Consumer      = "workers"          // + "-" + fingerprint: the durable pull consumer a family's workers share (ConsumerFor)
	ResultsBucket = "gptailor_results" // key <run>.<job id>
	RunsBucket    = "gptailor_runs"    // key <run>: the run's manifest
	FilesBucket   = "gptailor_files"   // object store: task files by content hash
	HeartbeatSubj = "gptailor.workers" // + "." + worker name
	NoticeSubject = "gptailor.notice"  // + "." + run: refusals and failures for the coordinator
)

// ServerOptions configure an embedded NATS server.
type ServerOptions struct {
	Dir    string // JetStream storage (e.g. the run directory's nats/)
	Listen string // host:port; "" = 127.0.0.1 on a random port
	Token  string // clients must present it (required off loopback)
}

// Loopback says whether a listen address stays on this machine.
func Loopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%s: %w", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// checkListen refuses a listen address off this machine without a token.
func checkListen(addr, token string) error {
	loop, err := Loopback(addr)
	if err != nil {
		return fmt.Errorf("--nats-listen %w", err)
	}
	if !loop && token == "" {
		return fmt.Errorf("--nats-listen %s is reachable from other machines: give workers a secret with --nats-token-file or "+TokenEnv+" (or listen on 127.0.0.1 and tunnel)", addr)
	}
	return nil
}

// StartServer starts an embedded NATS server with JetStream and returns it
// with the URL clients connect to.
func StartServer(o ServerOptions) (*server.Server, string, error) {
	host, port := "127.0.0.1", -1
	if o.Listen != "" {
		if err := checkListen(o.Listen, o.Token); err != nil {
			return nil, "", err
		}
		h, p, _ := net.SplitHostPort(o.Listen)
		var err error
		if port, err = strconv.Atoi(p); err != nil {
			return nil, "", fmt.Errorf("--nats-listen %s: port %q", o.Listen, p)
		}
		host = h
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, "", err
	}
	ns, err := server.NewServer(&server.Options{ServerName: "gptailor", Host: host, Port: port, JetStream: true, StoreDir: o.Dir,
		Authorization: o.Token, NoLog: true, NoSigs: true, MaxPayload: 8 << 20})
	if err != nil {
		return nil, "", fmt.Errorf("embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		ns.Shutdown()
		return nil, "", fmt.Errorf("embedded NATS server on %s:%d did not start (port in use?)", host, port)
	}
	return ns, ns.ClientURL(), nil
}

// ConnectOptions are how a client reaches a NATS server.
type ConnectOptions struct {
	Name  string
	Creds string // a .creds file (JWT + NKey)
	TLSCA string // a CA certificate to verify the server's TLS with
	Token string
	// ReconnectWait between attempts; reconnecting never gives up.
	ReconnectWait time.Duration
}

// Connect reaches a NATS server with JetStream, failing with a clear
// reason when it is unreachable, refuses the credentials, or has no
// JetStream.
func Connect(ctx context.Context, url string, o ConnectOptions) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.Name(o.Name), nats.MaxReconnects(-1), nats.Timeout(5 * time.Second)}
	if o.ReconnectWait > 0 {
		opts = append(opts, nats.ReconnectWait(o.ReconnectWait))
	}
	if o.Creds != "" {
		if _, err := os.Stat(o.Creds); err != nil {
			return nil, nil, fmt.Errorf("--nats-creds: %w", err)
		}
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.TLSCA != "" {
		if _, err := os.Stat(o.TLSCA); err != nil {
			return nil, nil, fmt.Errorf("--nats-tls-ca: %w", err)
		}
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		switch {
		case errors.Is(err, nats.ErrAuthorization):
			return nil, nil, fmt.Errorf("NATS server %s refused the credentials: %w", url, err)
		case errors.Is(err, nats.ErrNoServers):
			return nil, nil, fmt.Errorf("no NATS server answers at %s: %w", url, err)
		}
		return nil, nil, fmt.Errorf("connecting to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(c); err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, nil, fmt.Errorf("the NATS server at %s has JetStream disabled: start it with -js (gptailor needs its work queue and key-value store)", url)
		}
		return nil, nil, fmt.Errorf("NATS server %s: JetStream: %w", url, err)
	}
	return nc, js, nil
}
