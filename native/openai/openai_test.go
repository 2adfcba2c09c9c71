package openai

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/server"
	"github.com/gptailor/gptailor/native/session"
)

const repoData = "../../testdata"

// golden is testdata/golden: windows and PyTorch's per-window mean NLL.
type golden struct {
	Windows map[string][][]int              `json:"windows"`
	NLL     map[string]map[string][]float64 `json:"nll"`
}

type goldenPlans struct {
	Plans []struct {
		Name  string                     `json:"name"`
		Slots json.RawMessage            `json:"slots"`
		NLL   map[string][]float64       `json:"nll"`
		Extra map[string]json.RawMessage `json:"-"`
	} `json:"plans"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type fixture struct {
	api  *API
	srv  *server.Server
	ts   *httptest.Server
	fam  *session.Family
	runs string
}

func demoFamily(t *testing.T) *session.Family {
	t.Helper()
	var ms []model.Member
	for _, a := range []string{"base", "code", "docs", "math"} {
		ms = append(ms, model.Member{Alias: a, Dir: filepath.Join(repoData, "stories260K-"+a)})
	}
	f, err := session.OpenFamily(ms, session.FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// newFixture serves the API over the demo family with the golden plans
// drop-3 and ta-drop-4 as --plan files, through the server's job queue.
func newFixture(t *testing.T, edit func(*Config, *server.Config)) *fixture {
	t.Helper()
	f := demoFamily(t)
	var gp goldenPlans
	readJSON(t, filepath.Join(repoData, "golden", "plans.json"), &gp)
	dir := t.TempDir()
	var plans []string
	for _, p := range gp.Plans {
		if p.Name != "drop-3" && p.Name != "ta-drop-4" {
			continue
		}
		path := filepath.Join(dir, p.Name+".json")
		os.WriteFile(path, []byte(`{"name": "`+p.Name+`", "slots": `+string(p.Slots)+`}`), 0o644)
		plans = append(plans, path)
	}
	scfg := server.Config{UIDir: t.TempDir(), Session: session.New(f, nil), Token: "secret", RunsDir: filepath.Join(dir, "runs")}
	cfg := Config{Family: f, Token: "secret", Plans: plans, RunsDir: scfg.RunsDir}
	if edit != nil {
		edit(&cfg, &scfg)
	}
	s, err := server.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg.Queue = s
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	return &fixture{api: a, srv: s, ts: ts, fam: f, runs: cfg.RunsDir}
}

// post sends a body and decodes the JSON answer into out; it returns
// the status.
func (f *fixture) post(t *testing.T, path string, body any, out any) int {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if c, ok := out.(*completion); ok {
		*c = completion{} // decoding into a used value merges maps
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v in %s", path, err, raw)
		}
	}
	return resp.StatusCode
}

// completion is the part of a completion response the tests read.
type completion struct {
	Choices []struct {
		Index    int    `json:"index"`
		Text     string `json:"text"`
		Logprobs *struct {
			Tokens        []string             `json:"tokens"`
			TokenLogprobs []*float64           `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
			TextOffset    []int                `json:"text_offset"`
		} `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// Echo scoring over the API: the per-window mean NLL PyTorch computed
// (testdata/golden, 2e-4) for members and plans, and each token's
// log-prob equal to the engine's scoring (what eval computes) to 1e-5.
func TestEchoLogprobsAreTheEnginesAndPyTorchs(t *testing.T) {
	f := newFixture(t, nil)
	var g golden
	readJSON(t, filepath.Join(repoData, "golden", "nll.json"), &g)
	var gp goldenPlans
	readJSON(t, filepath.Join(repoData, "golden", "plans.json"), &gp)
	want := map[string]map[string][]float64{"base": g.NLL["base"], "math": g.NLL["math"]}
	for _, p := range gp.Plans {
		if p.Name == "drop-3" || p.Name == "ta-drop-4" {
			want[p.Name] = p.NLL
		}
	}
	for model, byDomain := range want {
		e, err := f.api.models.resolve(model)
		if err != nil {
			t.Fatal(err)
		}
		net, err := f.fam.Net(e.target)
		if err != nil {
			t.Fatal(err)
		}
		for _, domain := range []string{"stories", "code"} {
			windows := g.Windows[domain][:3]
			var out completion
			if code := f.post(t, "/v1/completions", map[string]any{"model": model, "prompt": windows, "max_tokens": 0, "echo": true, "logprobs": 5}, &out); code != 200 {
				t.Fatalf("%s: status %d %+v", model, code, out.Error)
			}
			engine, err := net.LogProbs(windows)
			if err != nil {
				t.Fatal(err)
			}
			for w, ch := range out.Choices {
				lp := ch.Logprobs
				if len(lp.TokenLogprobs) != len(windows[w]) || lp.TokenLogprobs[0] != nil || lp.TopLogprobs[0] != nil {
					t.Fatalf("%s %s window %d: %d log-probs for %d tokens, first %v", model, domain, w, len(lp.TokenLogprobs), len(windows[w]), lp.TokenLogprobs[0])
				}
				sum := 0.0
				for i, v := range lp.TokenLogprobs[1:] {
					if d := math.Abs(*v - engine[w][i]); d > 1e-5 {
						t.Errorf("%s %s window %d token %d: API %.8f, engine %.8f", model, domain, w, i+1, *v, engine[w][i])
					}
					if top := lp.TopLogprobs[i+1]; len(top) == 0 || len(top) > 5 {
						t.Errorf("token %d: %d alternatives", i+1, len(top))
					} else {
						best := math.Inf(-1)
						for _, x := range top {
							best = max(best, x)
						}
						if *v > best+1e-12 {
							t.Errorf("token %d: log-prob %g above the best alternative %g", i+1, *v, best)
						}
					}
					sum += *v
				}
				nll := -sum / float64(len(windows[w])-1)
				if d := math.Abs(nll - byDomain[domain][w]); d > 2e-4 {
					t.Errorf("%s %s window %d: mean NLL %.6f over the API, PyTorch %.6f", model, domain, w, nll, byDomain[domain][w])
				}
			}
		}
	}
}

func TestModelsListsMembersPlansAndMeta(t *testing.T) {
	f := newFixture(t, nil)
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Object string  `json:"object"`
		Data   []Model `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	var ids []string
	byID := map[string]Model{}
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		byID[m.ID] = m
	}
	if list.Object != "list" || strings.Join(ids, ",") != "base,code,docs,math,drop-3,ta-drop-4" {
		t.Fatalf("models %v", ids)
	}
	base, cut := byID["base"], byID["drop-3"]
	if base.OwnedBy != "member" || cut.OwnedBy != "plan" || cut.Meta.Layers != 4 || base.Meta.Layers != 5 {
		t.Errorf("meta: %+v %+v", base, cut)
	}
	// One of five layers removed: the fraction is a layer's parameters
	// over the whole model's.
	fi := f.fam.Info()
	wantFrac := float64(fi.LayerParams) / float64(base.Meta.Params)
	if math.Abs(cut.Meta.FractionRemoved-wantFrac) > 1e-12 || cut.Meta.Params != base.Meta.Params-fi.LayerParams {
		t.Errorf("drop-3: params %d, removed %g; want %d, %g", cut.Meta.Params, cut.Meta.FractionRemoved, base.Meta.Params-fi.LayerParams, wantFrac)
	}
}
