package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// refuse is a queue that runs nothing: the fuzzer exercises parsing and
// validation, and every body that passes them ends as a 429.
type refuse struct{}

func (refuse) Submit(context.Context, string, string, func(context.Context)) error {
	return errors.New("fuzzing: nothing runs")
}

// FuzzRequestBodies: any body to either endpoint gets an answer in
// OpenAI's error shape (or reaches the queue), never a panic.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"model": "base", "prompt": "Once upon a time", "max_tokens": 4, "temperature": 0}`,
		`{"model": "base", "prompt": [[1, 2, 3], [1, 5]], "max_tokens": 1, "logprobs": 1, "echo": true, "seed": 1234, "temperature": 0}`,
		`{"model": "base", "prompt": [1, 2, 600], "stop": ["\n", "."]}`,
		`{"model": "base", "prompt": ["a", [1]], "n": 2}`,
		`{"model": "base", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "tools": [], "top_logprobs": 3, "logprobs": true}`,
		`{"model": "r/trial-x", "prompt": "x", "max_tokens": -3}`,
		`{"model": 5}`, `[]`, `null`, `{"prompt": "x"} {}`,
	} {
		f.Add(s)
	}
	fam := demoFamily(&testing.T{})
	a, err := New(Config{Family: fam, Token: "t", Queue: refuse{}, RunsDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	h := a.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/completions", "/v1/chat/completions"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer t")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			var e struct {
				Error *apiError `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == nil || e.Error.Message == "" {
				t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body.String())
			}
			if w.Code != 400 && w.Code != 404 && w.Code != 429 {
				t.Fatalf("%s %q: status %d %s", path, body, w.Code, w.Body.String())
			}
		}
	})
}
