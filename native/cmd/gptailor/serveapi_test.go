package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// openaiNode holds the pinned official OpenAI client (npm ci there;
// .ci/run does).
var openaiNode = filepath.Join("..", "..", "openai", "testdata", "node")

func needOpenAINode(t *testing.T) {
	t.Helper()
	_, errNode := exec.LookPath("node")
	_, errMod := os.Stat(filepath.Join(openaiNode, "node_modules", "openai"))
	if errNode == nil && errMod == nil {
		return
	}
	msg := "the OpenAI client check needs node and `npm ci` in native/openai/testdata/node"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

var apiLine = regexp.MustCompile(`OpenAI-compatible API: (http://\S+/v1) \(Authorization: Bearer ([0-9a-f]+)\)`)

// The official OpenAI Node client against a real `serve --api-only` on
// loopback: models, a greedy completion (what `generate --temperature 0`
// prints), echo logprobs (the engine's), a streamed chat with logprobs
// (the same text as unstreamed), a trial of a search run served without a
// build, and errors as the client's typed exceptions.
func TestServeAPIWithOpenAIClient(t *testing.T) {
	needOpenAINode(t)
	runs := t.TempDir()
	var so, se bytes.Buffer
	search := append([]string{"search"}, demoFamilyArgs()...)
	search = append(search, "--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--trials", "2", "--min-budget", "1", "--max-budget", "1",
		"--compare=false", "--run", filepath.Join(runs, "r1"))
	if code := run(search, &so, &se); code != 0 {
		t.Fatalf("search: %d\n%s", code, se.String())
	}
	tpl := filepath.Join("..", "..", "chattemplate", "testdata", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja")
	args := append([]string{"serve", "--api-only", "--addr", "127.0.0.1:0", "--runs", runs, "--chat-template", tpl}, demoFamilyArgs()...)
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cliEnv+"="+string(raw))
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var m []string
	for deadline := time.Now().Add(60 * time.Second); m == nil; time.Sleep(50 * time.Millisecond) {
		if m = apiLine.FindStringSubmatch(stdout.String()); m == nil && time.Now().After(deadline) {
			t.Fatalf("serve printed no API address:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", "check.mjs", m[1], m[2], "r1/trial-0")
	node.Dir = openaiNode
	var nodeErr bytes.Buffer
	node.Stderr = &nodeErr
	got, err := node.Output()
	if err != nil {
		t.Fatalf("node check.mjs: %v\n%s\nserve: %s", err, nodeErr.String(), stderr.String())
	}
	var out struct {
		Models []struct {
			ID      string `json:"id"`
			OwnedBy string `json:"owned_by"`
		} `json:"models"`
		Completion struct {
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
		} `json:"completion"`
		Echo struct {
			Tokens        []string   `json:"tokens"`
			TokenLogprobs []*float64 `json:"token_logprobs"`
			TopLogprobs   []map[string]float64
		} `json:"echo"`
		ChatStream struct {
			Text     string `json:"text"`
			Chunks   int    `json:"chunks"`
			Logprobs []struct {
				Logprob     float64 `json:"logprob"`
				TopLogprobs []struct {
					Logprob float64 `json:"logprob"`
				} `json:"top_logprobs"`
			} `json:"logprobs"`
			FinishReason string `json:"finish_reason"`
		} `json:"chat_stream"`
		Chat struct {
			Text string `json:"text"`
			Role string `json:"role"`
		} `json:"chat"`
		Trial struct {
			Text string  `json:"text"`
			Ms   float64 `json:"ms"`
		} `json:"trial"`
		Errors []struct {
			What    string  `json:"what"`
			Status  int     `json:"status"`
			Class   string  `json:"class"`
			Message string  `json:"message"`
			Param   *string `json:"param"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(got, &out); err != nil {
		t.Fatalf("node output %s: %v", got, err)
	}
	var ids []string
	for _, m := range out.Models {
		ids = append(ids, m.ID+":"+m.OwnedBy)
	}
	if s := strings.Join(ids, ","); !strings.HasPrefix(s, "base:member,code:member,docs:member,math:member,r1/trial-0:trial,r1/trial-1:trial") || !strings.HasSuffix(s, "r1/best:trial") {
		t.Errorf("models %s", s)
	}

	// generate --temperature 0 on the same prompt.
	var gout, gerr bytes.Buffer
	if code := run([]string{"generate", "--model", filepath.Join(repoData, "stories260K-base"), "--prompt", "Once upon a time", "--max-tokens", "24", "--temperature", "0", "--json"}, &gout, &gerr); code != 0 {
		t.Fatalf("generate: %s", gerr.String())
	}
	var gen genResult
	json.Unmarshal(gout.Bytes(), &gen)
	if out.Completion.Text != gen.Text || out.Completion.FinishReason != "length" {
		t.Errorf("completion %q (%s); generate --temperature 0: %q", out.Completion.Text, out.Completion.FinishReason, gen.Text)
	}

	// Echo: the engine's log-probs of the prompt's tokens.
	dir := filepath.Join(repoData, "stories260K-code")
	mdl, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	net, err := engine.NewLoader().Net(mdl, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids2 := tok.Encode("Once upon a time", true)
	lps, err := net.LogProbs([][]int{ids2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Echo.TokenLogprobs) != len(ids2) || out.Echo.TokenLogprobs[0] != nil {
		t.Fatalf("echo: %+v for %d tokens", out.Echo, len(ids2))
	}
	for i, v := range out.Echo.TokenLogprobs[1:] {
		if math.Abs(*v-lps[0][i]) > 1e-5 {
			t.Errorf("echo token %d: %g, engine %g", i+1, *v, lps[0][i])
		}
	}

	// The streamed chat is the unstreamed one, token by token.
	cs := out.ChatStream
	if cs.Text != out.Chat.Text || out.Chat.Role != "assistant" || cs.Text == "" || cs.Chunks < 3 || cs.FinishReason == "" {
		t.Errorf("streamed chat %+v; unstreamed %+v", cs, out.Chat)
	}
	for i, l := range cs.Logprobs {
		if len(l.TopLogprobs) != 2 || l.TopLogprobs[0].Logprob != l.Logprob {
			t.Errorf("chat token %d (greedy): %+v", i, l)
		}
	}
	if out.Trial.Text == "" {
		t.Errorf("trial r1/trial-0 completed %q", out.Trial.Text)
	}
	t.Logf("a trial's first completion over the API (net built from the layer cache, 8 tokens): %.1f ms", out.Trial.Ms)

	want := map[string]struct {
		status int
		class  string
		param  string
	}{
		"unknown model": {404, "NotFoundError", "model"},
		"n":             {400, "BadRequestError", "n"},
		"logprobs":      {400, "BadRequestError", "logprobs"},
		"token":         {401, "AuthenticationError", ""},
	}
	for _, e := range out.Errors {
		w := want[e.What]
		param := ""
		if e.Param != nil {
			param = *e.Param
		}
		if e.Status != w.status || e.Class != w.class || param != w.param || e.Message == "" {
			t.Errorf("%s: %+v, want %+v", e.What, e, w)
		}
	}
	if len(out.Errors) != len(want) {
		t.Errorf("%d errors seen", len(out.Errors))
	}
}
