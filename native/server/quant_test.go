package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/protocol"
)

// A search request's quant field reaches the run through the session
// façade: search.json keeps it and the report names it; a value that is
// not a quantization is refused before anything starts, naming it; with
// serve --quant (the server session's Quant) a request that names none
// gets the server's.
func TestAppSearchQuant(t *testing.T) {
	runs := t.TempDir()
	s, ts := newServerWith(t, func(c *Config) { c.UIDir, c.RunsDir = testUI(t), runs })
	a, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	call(t, a, "h", protocol.Hello, nil)
	if e := call(t, a, "bad", protocol.SearchStart, map[string]any{"run": "bad", "remove": 1, "trials": 2, "quant": "q2_k"}); e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), `--quant \"q2_k\"`) {
		t.Errorf("quant q2_k: %s", e.Payload)
	}
	for _, c := range []struct{ run, ask, server, want string }{{"q8", "q8_0", "", "q8_0"}, {"served", "", "q4_0", "q4_0"}} {
		s.ses.Quant = c.server
		req := map[string]any{"run": c.run, "remove": 1, "trials": 3, "min_samples": 1, "max_samples": 3}
		if c.ask != "" {
			req["quant"] = c.ask
		}
		if e := call(t, a, "s-"+c.run, protocol.SearchStart, req); e.Type != protocol.SearchStatus {
			t.Fatalf("%s: start: %s", c.run, e.Payload)
		}
		waitFor(t, a, finished)
		spec, err := session.ReadSpec(filepath.Join(runs, c.run, "search.json"))
		if err != nil || spec.Quant != c.want {
			t.Errorf("%s: search.json quant %q (%v), want %q", c.run, spec.Quant, err, c.want)
		}
		report, _ := os.ReadFile(filepath.Join(runs, c.run, "report.md"))
		if !strings.Contains(string(report), "Weights: "+c.want) {
			t.Errorf("%s: report.md does not name %s:\n%s", c.run, c.want, report)
		}
	}
	s.ses.Quant = ""
}
