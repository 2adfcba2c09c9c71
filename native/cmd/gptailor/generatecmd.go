package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/gptailor/gptailor/native/chattemplate"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/generate"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/sysmem"
	"github.com/gptailor/gptailor/native/tokenizer"
	"golang.org/x/term"
)

// genResult is what generate --json prints: one object per model and prompt.
type genResult struct {
	Model                 string  `json:"model"`
	Prompt                int     `json:"prompt"`
	Text                  string  `json:"text"`
	Tokens                []int   `json:"tokens"`
	PromptTokens          int     `json:"prompt_tokens"`
	FinishReason          string  `json:"finish_reason"`
	TokensPerSecond       float64 `json:"tokens_per_second"`
	PromptTokensPerSecond float64 `json:"prompt_tokens_per_second"`
	KVCacheBytes          int64   `json:"kv_cache_bytes"`
	Kernel                string  `json:"kernel"`
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// genFlags are generate's settings once parsed.
type genFlags struct {
	model, plan, prompt, prompts, system, template, compare, kv string
	fam                                                         memberFlags
	chat, asJSON                                                bool
	batch                                                       int
	opts                                                        generate.Options
}

func runGenerate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g genFlags
	var stops stringList
	fs.StringVar(&g.model, "model", "", "model directory (Hugging Face layout)")
	fs.StringVar(&g.plan, "plan", "", "layer plan (JSON) to generate with instead of a model")
	fs.Var(&g.fam, "family", "alias=DIR of a family model for --plan or --compare (repeatable)")
	fs.StringVar(&g.prompt, "prompt", "", "the prompt text")
	fs.StringVar(&g.prompts, "prompts", "", `JSONL file of prompts: {"prompt": TEXT} or {"messages": [...]} a line`)
	fs.BoolVar(&g.chat, "chat", false, "apply the model's chat template to --prompt (a user turn)")
	fs.StringVar(&g.system, "system", "", "with --chat: a system turn before the prompt")
	fs.StringVar(&g.template, "template", "", "with --chat or messages: a chat template file instead of the model's")
	fs.IntVar(&g.opts.MaxTokens, "max-tokens", 128, "tokens to generate at most per prompt")
	fs.Float64Var(&g.opts.Temperature, "temperature", 0, "sampling temperature (0: greedy)")
	fs.IntVar(&g.opts.TopK, "top-k", 0, "sample from the K most likely tokens (0: all)")
	fs.Float64Var(&g.opts.TopP, "top-p", 1, "sample from the smallest set of tokens whose probability reaches P, in (0, 1]")
	fs.Float64Var(&g.opts.MinP, "min-p", 0, "drop tokens less likely than P × the most likely one's probability")
	fs.Float64Var(&g.opts.RepeatPenalty, "repeat-penalty", 1, "divide the logits of tokens already seen by R (1: off)")
	fs.Uint64Var(&g.opts.Seed, "seed", 0, "random seed of sampling (the same seed gives the same text)")
	fs.Var(&stops, "stop", "stop string (repeatable): generation ends before it; it is not printed")
	fs.BoolVar(&g.opts.IgnoreEOS, "ignore-eos", false, "keep generating past end-of-sequence tokens")
	fs.BoolVar(&g.opts.TruncateLeft, "truncate-left", false, "cut a prompt from the left when prompt + --max-tokens exceed the context (default: refuse)")
	fs.StringVar(&g.kv, "kv", "f32", "KV cache precision: f32 or bf16 (half the memory)")
	fs.IntVar(&g.batch, "batch", 8, "prompts decoded together")
	compute := fs.String("compute", "", "f32 (default) or bf16 (bfloat16 products, on CPUs with avx512_bf16)")
	quant := fs.String("quant", "none", "generate with the weights as a GGUF file of this type stores them (build --format gguf --type): none, q8_0 or q4_0")
	fs.StringVar(&g.compare, "compare", "", "comma-separated family aliases, model directories or plans to run the same prompts on, side by side")
	fs.BoolVar(&g.asJSON, "json", false, "print one JSON object per prompt (and model), one a line")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor generate (--model DIR | --plan PLAN [--family alias=DIR]... | --compare A,B,...) (--prompt TEXT | --prompts FILE.jsonl) [--chat] [--system TEXT] [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] [--stop S]... [--compute f32|bf16] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sources := 0
	for _, s := range []string{g.model, g.plan, g.compare} {
		if s != "" {
			sources++
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if sources != 1 || (!set["prompt"] && g.prompts == "") || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	g.opts.Stop = stops
	if err := g.check(fs); err != nil {
		return fail(stderr, "generate", err)
	}
	q, err := parseQuant(*quant)
	if err != nil {
		return fail(stderr, "generate", err)
	}
	evalQuant = q
	if err := kernel.SetCompute(*compute); err != nil { // before any weight is packed
		return fail(stderr, "generate", err)
	}
	prompts, err := g.readPrompts()
	if err != nil {
		return fail(stderr, "generate", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if g.compare != "" {
		return g.runCompare(ctx, prompts, stdout, stderr)
	}
	name := g.model
	if g.plan != "" {
		name = g.plan
	}
	streamOut := !g.asJSON && len(prompts) == 1
	results, err := g.generate(ctx, name, g.model, g.plan, prompts, stdout, stderr, streamOut)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fail(stderr, "generate", err)
	}
	if g.asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range results {
			enc.Encode(r)
		}
	} else if !streamOut {
		for i, r := range results {
			fmt.Fprintf(stdout, "=== prompt %d (%s) ===\n%s\n", i+1, r.FinishReason, r.Text)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "gptailor generate: interrupted")
		return 130
	}
	return 0
}

// check refuses flag values out of range, naming the flag.
func (g *genFlags) check(fs *flag.FlagSet) error {
	errs := []error{g.opts.Check(), atLeast("--batch", g.batch, 1)}
	switch g.kv {
	case "f32":
	case "bf16":
		g.opts.KVBF16 = true
	default:
		errs = append(errs, fmt.Errorf("--kv %q: f32 or bf16", g.kv))
	}
	if g.prompt != "" && !utf8.ValidString(g.prompt) {
		errs = append(errs, errors.New("--prompt is not UTF-8 text"))
	}
	if g.system != "" && !g.chat {
		errs = append(errs, errors.New("--system goes with --chat"))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if g.chat && !set["prompt"] {
		errs = append(errs, errors.New("--chat applies the template to --prompt; a --prompts file gives messages instead"))
	}
	if set["prompt"] && g.prompt == "" {
		errs = append(errs, errors.New("--prompt is empty"))
	}
	if set["prompt"] && g.prompts != "" {
		errs = append(errs, errors.New("--prompt and --prompts: give one"))
	}
	// The library reads 0 as "off" for these two; on the command line 0 is
	// out of range.
	if set["top-p"] && g.opts.TopP == 0 {
		errs = append(errs, errors.New("--top-p 0: must be in (0, 1]"))
	}
	if set["repeat-penalty"] && g.opts.RepeatPenalty == 0 {
		errs = append(errs, errors.New("--repeat-penalty 0: must be more than 0 (1: off)"))
	}
	return errors.Join(errs...)
}

func (g *genFlags) readPrompts() ([]genPrompt, error) {
	if g.prompts != "" {
		return readPrompts(g.prompts)
	}
	if !g.chat {
		return []genPrompt{{Text: g.prompt}}, nil
	}
	conv := chattemplate.UserPrompt(g.system, g.prompt)
	return []genPrompt{{Conv: &conv}}, nil
}

// generate runs the prompts on one model or plan, --batch at a time,
// streaming the text of a single prompt to stdout when stream is set, and
// returns one result per prompt (those done when ctx was cancelled).
func (g *genFlags) generate(ctx context.Context, name, modelDir, planPath string, prompts []genPrompt, stdout, stderr io.Writer, stream bool) ([]genResult, error) {
	net, tokDir, _, _, err := openEvalNet(modelDir, planPath, "", g.fam, nil, nil)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		return nil, err
	}
	opts := g.opts
	if opts.EOS, err = generate.EOSIDs(tokDir, net.Cfg, tok); err != nil {
		return nil, err
	}
	ids := make([][]int, len(prompts))
	for i, p := range prompts {
		if ids[i], err = encodePrompt(tok, tokDir, g.template, p); err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
	}
	gen := &generate.Generator{Net: net, Tok: tok}
	var out []genResult
	for lo := 0; lo < len(ids); lo += g.batch {
		batch := ids[lo:min(lo+g.batch, len(ids))]
		kvBytes := gen.KVBytes(batch, &opts)
		longest := 0
		for _, p := range batch {
			longest = max(longest, len(p))
		}
		// The weights, the caches and a prefill's buffers: the heap limit
		// counts the cache (eval's limit is the weights and scoring's).
		sysmem.SoftLimit(net.Bytes() + kvBytes + engine.ScoreMemory(net.Cfg, longest) + scoreSlack)
		if lo == 0 && !g.asJSON {
			fmt.Fprintf(stderr, "%s: %d slots (%d with attention), KV cache %s for %d prompt(s), weights %s, kernel %s\n",
				name, len(net.Layers), net.AttnSlots(), mib(kvBytes), len(batch), mib(net.Bytes()), kernel.Active())
		}
		var onText func(int, string)
		if stream {
			onText = func(_ int, s string) { io.WriteString(stdout, s) }
		}
		opts.FirstStream = lo
		res, err := gen.Run(ctx, batch, opts, onText)
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
		if stream {
			fmt.Fprintln(stdout)
		}
		for k, r := range res {
			out = append(out, genResult{Model: name, Prompt: lo + k + 1, Text: r.Text, Tokens: r.Tokens, PromptTokens: r.PromptTokens,
				FinishReason: r.FinishReason, TokensPerSecond: r.TokensPerSecond(), PromptTokensPerSecond: r.PromptTokensPerSecond(),
				KVCacheBytes: kvBytes, Kernel: kernel.Active()})
			if !g.asJSON {
				fmt.Fprintf(stderr, "%s prompt %d: %d prompt tokens at %.1f tokens/s, %d generated at %.1f tokens/s (%s)\n",
					name, lo+k+1, r.PromptTokens, r.PromptTokensPerSecond(), len(r.Tokens), r.TokensPerSecond(), r.FinishReason)
			}
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// encodePrompt turns a prompt into ids: text with the tokenizer's special
// tokens (BOS), or messages through the chat template (whose text carries
// its own BOS).
func encodePrompt(tok *tokenizer.Tokenizer, modelDir, template string, p genPrompt) ([]int, error) {
	if p.Conv == nil {
		ids := tok.Encode(p.Text, true)
		if len(ids) == 0 {
			return nil, errors.New("the prompt is empty")
		}
		return ids, nil
	}
	text, err := renderChat(tok, modelDir, template, *p.Conv)
	if err != nil {
		return nil, err
	}
	ids := tok.Encode(text, false)
	if len(ids) == 0 {
		return nil, errors.New("the chat template rendered an empty prompt")
	}
	return ids, nil
}

// runCompare runs the same prompts with the same seed on each model or
// plan of --compare, one after another, and prints them side by side.
func (g *genFlags) runCompare(ctx context.Context, prompts []genPrompt, stdout, stderr io.Writer) int {
	var all [][]genResult
	var names []string
	// Every entry is resolved before the first one runs: a typo in the
	// last is refused at once, not after the others have generated.
	type source struct{ entry, modelDir, planPath string }
	var sources []source
	for _, entry := range strings.Split(g.compare, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return fail(stderr, "generate", fmt.Errorf("--compare %q: an empty entry", g.compare))
		}
		modelDir, planPath, err := g.resolve(entry)
		if err != nil {
			return fail(stderr, "generate", err)
		}
		sources = append(sources, source{entry, modelDir, planPath})
	}
	for _, src := range sources {
		entry := src.entry
		res, err := g.generate(ctx, entry, src.modelDir, src.planPath, prompts, stdout, stderr, false)
		if err != nil && !errors.Is(err, context.Canceled) {
			return fail(stderr, "generate", fmt.Errorf("--compare %s: %w", entry, err))
		}
		all, names = append(all, res), append(names, entry)
		if err != nil {
			break
		}
	}
	if g.asJSON {
		enc := json.NewEncoder(stdout)
		for i := range prompts {
			for m := range all {
				if i < len(all[m]) {
					enc.Encode(all[m][i])
				}
			}
		}
	} else {
		width := 0
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil {
				width = w
			}
		}
		for i := range prompts {
			texts := make([]string, len(all))
			for m := range all {
				if i < len(all[m]) {
					texts[m] = all[m][i].Text
				}
			}
			fmt.Fprintf(stdout, "=== prompt %d ===\n", i+1)
			printSideBySide(stdout, names, texts, width)
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "gptailor generate: interrupted")
		return 130
	}
	return 0
}

// resolve names a --compare entry's model: a family alias (--family), a
// plan file or a model directory.
func (g *genFlags) resolve(entry string) (modelDir, planPath string, err error) {
	for _, m := range g.fam {
		if m.Alias == entry {
			return m.Dir, "", nil
		}
	}
	st, err := os.Stat(entry)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("--compare %s: not a family alias (--family alias=DIR), plan or model directory", entry)
	case st.IsDir():
		return entry, "", nil
	case strings.HasSuffix(entry, ".json") || strings.HasSuffix(entry, ".yaml") || strings.HasSuffix(entry, ".yml"):
		return "", entry, nil
	}
	return "", "", fmt.Errorf("--compare %s: not a family alias, plan (.json) or model directory", filepath.Base(entry))
}
