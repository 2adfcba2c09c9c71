package openai

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gptailor/gptailor/native/chattemplate"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/generate"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/server"
	"github.com/gptailor/gptailor/native/session"
)

// cliNet loads a member as `generate --model DIR` does (its own loader,
// not the family's cache).
func cliNet(t *testing.T, alias string) (*engine.Net, []int) {
	t.Helper()
	dir := filepath.Join(repoData, "stories260K-"+alias)
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	net, err := engine.NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return net, nil
}

func greedy(t *testing.T, f *fixture, net *engine.Net, prompts [][]int, maxTok int, stop []string) []generate.Result {
	t.Helper()
	eos, err := generate.EOSIDs(f.fam.Base().Dir, net.Cfg, f.fam.Tok)
	if err != nil {
		t.Fatal(err)
	}
	g := &generate.Generator{Net: net, Tok: f.fam.Tok}
	res, err := g.Run(context.Background(), prompts, generate.Options{MaxTokens: maxTok, Stop: stop, EOS: eos}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// lm-eval's local-completions, transcribed (lm_eval/models/
// openai_completions.py): parse_logprobs sums token_logprobs[ctxlen:-1]
// and calls the continuation greedy when each of its tokens' log-prob is
// the largest of its top_logprobs; parse_generations puts choices[].text
// at their index.
func lmevalParseLogprobs(out completion, ctxlens []int) (sums []float64, greedy []bool) {
	for i, ch := range out.Choices {
		lp := ch.Logprobs
		s, g := 0.0, true
		toks := lp.TokenLogprobs[ctxlens[i] : len(lp.TokenLogprobs)-1]
		tops := lp.TopLogprobs[ctxlens[i] : len(lp.TopLogprobs)-1]
		for k, v := range toks {
			s += *v
			best := math.Inf(-1)
			for _, x := range tops[k] {
				best = max(best, x)
			}
			if *v != best {
				g = false
			}
		}
		sums, greedy = append(sums, s), append(greedy, g)
	}
	return sums, greedy
}

func lmevalParseGenerations(out completion) []string {
	res := make([]string, len(out.Choices))
	for _, ch := range out.Choices {
		res[ch.Index] = ch.Text
	}
	return res
}

// The request bodies lm-eval's local-completions sends for loglikelihood
// (its _create_payload with generate=False), loglikelihood_rolling (the
// same over rolling windows: the prefix token, then the text) and
// generate_until (tokenized and text prompts), replayed; lm-eval's own
// parsing must get the engine's numbers out.
func TestLMEvalLocalCompletionsReplay(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.fam.Tok
	net, _ := cliNet(t, "code")
	pairs := [][2]string{{"Once upon a time, there was", " a little girl"}, {"def add(a, b):\n", "    return a + b"}}
	var inputs [][]int
	var ctxlens []int
	for _, p := range pairs {
		ctx := tok.Encode(p[0], true)
		cont := tok.Encode(p[0]+p[1], true)[len(ctx):]
		inputs = append(inputs, append(append([]int{}, ctx...), cont...))
		ctxlens = append(ctxlens, len(ctx))
	}
	body := map[string]any{"model": "code", "prompt": inputs, "temperature": 0, "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": true}
	var out completion
	if code := f.post(t, "/v1/completions", body, &out); code != 200 {
		t.Fatalf("loglikelihood: %d %+v", code, out.Error)
	}
	sums, greedyOK := lmevalParseLogprobs(out, ctxlens)
	lps, err := net.LogProbs(inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		want, isGreedy := 0.0, true
		for k := ctxlens[i]; k < len(in); k++ {
			want += lps[i][k-1]
			logits, err := net.Logits(in[:k])
			if err != nil {
				t.Fatal(err)
			}
			if engine.Argmax(logits) != in[k] {
				isGreedy = false
			}
		}
		if math.Abs(sums[i]-want) > 1e-5 || greedyOK[i] != isGreedy {
			t.Errorf("loglikelihood %d: lm-eval reads (%.6f, %v), engine (%.6f, %v)", i, sums[i], greedyOK[i], want, isGreedy)
		}
	}
	// A greedy continuation is read as greedy.
	// A greedy continuation (argmax of the full forward pass, as
	// scoring sees it) is read as greedy.
	in := tok.Encode("Once upon a time", true)
	ctxlen := len(in)
	for range 6 {
		logits, err := net.Logits(in)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, engine.Argmax(logits))
	}
	f.post(t, "/v1/completions", map[string]any{"model": "code", "prompt": [][]int{in}, "temperature": 0, "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": true}, &out)
	if _, gr := lmevalParseLogprobs(out, []int{ctxlen}); !gr[0] {
		t.Errorf("the model's own greedy continuation %v is not read as greedy", in[ctxlen:])
	}

	// loglikelihood_rolling: one window (the text is short), the prefix
	// token (EOS: lm-eval's prefix_token_id for a model without a BOS
	// override) then the text; context length 1.
	text := tok.Encode("The cat sat on the mat. It was happy.", false)
	window := append([]int{tok.EOS}, text...)
	f.post(t, "/v1/completions", map[string]any{"model": "code", "prompt": [][]int{window}, "temperature": 0, "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": true}, &out)
	rs, _ := lmevalParseLogprobs(out, []int{1})
	wl, _ := net.LogProbs([][]int{window})
	want := 0.0
	for _, v := range wl[0] {
		want += v
	}
	if math.Abs(rs[0]-want) > 1e-5 {
		t.Errorf("loglikelihood_rolling: lm-eval reads %.6f, engine %.6f", rs[0], want)
	}

	// generate_until: text prompts and tokenized ones; stop is the task's
	// until plus the EOS text (handle_stop_sequences).
	ctxs := []string{"Once upon a time", "Lily liked to"}
	stop := []string{"\n\n", ".", "</s>"}
	for _, tokenized := range []bool{false, true} {
		var prompt any = ctxs
		var ids [][]int
		for _, c := range ctxs {
			ids = append(ids, tok.Encode(c, true))
		}
		if tokenized {
			prompt = ids
		}
		body := map[string]any{"prompt": prompt, "model": "code", "max_tokens": 40, "temperature": 0, "stop": stop, "seed": 1234}
		if code := f.post(t, "/v1/completions", body, &out); code != 200 {
			t.Fatalf("generate_until: %d %+v", code, out.Error)
		}
		got := lmevalParseGenerations(out)
		want := greedy(t, f, net, ids, 40, stop)
		for i := range ctxs {
			if got[i] != want[i].Text {
				t.Errorf("generate_until (tokenized %v) %d: %q, generate: %q", tokenized, i, got[i], want[i].Text)
			}
		}
	}
}

// A greedy completion is what generate prints with --temperature 0, for
// a member and for a plan, and streamed it is the same text.
func TestGreedyCompletionIsGenerates(t *testing.T) {
	f := newFixture(t, nil)
	prompts := []string{"Once upon a time", "The dog"}
	net, _ := cliNet(t, "base")
	var ids [][]int
	for _, p := range prompts {
		ids = append(ids, f.fam.Tok.Encode(p, true))
	}
	want := greedy(t, f, net, ids, 24, nil)
	var out completion
	if code := f.post(t, "/v1/completions", map[string]any{"model": "base", "prompt": prompts, "max_tokens": 24, "temperature": 0}, &out); code != 200 {
		t.Fatalf("%d %+v", code, out.Error)
	}
	for i, ch := range out.Choices {
		if ch.Text != want[i].Text || ch.FinishReason != "length" {
			t.Errorf("prompt %d: %q (%s), generate: %q", i, ch.Text, ch.FinishReason, want[i].Text)
		}
	}
	if out.Usage.PromptTokens != len(ids[0])+len(ids[1]) || out.Usage.CompletionTokens != 48 {
		t.Errorf("usage %+v", out.Usage)
	}
	// The plan drop-3 over the API and built from its file as generate
	// --plan builds it.
	e, _ := f.api.models.resolve("drop-3")
	pnet, err := f.fam.Builder.Net(e.target.Plan)
	if err != nil {
		t.Fatal(err)
	}
	wantPlan := greedy(t, f, pnet, ids[:1], 24, nil)
	f.post(t, "/v1/completions", map[string]any{"model": "drop-3", "prompt": prompts[0], "max_tokens": 24, "temperature": 0}, &out)
	if out.Choices[0].Text != wantPlan[0].Text {
		t.Errorf("drop-3: %q, generate: %q", out.Choices[0].Text, wantPlan[0].Text)
	}
	// Streamed.
	text, events, done := f.stream(t, "/v1/completions", map[string]any{"model": "base", "prompt": prompts[0], "max_tokens": 24, "temperature": 0, "stream": true, "logprobs": 2})
	if text != want[0].Text || !done || events < 3 {
		t.Errorf("streamed %q in %d events (done %v), want %q", text, events, done, want[0].Text)
	}
}

// stream posts a streaming request and returns the concatenated text,
// the number of events and whether [DONE] ended it.
func (f *fixture) stream(t *testing.T, path string, body any) (string, int, bool) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var text strings.Builder
	n, done := 0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			done = true
			continue
		}
		n++
		var ev struct {
			Choices []struct {
				Text  string `json:"text"`
				Delta *struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		for _, c := range ev.Choices {
			text.WriteString(c.Text)
			if c.Delta != nil {
				text.WriteString(c.Delta.Content)
			}
		}
	}
	return text.String(), n, done
}

// Bad input: each a clear error in OpenAI's shape with its status and
// the parameter named; the server keeps serving.
func TestBadRequests(t *testing.T) {
	f := newFixture(t, nil)
	thousand := make([]string, 1000)
	for i := range thousand {
		thousand[i] = "x"
	}
	long := strings.Repeat("Once upon a time ", 200)
	cases := []struct {
		path   string
		body   any
		status int
		param  string
		says   string
	}{
		{"/v1/completions", `{"model": "base", "prompt": "x"`, 400, "", "malformed JSON"},
		{"/v1/completions", ``, 400, "", "empty"},
		{"/v1/completions", map[string]any{"model": "nope", "prompt": "x"}, 404, "model", "not a family member"},
		{"/v1/completions", map[string]any{"model": "gone/trial-3", "prompt": "x"}, 404, "model", "no run gone"},
		{"/v1/completions", map[string]any{"prompt": "x"}, 400, "model", "required"},
		{"/v1/completions", map[string]any{"model": "base"}, 400, "prompt", "required"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "max_tokens": -1}, 400, "max_tokens", "0 or more"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "max_tokens": 600}, 400, "max_tokens", "exceed the model's context of 512"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": long, "max_tokens": 0, "echo": true}, 400, "prompt", "exceed the model's context"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "logprobs": 21}, 400, "logprobs", "between 0 and 20"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "n": 2}, 400, "n", "only 1"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": thousand}, 400, "prompt", "1000 prompts, at most 64"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": []int{1, 600}}, 400, "prompt", "id 600 outside the vocabulary of 512"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": []any{"a", []int{1}}}, 400, "prompt", "mixes kinds"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "temperature": 3}, 400, "temperature", "between 0"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "top_p": 0}, 400, "top_p", "(0, 1]"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "stop": []string{""}}, 400, "stop", "empty"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "max_tokens": "many"}, 400, "max_tokens", "want int"},
		{"/v1/completions", map[string]any{"model": "base", "prompt": "x", "presence_penalty": 0.5}, 400, "presence_penalty", "not supported"},
		{"/v1/chat/completions", map[string]any{"model": "base", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}, 400, "messages", "chat template"},
		{"/v1/chat/completions", map[string]any{"model": "base", "messages": "hi"}, 400, "messages", "list"},
		{"/v1/nothing", map[string]any{}, 404, "", "no endpoint"},
	}
	for _, c := range cases {
		var out completion
		code := f.post(t, c.path, c.body, &out)
		if code != c.status || out.Error == nil || !strings.Contains(out.Error.Message, c.says) {
			t.Errorf("%s %v: %d %+v; want %d saying %q", c.path, c.body, code, out.Error, c.status, c.says)
			continue
		}
		param := ""
		if out.Error.Param != nil {
			param = *out.Error.Param
		}
		if param != c.param {
			t.Errorf("%s %v: param %q, want %q", c.path, c.body, param, c.param)
		}
	}
	// No token, or a wrong one: 401.
	for _, h := range []string{"", "Bearer wrong", "secret"} {
		req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/v1/models", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out completion
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 401 || out.Error == nil || *out.Error.Code != "invalid_api_key" {
			t.Errorf("Authorization %q: %d %+v", h, resp.StatusCode, out.Error)
		}
	}
	var out completion
	if code := f.post(t, "/v1/completions", map[string]any{"model": "base", "prompt": "x", "max_tokens": 2}, &out); code != 200 {
		t.Errorf("after the bad requests: %d %+v", code, out.Error)
	}
}

// The job queue's bounds: a client with MaxJobsPerClient requests
// queued or running gets 429; a streaming client that goes stops its
// decoding and the next request is served.
func TestQueueBoundsAndVanishingStreams(t *testing.T) {
	f := newFixture(t, func(_ *Config, s *server.Config) { s.MaxJobsPerClient = 2 })
	release := make(chan struct{})
	started := make(chan struct{})
	for i := 0; i < 2; i++ {
		if err := f.srv.Submit(context.Background(), "127.0.0.1", "hold", func(context.Context) { started <- struct{}{}; <-release }); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	var out completion
	if code := f.post(t, "/v1/completions", map[string]any{"model": "base", "prompt": "x"}, &out); code != 429 || out.Error.Type != "rate_limit_error" || !strings.Contains(out.Error.Message, "limit 2") {
		t.Errorf("a full queue: %d %+v", code, out.Error)
	}
	close(release)
	<-started

	// A stream read for one event, then dropped.
	b, _ := json.Marshal(map[string]any{"model": "base", "prompt": "Once", "max_tokens": 500, "stream": true, "stop": []string{"never-said"}})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.ts.URL+"/v1/completions", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(resp.Body).ReadString('\n')
	cancel()
	resp.Body.Close()
	start := time.Now()
	if code := f.post(t, "/v1/completions", map[string]any{"model": "base", "prompt": "x", "max_tokens": 1}, &out); code != 200 {
		t.Errorf("after a dropped stream: %d %+v", code, out.Error)
	}
	t.Logf("next request served %v after the stream was dropped", time.Since(start))
}

// Trials of a run are models: RUN/trial-N and RUN/best build the trial's
// plan (here drop-3's: the same numbers as the plan file); a run that is
// gone is a 404.
func TestTrialsAreModels(t *testing.T) {
	f := newFixture(t, nil)
	dir := filepath.Join(f.runs, "r1")
	os.MkdirAll(dir, 0o755)
	var members []model.Member
	for _, m := range f.fam.Models {
		members = append(members, model.Member{Alias: m.Name, Dir: m.Dir})
	}
	st := session.DefaultSettings()
	if err := session.WriteSpec(filepath.Join(dir, "search.json"), session.RunSpec{Family: members, Remove: 1, Tasks: "t.yaml", Settings: st}); err != nil {
		t.Fatal(err)
	}
	journal, _ := search.RunDir(dir)
	j, _, err := search.OpenJournal(journal, true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(removed int) *search.Config {
		c := &search.Config{Removed: make([]bool, 5), Subset: make([]uint32, 5), Lambda: make([]float64, 5)}
		c.Removed[removed] = true
		return c
	}
	j.Append(search.Trial{Index: 0, Budget: 3, Config: cfg(1), Objective: 0.5, Retention: []float64{0.5}})
	j.Append(search.Trial{Index: 1, Budget: 3, Config: cfg(3), Objective: 0.9, Retention: []float64{0.9}})
	j.Close()
	var list struct {
		Data []Model `json:"data"`
	}
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		if m.ID == "r1/best" && (m.Meta.Trial == nil || *m.Meta.Trial != 1 || *m.Meta.Objective != 0.9 || m.OwnedBy != "trial") {
			t.Errorf("r1/best: %+v", m)
		}
	}
	if got := strings.Join(ids, ","); !strings.HasSuffix(got, "ta-drop-4,r1/trial-0,r1/trial-1,r1/best") {
		t.Errorf("models %s", got)
	}
	prompt := f.fam.Tok.Encode("Once upon a time there was a cat", true)
	logprobs := func(model string) []*float64 {
		var out completion
		if code := f.post(t, "/v1/completions", map[string]any{"model": model, "prompt": prompt, "max_tokens": 0, "echo": true, "logprobs": 0}, &out); code != 200 {
			t.Fatalf("%s: %d %+v", model, code, out.Error)
		}
		return out.Choices[0].Logprobs.TokenLogprobs
	}
	plan, best, other := logprobs("drop-3"), logprobs("r1/best"), logprobs("r1/trial-0")
	same := true
	for i := 1; i < len(plan); i++ {
		if *plan[i] != *best[i] {
			t.Errorf("token %d: r1/best %g, drop-3 %g", i, *best[i], *plan[i])
		}
		same = same && *plan[i] == *other[i]
	}
	if same {
		t.Error("r1/trial-0 (layer 1 removed) scores as drop-3")
	}
	for id, says := range map[string]string{"r1/trial-7": "no trial 7", "r2/best": "no run r2", "r1/x": "r1/trial-N"} {
		var out completion
		if code := f.post(t, "/v1/completions", map[string]any{"model": id, "prompt": "x"}, &out); code != 404 || !strings.Contains(out.Error.Message, says) {
			t.Errorf("%s: %d %+v", id, code, out.Error)
		}
	}
	os.RemoveAll(dir)
	var out completion
	if code := f.post(t, "/v1/completions", map[string]any{"model": "r1/best", "prompt": "x"}, &out); code != 404 {
		t.Errorf("a run that is gone: %d", code)
	}
}

// Chat completions render the messages (and tools) with the chat template
// and decode what generate decodes for the rendered text.
func TestChatCompletion(t *testing.T) {
	tplPath := filepath.Join("..", "chattemplate", "testdata", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja")
	f := newFixture(t, func(c *Config, _ *server.Config) { c.ChatTemplate = tplPath })
	src, err := os.ReadFile(tplPath)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := chattemplate.Parse(tplPath, string(src))
	if err != nil {
		t.Fatal(err)
	}
	tools := `[{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]`
	msgs := `[{"role": "system", "content": "Tell stories."}, {"role": "user", "content": "Once upon a time"}]`
	for _, withTools := range []bool{false, true} {
		doc := `{"messages": ` + msgs
		body := `{"model": "base", "temperature": 0, "max_tokens": 20, "logprobs": true, "top_logprobs": 2, "messages": ` + msgs
		if withTools {
			doc += `, "tools": ` + tools
			body += `, "tools": ` + tools
		}
		conv, err := chattemplate.ParseConversation([]byte(doc + "}"))
		if err != nil {
			t.Fatal(err)
		}
		text, err := tpl.Apply(conv, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, "get_weather") != withTools {
			t.Fatalf("tools %v: rendered %q", withTools, text)
		}
		ids := f.fam.Tok.Encode(text, false)
		net, _ := cliNet(t, "base")
		want := greedy(t, f, net, [][]int{ids}, 20, nil)[0]
		var out struct {
			Object  string `json:"object"`
			Choices []struct {
				Message struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"message"`
				Logprobs struct {
					Content []struct {
						Token       string  `json:"token"`
						Logprob     float64 `json:"logprob"`
						TopLogprobs []struct {
							Logprob float64 `json:"logprob"`
						} `json:"top_logprobs"`
					} `json:"content"`
				} `json:"logprobs"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage usage `json:"usage"`
		}
		if code := f.post(t, "/v1/chat/completions", body+"}", &out); code != 200 {
			t.Fatalf("chat: %d", code)
		}
		ch := out.Choices[0]
		if out.Object != "chat.completion" || ch.Message.Role != "assistant" || ch.Message.Content != want.Text || out.Usage.PromptTokens != len(ids) {
			t.Errorf("tools %v: %+v; want %q after %d prompt tokens", withTools, out, want.Text, len(ids))
		}
		if len(ch.Logprobs.Content) != len(want.Tokens) {
			t.Fatalf("%d logprobs for %d tokens", len(ch.Logprobs.Content), len(want.Tokens))
		}
		for i, c := range ch.Logprobs.Content {
			if len(c.TopLogprobs) != 2 || c.TopLogprobs[0].Logprob != c.Logprob { // greedy: the token is the likeliest
				t.Errorf("token %d: %+v", i, c)
			}
		}
		streamed, _, done := f.stream(t, "/v1/chat/completions", json.RawMessage(strings.Replace(body, `"model"`, `"stream": true, "model"`, 1)+"}"))
		if streamed != want.Text || !done {
			t.Errorf("streamed chat %q (done %v), want %q", streamed, done, want.Text)
		}
	}
}
