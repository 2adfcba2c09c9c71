// Package openai is gptailor's OpenAI-compatible HTTP API: GET /v1/models,
// POST /v1/completions and POST /v1/chat/completions over every member of
// the family, every plan the server was given and every trial of every
// search run, without writing weights — each is built into an engine net
// on demand (a few kept, least recently used evicted) from the family's
// layer cache. Requests need the server's access token as
// "Authorization: Bearer TOKEN" and run through the server's job queue
// (per-client and global bounds, skipped or stopped when the client goes).
// Numbers are the engine's: echo log-probs are what eval scores, greedy
// completions are what `generate --temperature 0` prints. Errors have
// OpenAI's shape and status codes. Unknown request fields are ignored, as
// vLLM and llama.cpp's server do; parameters gptailor cannot honour
// (n > 1, penalties, logit_bias, suffix, best_of) are refused by name.
package openai

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/gptailor/gptailor/native/chattemplate"
	"github.com/gptailor/gptailor/native/session"
)

// Queue runs heavy work one job at a time with per-client and overall
// bounds (the server's job queue): Submit queues fn or says why not; a job
// whose ctx is done before it starts is skipped.
type Queue interface {
	Submit(ctx context.Context, client, what string, fn func(ctx context.Context)) error
}

// Config sets up the API.
type Config struct {
	Family *session.Family
	Token  string // the Bearer token every request needs
	Queue  Queue
	// Plans are plan files (JSON) served as models named by their base
	// name without the extension.
	Plans []string
	// RunsDir holds search runs; every trial is a model RUN/trial-N and
	// each run's winner RUN/best.
	RunsDir string
	// ChatTemplate is a chat template file for chat completions instead of
	// the base model's (for families without one).
	ChatTemplate string
	// MaxNets is how many built nets are kept (default 2): a member's or a
	// plan's net holds packed weights the layer cache may share.
	MaxNets int
	// MaxPrompts bounds the prompts of one completion request (default
	// 64) and MaxBody its bytes (default 8 MiB).
	MaxPrompts int
	MaxBody    int64
}

// API serves the endpoints.
type API struct {
	cfg    Config
	models *registry
	nets   *netCache
	batch  batcher

	tplOnce sync.Once
	tpl     *chattemplate.Template
	tplErr  error
}

// New checks the configuration and loads the plans.
func New(cfg Config) (*API, error) {
	if cfg.Family == nil || cfg.Queue == nil || cfg.Token == "" {
		return nil, errors.New("openai: a family, a queue and a token are needed")
	}
	if cfg.MaxNets <= 0 {
		cfg.MaxNets = 2
	}
	if cfg.MaxPrompts <= 0 {
		cfg.MaxPrompts = 64
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 8 << 20
	}
	reg, err := newRegistry(cfg.Family, cfg.Plans, cfg.RunsDir)
	if err != nil {
		return nil, err
	}
	return &API{cfg: cfg, models: reg, nets: newNetCache(cfg.Family, cfg.MaxNets)}, nil
}

// Handler serves /v1/models, /v1/completions and /v1/chat/completions.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/models", a.guard(http.MethodGet, a.listModels))
	mux.HandleFunc("/v1/models/", a.guard(http.MethodGet, a.getModel))
	mux.HandleFunc("/v1/completions", a.guard(http.MethodPost, a.completions))
	mux.HandleFunc("/v1/chat/completions", a.guard(http.MethodPost, a.chatCompletions))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r) {
			writeError(w, unauthorized())
			return
		}
		writeError(w, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("no endpoint %s %s: /v1/models, /v1/completions, /v1/chat/completions", r.Method, r.URL.Path), Type: "invalid_request_error"})
	})
	return mux
}

func unauthorized() *apiError {
	return &apiError{Status: http.StatusUnauthorized, Message: "missing or wrong API key: send the token `gptailor serve` printed as \"Authorization: Bearer TOKEN\"", Type: "invalid_request_error", Code: ptr("invalid_api_key")}
}

func (a *API) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(a.cfg.Token)) == 1
}

// guard checks the token and the method.
func (a *API) guard(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r) {
			writeError(w, unauthorized())
			return
		}
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method), Type: "invalid_request_error"})
			return
		}
		h(w, r)
	}
}

// readBody reads a request body of at most MaxBody bytes.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body over %d bytes", a.cfg.MaxBody), Type: "invalid_request_error"}
	}
	if err != nil {
		return nil, badParam("", "reading the request body: %v", err)
	}
	return b, nil
}

// clientOf names the client for the queue's per-client bound: its host.
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// run queues fn as the request's job and waits for it: a refusal is a
// 429; a client that goes before its job starts has it skipped, and one
// that goes while it runs has its context cancelled (fn returns soon
// after: decoding checks it every token). fn writes the response. run
// says whether the job was queued.
func (a *API) run(w http.ResponseWriter, r *http.Request, what string, fn func(ctx context.Context)) bool {
	ctx := r.Context()
	var mu sync.Mutex
	started, abandoned := false, false
	done := make(chan struct{})
	err := a.cfg.Queue.Submit(ctx, clientOf(r), what, func(jctx context.Context) {
		defer close(done)
		mu.Lock()
		if abandoned {
			mu.Unlock()
			return
		}
		started = true
		mu.Unlock()
		defer func() {
			// A bug in one request must not take the server down.
			if v := recover(); v != nil {
				writeError(w, internal(fmt.Errorf("internal error: %v", v)))
			}
		}()
		fn(jctx)
	})
	if err != nil {
		writeError(w, busy(err))
		return false
	}
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		if !started {
			abandoned = true // the queue skips it, or it returns at once
			mu.Unlock()
			return true
		}
		mu.Unlock()
		<-done
	}
	return true
}

// newID is a response id: prefix and 24 hex digits.
func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
