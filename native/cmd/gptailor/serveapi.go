package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/gptailor/gptailor/native/openai"
	"github.com/gptailor/gptailor/native/server"
	"github.com/gptailor/gptailor/native/session"
)

// serveAPI are serve's flags for the OpenAI-compatible API.
type serveAPI struct {
	plans        stringList
	only         bool
	chatTemplate string
	nets         int
}

func apiFlags(fs *flag.FlagSet) *serveAPI {
	a := &serveAPI{}
	fs.Var(&a.plans, "plan", "a plan file (JSON) served over the OpenAI-compatible API as a model named by the file's base name (repeatable)")
	fs.BoolVar(&a.only, "api-only", false, "serve only the OpenAI-compatible API under /v1 (no browser app): a headless server for harnesses and clients")
	fs.StringVar(&a.chatTemplate, "chat-template", "", "chat template file for /v1/chat/completions (default: the base model's)")
	fs.IntVar(&a.nets, "api-nets", 2, "built nets the API keeps (members, plans, trials; least recently used evicted)")
	return a
}

// mount serves the API under /v1 beside the app (or alone with
// --api-only), its requests in the server's job queue, behind its token.
func (a *serveAPI) mount(s *server.Server, f *session.Family, runs string) (http.Handler, error) {
	if a.nets < 1 {
		return nil, fmt.Errorf("--api-nets %d: at least 1", a.nets)
	}
	api, err := openai.New(openai.Config{Family: f, Token: s.Token(), Queue: s, Plans: a.plans, RunsDir: runs, ChatTemplate: a.chatTemplate, MaxNets: a.nets})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", api.Handler())
	if !a.only {
		mux.Handle("/", s.Handler())
	}
	return mux, nil
}

func (a *serveAPI) announce(w io.Writer, addr, token string) {
	fmt.Fprintf(w, "OpenAI-compatible API: http://%s/v1 (Authorization: Bearer %s)\n", addr, token)
}
