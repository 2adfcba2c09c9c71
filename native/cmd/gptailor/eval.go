package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/generate"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/progress"
	"github.com/gptailor/gptailor/native/scorer"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/sysmem"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// evalResult is what eval --json prints.
type evalResult struct {
	Model           string  `json:"model"`
	Layers          []int   `json:"layers"`
	Quant           string  `json:"quant"` // the weights scored: none, q8_0 or q4_0
	Data            string  `json:"data"`
	Documents       int     `json:"documents"`
	Seq             int     `json:"seq"`
	Windows         int     `json:"windows"`
	Tokens          int     `json:"tokens"`
	Bytes           int     `json:"bytes"`
	NLL             float64 `json:"nll"`
	Perplexity      float64 `json:"perplexity"`
	BitsPerByte     float64 `json:"bits_per_byte"`
	Seconds         float64 `json:"seconds"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	Kernel          string  `json:"kernel"`
	PeakRSSMB       int     `json:"peak_rss_mb"`
	// RepairCheck is how the plan's repair fared on the calibration
	// windows its fit never read (kept, or left out as worse).
	RepairCheck *stitch.RepairCheck `json:"repair_check,omitempty"`
}

func runEval(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "model directory (Hugging Face layout)")
	planPath := fs.String("plan", "", "layer plan (JSON) to evaluate instead of a model")
	var fam memberFlags
	fs.Var(&fam, "family", "alias=DIR of a family model for --plan (repeatable; overrides the plan's models)")
	data := fs.String("data", "", "text file, or JSONL with one {\"text\"} per line")
	tasksPath := fs.String("tasks", "", "task list (YAML/JSON) or one task JSONL, instead of --data")
	reference := fs.String("reference", "", "with --tasks: what retention and the objective are computed against: base or best (with --plan: the family's dense base, or its best dense member per task, as search judges) or a model directory or plan")
	aggregate := fs.String("aggregate", session.DefaultObjective.Aggregate, "with --tasks and a reference: the objective combines the tasks' retentions by min, mean, geomean or paper (as search --aggregate)")
	samples := fs.Int("samples", 0, "with --tasks: samples per task (as a search's budget; 0: each task's own limit)")
	scorerPath := fs.String("scorer", "", "with --tasks: a WebAssembly scoring module (docs/scorer-abi.md) to score the results")
	scorerMem := fs.Int("scorer-memory-mib", 256, "memory limit of the scoring module")
	scorerTime := fs.Duration("scorer-timeout", 2*time.Second, "time limit of one scoring call")
	seq := fs.Int("seq", 256, "window length in tokens (non-overlapping windows)")
	layerSpec := fs.String("layers", "", "run these source layers in this order, e.g. 0,1,2,4 (default: all)")
	limit := fs.Int("limit", 0, "use only the first N documents (0: all)")
	maxWindows := fs.Int("windows", 0, "score only the first N windows (0: all)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	compute := fs.String("compute", "", "f32 (default: exact float32 products) or bf16 (bfloat16 products with float32 sums, on CPUs with avx512_bf16)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) of the evaluation to this file")
	repairOpt := repairFlags(fs, "with --plan: repair its cuts with ReplaceMe's linear map fitted on this calibration text (text or JSONL)")
	quant := fs.String("quant", "none", "score the weights (the model's, the plan's — merges computed in full precision, then quantized — and the reference's) as a GGUF file of this type stores them: none, q8_0 or q4_0")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor eval (--model DIR | --plan PLAN) (--data FILE | --tasks FILE [--reference DIR|PLAN]) [--seq N] [--layers LIST] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*modelDir == "") == (*planPath == "") || (*data == "") == (*tasksPath == "") || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if err := kernel.SetCompute(*compute); err != nil { // before any weight is packed
		return fail(stderr, "eval", err)
	}
	if repairOpt() != nil && *planPath == "" {
		return fail(stderr, "eval", errors.New("--repair goes with --plan"))
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return fail(stderr, "eval", err)
		}
		defer stop()
	}
	q, qerr := parseQuant(*quant)
	if qerr != nil {
		return fail(stderr, "eval", qerr)
	}
	evalQuant = q
	if *tasksPath != "" && *planPath != "" && (*reference == "" || slices.Contains(session.References, *reference)) {
		// Through the session, as search and serve evaluate: the same
		// objective for the same plan and samples.
		o := evalTaskOptions{quant: *quant, plan: *planPath, fam: fam, tasks: *tasksPath, repair: repairOpt(), samples: *samples, scorer: *scorerPath,
			objective: session.Objective{Reference: orBase(*reference), Aggregate: *aggregate}, asJSON: *asJSON,
			limits: scorer.Limits{MemoryBytes: uint64(*scorerMem) << 20, CallTimeout: *scorerTime}}
		if err := errors.Join(between("--scorer-memory-mib", float64(*scorerMem), 1, scorer.MaxMemoryBytes>>20), positiveDuration("--scorer-timeout", *scorerTime), atLeast("--samples", *samples, 0)); err != nil {
			return fail(stderr, "eval", err)
		}
		return evalPlanTasks(o, stdout, stderr)
	}
	var check *stitch.RepairCheck
	net, tokDir, name, layers, err := openEvalNet(*modelDir, *planPath, *layerSpec, fam, repairOpt(), func(c stitch.RepairCheck) {
		check = &c
		fmt.Fprintf(stderr, "%s\n", c)
	})
	if err != nil {
		return fail(stderr, "eval", err)
	}
	if err := errors.Join(
		between("--scorer-memory-mib", float64(*scorerMem), 1, scorer.MaxMemoryBytes>>20),
		positiveDuration("--scorer-timeout", *scorerTime),
		atLeast("--seq", *seq, 2),
		atLeast("--limit", *limit, 0),
		atLeast("--windows", *maxWindows, 0),
	); err != nil {
		return fail(stderr, "eval", err)
	}
	if *tasksPath != "" {
		lim := scorer.Limits{MemoryBytes: uint64(*scorerMem) << 20, CallTimeout: *scorerTime}
		return runTasks(net, tokDir, name, *tasksPath, *reference, *scorerPath, *planPath, lim, fam, session.Objective{Reference: "base", Aggregate: *aggregate}, *samples, *asJSON, stdout, stderr)
	}
	if mp := net.Cfg.MaxPositionEmbeddings; mp > 0 && *seq > mp {
		return fail(stderr, "eval", fmt.Errorf("--seq %d exceeds the model's max_position_embeddings %d", *seq, mp))
	}
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		return fail(stderr, "eval", err)
	}
	// Only what the windows need is read and tokenized: --limit
	// documents, and with --windows N the first N×seq tokens (+1, the
	// last window's last target).
	need := 0
	if *maxWindows > 0 {
		need = *maxWindows**seq + 1
	}
	streams, docs, err := corpus.TokenStreams(*data, tok.Encode, *limit, need, 0)
	if err != nil {
		return fail(stderr, "eval", err)
	}
	// Scoring keeps the weights and its batches' buffers and makes almost
	// no garbage: a heap limit of those plus a little keeps the resident
	// set near what is live (135M F32: 773 instead of 948 MiB at the same
	// speed), where the reading limit above lets it grow by 512 MiB.
	sysmem.SoftLimit(net.Bytes() + net.ScoreMemory(*seq) + scoreSlack)
	res, err := evaluate(net, tok, streams, docs, *seq, *maxWindows, stderr)
	if err != nil {
		return fail(stderr, "eval", err)
	}
	res.Model, res.Data, res.Layers, res.RepairCheck, res.Quant = name, *data, layers, check, quantName(evalQuant)
	res.Kernel, res.PeakRSSMB = kernel.Active(), sysmem.PeakRSSMB()
	if *asJSON {
		b, err := finiteJSON(res, false)
		if err != nil {
			return fail(stderr, "eval", err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	printEval(stdout, res)
	return 0
}

// openEvalNet builds the net to score: a model (optionally a layer list of
// it) or a plan over its family. It returns the tokenizer's directory, the
// name to report and the layer list (nil: all, or the plan's).
// A plan with a repair has it checked on held-out calibration windows;
// onCheck (when not nil) is told how it fared.
func openEvalNet(modelDir, planPath, layerSpec string, fam memberFlags, repair *plan.Repair, onCheck func(stitch.RepairCheck)) (*engine.Net, string, string, []int, error) {
	if planPath != "" {
		if layerSpec != "" {
			return nil, "", "", nil, errors.New("--layers goes with --model; a plan lists its own layers")
		}
		p, f, err := loadPlan(planPath, fam)
		if err != nil {
			return nil, "", "", nil, err
		}
		if f == nil {
			return nil, "", "", nil, fmt.Errorf(`%s: the plan names no models: add "models": {"base": DIR, ...} or pass --family base=DIR`, planPath)
		}
		if err := engine.CheckQuant(f.Base().Config, evalQuant); err != nil {
			return nil, "", "", nil, err
		}
		b, err := planBuilder(f)
		if err != nil {
			return nil, "", "", nil, err
		}
		b = b.Quantized(evalQuant)
		if repair != nil {
			if p, err = withRepairFlag(p, repair, f); err != nil {
				return nil, "", "", nil, err
			}
		}
		net, err := b.Net(p)
		if err != nil {
			return nil, "", "", nil, fmt.Errorf("%s: %w", planPath, err)
		}
		if p.Repair != nil && onCheck != nil {
			c, err := b.CheckRepair(p) // the verdict the net was built with, from the cache
			if err != nil {
				return nil, "", "", nil, fmt.Errorf("%s: %w", planPath, err)
			}
			onCheck(c)
		}
		return net, f.Base().Dir, planPath, nil, nil
	}
	m, err := model.Open(modelDir)
	if err != nil {
		return nil, "", "", nil, err
	}
	layers, err := parseLayers(layerSpec, m.Config.NumHiddenLayers)
	if err != nil {
		return nil, "", "", nil, err
	}
	if err := engine.CheckQuant(m.Config, evalQuant); err != nil {
		return nil, "", "", nil, err
	}
	// The packed weights and room for the tensors being read: without a
	// limit the heap grows to twice what is live while checkpoints are read
	// (135M F32: 1.44 GB resident for 0.54 GB). BF16 and F16 tensors are
	// read 8 MB at a time; float32 ones a q/k/v or gate/up group at once.
	format := engine.WeightFormat(m, 0)
	n := len(layers)
	if layers == nil {
		n = m.Config.NumHiddenLayers
	}
	sysmem.SoftLimit(int64(n)*engine.LayerBytes(m.Config, format) + engine.HeadBytes(m.Config, format) + readSlack)
	loader := engine.NewLoader()
	loader.Quant = evalQuant
	net, err := loader.Net(m, layers)
	if err != nil {
		return nil, "", "", nil, err
	}
	return net, modelDir, modelDir, layers, nil
}

// readSlack is the heap room reading a checkpoint gets beyond the packed
// weights.
const readSlack = 256 << 20

// scoreSlack is the heap room eval's scoring gets beyond the weights and
// the buffers it works in (engine.Net.ScoreMemory).
const scoreSlack = 96 << 20

// evaluate tokenizes documents, cuts windows and scores them.
func evaluate(net *engine.Net, tok *tokenizer.Tokenizer, streams [][]int, docs, seq, maxWindows int, stderr io.Writer) (*evalResult, error) {
	start := time.Now()
	windows, err := corpus.Windows(streams, seq)
	if err != nil {
		return nil, err
	}
	if maxWindows > 0 && maxWindows < len(windows) {
		windows = windows[:maxWindows]
	}
	if len(windows) == 0 {
		return nil, errors.New("the data holds fewer than 2 tokens: nothing to predict")
	}
	for w, win := range windows {
		for p, id := range win {
			if id >= net.Cfg.VocabSize {
				return nil, fmt.Errorf("window %d position %d: token id %d from the tokenizer is outside the model's vocabulary of %d", w, p, id, net.Cfg.VocabSize)
			}
		}
	}
	bar := progress.New(stderr, "eval", "windows", len(windows))
	lps, err := net.ScoreWindows(windows, bar.Add)
	bar.Finish()
	if err != nil {
		return nil, err
	}
	var sum float64
	n, nbytes := 0, 0
	for w, lp := range lps {
		for p, v := range lp {
			sum -= v
			n++
			nbytes += tok.TokenBytes(windows[w][p+1])
		}
	}
	el := time.Since(start).Seconds()
	res := &evalResult{Documents: docs, Seq: seq, Windows: len(windows), Tokens: n, Bytes: nbytes,
		NLL: sum / float64(n), Seconds: el, TokensPerSecond: float64(n) / el}
	res.Perplexity = math.Exp(res.NLL)
	if nbytes > 0 {
		res.BitsPerByte = sum / float64(nbytes) / math.Ln2
	}
	return res, nil
}

func printEval(w io.Writer, r *evalResult) {
	fmt.Fprintf(w, "model          %s\n", r.Model)
	if r.Layers != nil {
		fmt.Fprintf(w, "layers         %v\n", r.Layers)
	}
	if r.Quant != "none" {
		fmt.Fprintf(w, "weights        %s (as a %s GGUF file stores them)\n", r.Quant, strings.ToUpper(r.Quant))
	}
	fmt.Fprintf(w, "data           %s: %d documents\n", r.Data, r.Documents)
	fmt.Fprintf(w, "windows        %d of up to %d tokens: %d tokens predicted, %d bytes of text\n", r.Windows, r.Seq, r.Tokens, r.Bytes)
	fmt.Fprintf(w, "nll            %.4f nats/token\n", r.NLL)
	fmt.Fprintf(w, "perplexity     %.3f\n", r.Perplexity)
	fmt.Fprintf(w, "bits per byte  %.4f\n", r.BitsPerByte)
	fmt.Fprintf(w, "speed          %.0f tokens/s (%.2f s, kernel %s)\n", r.TokensPerSecond, r.Seconds, r.Kernel)
	fmt.Fprintf(w, "peak memory    %d MiB resident\n", r.PeakRSSMB)
}

// parseLayers reads "0,1,2,4" (ranges like 0-3 allowed); "" means all layers.
func parseLayers(spec string, n int) ([]int, error) {
	if spec == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("--layers %q: %q is not a layer number", spec, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("--layers %q: %q is not a range lo-hi", spec, part)
			}
		}
		for i := a; i <= b; i++ {
			if i < 0 || i >= n {
				return nil, fmt.Errorf("--layers %q: layer %d out of range [0, %d)", spec, i, n)
			}
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--layers %q names no layer", spec)
	}
	return out, nil
}

// runTasks evaluates a task list, and the reference when given.
func runTasks(net *engine.Net, tokDir, name, listPath, reference, scorerPath, planPath string, lim scorer.Limits, fam memberFlags, obj session.Objective, samples int, asJSON bool, stdout, stderr io.Writer) int {
	list, err := task.ReadList(listPath)
	if err != nil {
		return fail(stderr, "eval", err)
	}
	list.Tasks = session.SpecsAt(list.Tasks, samples)
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		return fail(stderr, "eval", err)
	}
	run := func(m *task.Model) ([]*task.Result, error) {
		bar := progress.New(stderr, "tasks "+m.Name, "tasks", len(list.Tasks))
		defer bar.Finish()
		var out []*task.Result
		for i := range list.Tasks {
			r, err := task.Run(m, &list.Tasks[i])
			if err != nil {
				return nil, err
			}
			out = append(out, r)
			bar.Add(1)
		}
		return out, nil
	}
	gen, err := generate.ForTasks(net, tok, tokDir)
	if err != nil {
		return fail(stderr, "eval", err)
	}
	res, err := run(&task.Model{Name: name, Net: net, Tok: tok, Gen: gen})
	if err != nil {
		return fail(stderr, "eval", err)
	}
	var ref []*task.Result
	if reference != "" {
		modelDir, planPath := reference, ""
		if strings.HasSuffix(reference, ".json") {
			modelDir, planPath = "", reference
		}
		rnet, rtok, _, _, err := openEvalNet(modelDir, planPath, "", fam, nil, nil)
		if err != nil {
			return fail(stderr, "eval", fmt.Errorf("reference: %w", err))
		}
		rt, err := tokenizer.Load(rtok)
		if err != nil {
			return fail(stderr, "eval", err)
		}
		rgen, err := generate.ForTasks(rnet, rt, rtok)
		if err != nil {
			return fail(stderr, "eval", fmt.Errorf("reference: %w", err))
		}
		if ref, err = run(&task.Model{Name: reference, Net: rnet, Tok: rt, Gen: rgen}); err != nil {
			return fail(stderr, "eval", fmt.Errorf("reference: %w", err))
		}
	}
	return reportTasks(stdout, stderr, name, reference, res, ref, obj, scorerPath, planPath, lim, asJSON)
}

// reportTasks prints an evaluation on tasks: lm-eval's layout, retention
// and the objective against the reference (when there is one), and a
// sandboxed scorer's score.
func reportTasks(stdout, stderr io.Writer, name, reference string, res, ref []*task.Result, obj session.Objective, scorerPath, planPath string, lim scorer.Limits, asJSON bool) int {
	rep := task.NewReport(name, reference, res, ref)
	rep.Config["quant"] = quantName(evalQuant)
	if ref != nil {
		if err := obj.Validate(nil); err != nil {
			return fail(stderr, "eval", err)
		}
		rep.Config["objective"] = obj.Of(res, ref)
		rep.Config["objective_name"] = obj.String()
	}
	status := 0
	if scorerPath != "" {
		score, err := runScorer(scorerPath, planPath, name, res, ref, lim)
		if err != nil {
			fmt.Fprintf(stderr, "gptailor eval: %v\n", err)
			rep.Config["scorer_error"] = err.Error()
			status = 1
		} else {
			rep.Config["scorer"] = scorerPath
			rep.Config["score"] = score
		}
	}
	if asJSON {
		b, err := finiteJSON(rep, true)
		if err != nil {
			return fail(stderr, "eval", err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return status
	}
	rep.Table(stdout)
	if v, ok := rep.Config["objective"].(float64); ok {
		fmt.Fprintf(stdout, "objective (%s, with the tasks' weights): %.2f%%\n", obj, 100*v)
	}
	if s, ok := rep.Config["score"]; ok {
		fmt.Fprintf(stdout, "score (%s): %.6g\n", scorerPath, s)
	}
	return status
}

// runScorer loads a scoring module in the sandbox and scores the results.
func runScorer(path, planPath, name string, res, ref []*task.Result, lim scorer.Limits) (float64, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	h, err := scorer.NewHost(ctx, lim)
	if err != nil {
		return 0, err
	}
	defer h.Close(ctx)
	m, err := h.Load(ctx, filepath.Base(path), wasm)
	if err != nil {
		return 0, err
	}
	var p *plan.Plan
	if planPath != "" {
		if p, err = readPlan(planPath); err != nil {
			return 0, err
		}
	}
	doc, err := scorer.NewDocument(name, p, res, ref)
	if err != nil {
		return 0, err
	}
	return h.Score(ctx, m, doc)
}

// evalTaskOptions are eval --plan --tasks's settings.
type evalTaskOptions struct {
	plan, tasks, scorer string
	quant               string
	fam                 memberFlags
	repair              *plan.Repair
	samples             int
	objective           session.Objective
	limits              scorer.Limits
	asJSON              bool
}

// evalPlanTasks evaluates a plan on tasks through the session search and
// serve use (session.Session.Evaluate): the reference's results, the
// retention and the objective are a search's for the same plan and
// samples.
func evalPlanTasks(o evalTaskOptions, stdout, stderr io.Writer) int {
	p, f, err := loadPlan(o.plan, o.fam)
	if err != nil {
		return fail(stderr, "eval", err)
	}
	if f == nil {
		return fail(stderr, "eval", fmt.Errorf(`%s: the plan names no models: add "models": {"base": DIR, ...} or pass --family base=DIR`, o.plan))
	}
	var members []model.Member
	for _, m := range f.Models {
		members = append(members, model.Member{Alias: m.Name, Dir: m.Dir})
	}
	f.Close()
	if o.repair != nil {
		mf, err := model.OpenFamily(members[:1])
		if err != nil {
			return fail(stderr, "eval", err)
		}
		p, err = withRepairFlag(p, o.repair, mf)
		mf.Close()
		if err != nil {
			return fail(stderr, "eval", err)
		}
	}
	ses, err := session.Open(members, o.tasks, session.CacheSizes(-1, 0))
	if err != nil {
		return fail(stderr, "eval", err)
	}
	defer ses.Family.Close()
	if err := o.objective.Validate(ses.Specs); err != nil {
		return fail(stderr, "eval", err)
	}
	ses.Objective = o.objective
	if err := ses.Family.CheckQuant(o.quant); err != nil {
		return fail(stderr, "eval", err)
	}
	if o.quant != "none" {
		ses.Quant = o.quant
	}
	ses.LimitMemory()
	bar := progress.New(stderr, "eval "+o.plan, "evaluations", 1)
	ev, err := ses.Evaluate(context.Background(), session.Target{Plan: p}, o.samples, -1)
	bar.Finish()
	if err != nil {
		return fail(stderr, "eval", err)
	}
	if p.Repair != nil { // the verdict the evaluation used, from the cache
		if _, _, err := checkedRepair(ses.Family.Builder, p, stderr); err != nil {
			return fail(stderr, "eval", err)
		}
	}
	return reportTasks(stdout, stderr, o.plan, o.objective.RefName(), ev.Results, ev.Reference, o.objective, o.scorer, o.plan, o.limits, o.asJSON)
}

func orBase(ref string) string {
	if ref == "" {
		return "base"
	}
	return ref
}
