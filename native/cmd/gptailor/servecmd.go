package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/gptailor/gptailor/native/dist"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/runlock"
	"github.com/gptailor/gptailor/native/server"
	"github.com/gptailor/gptailor/native/session"
)

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fam memberFlags
	fs.Var(&fam, "family", "[alias=]DIR of a family model, the base first (repeatable)")
	addr := fs.String("addr", "127.0.0.1:8417", "listen address (loopback by default)")
	tasksPath := fs.String("tasks", "", "task list for evaluation and search in the app")
	ui := fs.String("ui", "ui", "directory of the browser app (built by build.sh)")
	var files dirList
	fs.Var(&files, "files", "a directory whose regular files the app may name (a repair's calibration text); repeatable; none: the app can name no file on this machine")
	runs := fs.String("runs", "runs", "directory of the search runs started from the app (each resumable with `gptailor search --resume --run DIR`)")
	cacheMB := fs.Int("cache-mb", -1, "memory for packed layers, source and merged alike (default 40% of the machine's memory, as search)")
	prefixMB := fs.Int("prefix-cache-mb", -1, "memory for activations shared between a search's candidates with common first slots (0: off; default a quarter of the machine's memory, as search)")
	distOpts := distFlags(fs)
	tokenFile := fs.String("token-file", "", "keep the access token in this file (created with a new token when missing), so a restarted server accepts the browser's URL and cookie")
	api := apiFlags(fs)
	quant := fs.String("quant", "none", "score the app's evaluations and its searches (those that do not name one) with the weights as a GGUF file of this type stores them: none, q8_0 or q4_0")
	remote := fs.Bool("allow-remote", false, "allow --addr to be a non-loopback address (every request still needs the token; prefer an SSH tunnel)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor serve --family base=DIR --family [alias=]DIR ... [--tasks FILE] [--addr 127.0.0.1:8417] [--plan FILE]... [--api-only]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := distOpts.Validate(); err != nil {
		return fail(stderr, "serve", err)
	}
	if len(fam) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	loop, err := loopbackAddr(*addr)
	if err != nil {
		return fail(stderr, "serve", err)
	}
	if !loop && !*remote {
		return fail(stderr, "serve", fmt.Errorf("--addr %s listens beyond this machine: pass --allow-remote to mean it (or use an SSH tunnel to 127.0.0.1)", *addr))
	}
	if !loop {
		fmt.Fprintf(stderr, "gptailor serve: WARNING: listening on %s, reachable from other machines; the access token is the only guard and travels unencrypted over HTTP\n", *addr)
	}
	if err := errors.Join(atLeast("--cache-mb", *cacheMB, -1), atLeast("--prefix-cache-mb", *prefixMB, -1)); err != nil {
		return fail(stderr, "serve", err)
	}
	// The same session a search opens: canonical paths, the caches' one
	// default, the cache-fits check; searches set the memory limit.
	ses, err := session.Open(fam, *tasksPath, session.CacheSizes(*cacheMB, *prefixMB))
	if err != nil {
		return fail(stderr, "serve", err)
	}
	f := ses.Family
	defer f.Close()
	if err := f.CheckQuant(*quant); err != nil {
		return fail(stderr, "serve", err)
	}
	if *quant != "none" {
		ses.Quant = *quant
	}
	cfg := server.Config{UIDir: *ui, Session: ses, TasksPath: *tasksPath, RunsDir: *runs, FileDirs: files}
	if *tokenFile != "" {
		if cfg.Token, err = server.TokenFromFile(*tokenFile); err != nil {
			return fail(stderr, "serve", err)
		}
	}
	if distOpts.Active() {
		distOpts.Dir, distOpts.Log, distOpts.Fingerprint = filepath.Join(*runs, "nats"), stderr, f.Fingerprint
		tokenFromEnv(&distOpts.Token)
		if distOpts.URL == "" { // one owner of the embedded server's store
			l, err := runlock.Acquire(distOpts.Dir, "gptailor serve (its NATS store)")
			if err != nil {
				return fail(stderr, "serve", err)
			}
			defer l.Release()
		}
		var members []model.Member
		for _, m := range f.Models {
			members = append(members, model.Member{Alias: m.Name, Dir: m.Dir})
		}
		c, err := dist.Start(context.Background(), members, *distOpts)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		defer c.Close()
		cfg.Cluster, cfg.Log = c, stderr
	}
	s, err := server.New(cfg)
	if err != nil {
		return fail(stderr, "serve", err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(stderr, "serve", err)
	}
	handler, err := api.mount(s, ses.Family, *runs)
	if err != nil {
		return fail(stderr, "serve", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if !api.only {
		fmt.Fprintf(stdout, "gptailor: serving %s\nopen http://%s/?token=%s\n", *ui, ln.Addr(), s.Token())
	}
	api.announce(stdout, ln.Addr().String(), s.Token())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(c)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fail(stderr, "serve", err)
	}
	return 0
}

// loopbackAddr says whether a listen address stays on this machine (the
// check --nats-listen uses too), naming the flag in its error.
func loopbackAddr(addr string) (bool, error) {
	loop, err := dist.Loopback(addr)
	if err != nil {
		return false, fmt.Errorf("--addr %w", err)
	}
	return loop, nil
}
