package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/gptailor/gptailor/native/atomicfile"
	"github.com/gptailor/gptailor/native/build"
	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/progress"
	"github.com/gptailor/gptailor/native/prune"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/scorer"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/sysmem"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// runSpec is what a run directory remembers, so --resume continues the same search.
type runSpec struct {
	Family  []model.Member `json:"family"`
	Remove  int            `json:"remove"`
	Methods []string       `json:"methods,omitempty"`
	Weights bool           `json:"weights,omitempty"`
	Tasks   string         `json:"tasks"`
	// ParamBudget is --param-budget when the run was started with it (Remove is then derived).
	ParamBudget float64         `json:"param_budget,omitempty"`
	Settings    search.Settings `json:"settings"`
}

func runSearch(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fam memberFlags
	fs.Var(&fam, "family", "[alias=]DIR of a family model, the base first (repeatable)")
	remove := fs.Int("remove", 1, "layers to remove")
	paramBudget := fs.Float64("param-budget", 0, "instead of --remove: keep at most this fraction of the base's parameters (e.g. 0.8)")
	methods := fs.String("methods", "", "extension: also search the merge method per layer among these (task_arithmetic,ties,linear,slerp)")
	weights := fs.Bool("weights", false, "extension: also search a weight per fine-tune in merges")
	tasksPath := fs.String("tasks", "", "task list (YAML/JSON) or one task JSONL")
	runDir := fs.String("run", "", "run directory (journal, report, best plan)")
	optName := fs.String("optimizer", "bo", "bo (random forest on every budget's trials + EI + local search, ParEGO over the tasks), bo-mean (the same on the mean cost), bo-highest (SMAC's rule: the model sees only the highest budget's trials) or random")
	trials := fs.Int("trials", 60, "evaluations (config × budget); 0: no limit")
	dur := fs.Duration("time", 0, "wall-time budget (0: none)")
	minB := fs.Int("min-budget", 3, "samples per task at the lowest fidelity")
	maxB := fs.Int("max-budget", 27, "samples per task at full fidelity")
	eta := fs.Float64("eta", 3, "Hyperband's η")
	seed := fs.Uint64("seed", 0, "random seed")
	warm := fs.Bool("warm-start", false, "start from the reference's 3 removal heuristics × λ × fine-tune subsets")
	resume := fs.Bool("resume", false, "continue the search journaled in --run")
	truncate := fs.Bool("truncate-journal", false, "with --resume: cut a damaged journal before its first bad line (the whole file is saved beside it as trials.jsonl.damaged-TIME) and recompute from there, instead of refusing")
	overwrite := fs.Bool("overwrite", false, "discard a search already journaled in --run and start afresh")
	buildOut := fs.String("build", "", "write the winning plan as a model directory")
	compare := fs.Bool("compare", true, "also report ShortGPT and the base with its best single layer dropped")
	prefixMB := fs.Int("prefix-cache-mb", -1, "memory for activations shared between candidates with common first slots (0: off; default a quarter of the machine's memory)")
	cacheMB := fs.Int("cache-mb", -1, "memory for packed layers, source and merged alike; past it the least recently used are read or merged again (default 40% of the machine's memory)")
	fs.IntVar(cacheMB, "merge-cache-mb", -1, "old name of --cache-mb")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) of the run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile (go tool pprof) to this file when the search ends")
	compute := fs.String("compute", "", "f32 (default: exact float32 products) or bf16 (bfloat16 products with float32 sums, on CPUs with avx512_bf16)")
	scorerPath := fs.String("scorer", "", "a WebAssembly scoring module (docs/scorer-abi.md) whose score is the objective instead of task retention")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor search --family base=DIR --family [alias=]DIR ... --remove R --tasks FILE --run DIR [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *runDir == "" || (!*resume && (len(fam) == 0 || *tasksPath == "")) {
		fs.Usage()
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := kernel.SetCompute(*compute); err != nil {
		return fail(stderr, "search", err)
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return fail(stderr, "search", err)
		}
		defer stop()
	}
	if err := errors.Join(
		atLeast("--remove", *remove, 0),
		between("--param-budget", *paramBudget, 0, 1),
		atLeast("--prefix-cache-mb", *prefixMB, -1),
		atLeast("--cache-mb", *cacheMB, -1),
	); err != nil {
		return fail(stderr, "search", err)
	}
	var methodList []string
	if *methods != "" {
		methodList = strings.Split(*methods, ",")
	}
	spec := runSpec{Family: fam, Remove: *remove, ParamBudget: *paramBudget, Methods: methodList, Weights: *weights, Tasks: *tasksPath, Settings: search.Settings{
		Optimizer: *optName, Seed: *seed, Trials: *trials, Duration: *dur, MinBudget: *minB, MaxBudget: *maxB, Eta: *eta, WarmStart: *warm}}
	if err := spec.Settings.Validate(); err != nil {
		return fail(stderr, "search", err)
	}
	journalPath, specPath := search.RunDir(*runDir)
	writeSpec := true
	if *resume {
		saved, err := readRunSpec(specPath)
		switch {
		case errors.Is(err, os.ErrNotExist) && fileExists(journalPath):
			return fail(stderr, "search", fmt.Errorf("--resume: %s has a journal but no search.json: the run's settings are lost; start another --run", *runDir))
		case errors.Is(err, os.ErrNotExist) && len(fam) > 0 && *tasksPath != "":
			// Killed before anything was journaled: there is nothing to
			// continue, and the command line says everything to start.
			fmt.Fprintf(stderr, "search: nothing journaled in %s yet; starting the search\n", *runDir)
			*resume = false
		case errors.Is(err, os.ErrNotExist):
			return fail(stderr, "search", fmt.Errorf("--resume: %s holds no search (no search.json); start one with --family and --tasks", *runDir))
		case err != nil:
			return fail(stderr, "search", fmt.Errorf("--resume: %w", err))
		default:
			changes, err := resumeChanges(&saved, spec, set, *paramBudget)
			if err != nil {
				return fail(stderr, "search", fmt.Errorf("--resume: %w", err))
			}
			for _, c := range changes {
				fmt.Fprintf(stderr, "search: resuming with %s\n", c)
			}
			writeSpec = len(changes) > 0
			spec = saved
		}
	} else if *overwrite {
		for _, f := range []string{journalPath, specPath} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fail(stderr, "search", err)
			}
		}
	} else if fileExists(journalPath) {
		return fail(stderr, "search", fmt.Errorf("%s already holds a search: pass --resume to continue it or choose another --run", *runDir))
	}
	if len(spec.Family) < 2 {
		return fail(stderr, "search", errors.New("a search needs a base and at least one fine-tune (--family twice or more)"))
	}
	f, err := model.OpenFamily(spec.Family)
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer f.Close()
	base := f.Base()
	if *paramBudget > 0 && !*resume {
		// Layers are all the same size, so a parameter budget fixes how
		// many go: the fewest whose removal meets it.
		total, per := float64(base.Params()), float64(base.LayerParams())
		need := total - *paramBudget*total
		spec.Remove = int(math.Max(0, math.Ceil(need/per-1e-9)))
		fmt.Fprintf(stderr, "--param-budget %.3g: removing %d of %d layers keeps %.1f%% of the parameters\n", *paramBudget, spec.Remove, base.Config.NumHiddenLayers, 100*(total-float64(spec.Remove)*per)/total)
	}
	space := &search.Space{Layers: base.Config.NumHiddenLayers, Remove: spec.Remove, FineTunes: f.Names()[1:], Methods: spec.Methods, Weights: spec.Weights}
	if err := space.Validate(); err != nil {
		return fail(stderr, "search", err)
	}
	if b := search.Brackets(spec.Settings.MinBudget, spec.Settings.MaxBudget, spec.Settings.Eta); spec.Settings.Trials > 0 && spec.Settings.Trials < len(b[0]) {
		return fail(stderr, "search", fmt.Errorf("--trials %d is too small for one Hyperband bracket (%d rungs); raise it or narrow the budgets", spec.Settings.Trials, len(b[0])))
	}
	list, err := task.ReadList(spec.Tasks)
	if err != nil {
		return fail(stderr, "search", err)
	}
	tok, err := tokenizer.Load(base.Dir)
	if err != nil {
		return fail(stderr, "search", err)
	}
	models := map[string]string{}
	for _, m := range f.Models {
		abs, _ := filepath.Abs(m.Dir)
		models[m.Name] = abs
	}
	if *cacheMB < 0 {
		*cacheMB = sysmem.FractionMB(0.4)
	}
	if err := cacheFits(*cacheMB, base); err != nil {
		return fail(stderr, "search", err)
	}
	builder := stitch.New(f, int64(*cacheMB)<<20)
	if *prefixMB < 0 {
		// The prefix cache wants room: on a 135M-shaped model's 60-trial
		// trace it gave 1.23× (of a possible 1.26×) with 6 GiB, 1.07× with 1 GiB.
		*prefixMB = sysmem.FractionMB(0.25)
	}
	if *prefixMB > 0 {
		builder.Prefix = engine.NewPrefixCache(int64(*prefixMB) << 20)
	}
	ref, err := builder.Loader.Net(base, nil)
	if err != nil {
		return fail(stderr, "search", err)
	}
	// The caches, the base's head and room for activations and a merge in flight.
	sysmem.SoftLimit(int64(*cacheMB+*prefixMB)<<20 + ref.Head.Bytes() + 1<<30)
	ev := &search.PlanEvaluator{Space: space, Builder: builder, Models: models, Specs: list.Tasks, Tok: tok, Reference: ref}
	if err := os.MkdirAll(*runDir, 0o755); err != nil {
		return fail(stderr, "search", err)
	}
	if writeSpec {
		sj, _ := json.MarshalIndent(spec, "", "  ")
		if err := atomicfile.Write(specPath, append(sj, '\n'), 0o644); err != nil {
			return fail(stderr, "search", err)
		}
	}
	journal, replay, err := search.OpenJournal(journalPath, *truncate)
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer journal.Close()

	// Calibration text for the baselines: the first task's file, 8 windows of 128.
	var calib [][]int
	if docs, err := corpus.Read(list.Tasks[0].Path); err == nil {
		var streams [][]int
		for _, d := range docs[:min(len(docs), 64)] {
			streams = append(streams, tok.Encode(d.Text, true))
		}
		if w, err := corpus.Windows(streams, min(128, base.Config.MaxPositionEmbeddings)); err == nil {
			calib = w[:min(8, len(w))]
		}
	}
	var shortGPT *prune.Result
	if len(calib) > 0 {
		if shortGPT, err = prune.Run("shortgpt", ref, calib, spec.Remove); err == nil {
			c := &search.Config{Removed: make([]bool, space.Layers), Subset: make([]uint32, space.Layers), Lambda: make([]float64, space.Layers)}
			for _, i := range shortGPT.Removed {
				c.Removed[i] = true
			}
			spec.Settings.Extra = []*search.Config{c}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var objective search.Evaluator = ev
	if *scorerPath != "" {
		wasm, err := os.ReadFile(*scorerPath)
		if err != nil {
			return fail(stderr, "search", err)
		}
		h, err := scorer.NewHost(ctx, scorer.Limits{})
		if err != nil {
			return fail(stderr, "search", err)
		}
		defer h.Close(context.Background())
		mod, err := h.Load(ctx, filepath.Base(*scorerPath), wasm)
		if err != nil {
			return fail(stderr, "search", err)
		}
		objective = &search.ScoredEvaluator{PlanEvaluator: ev, Host: h, Module: mod}
	}
	total := spec.Settings.Trials
	bar := progress.New(stderr, "search", "trials", total)
	best := math.Inf(-1)
	onTrial := func(t search.Trial) {
		if t.Error == "" && t.Objective > best && t.Budget == spec.Settings.MaxBudget {
			best = t.Objective
		}
		bar.Add(1)
	}
	start := time.Now()
	trialsDone, err := search.Search(ctx, space, objective, spec.Settings, journal, replay, onTrial)
	bar.Finish()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fail(stderr, "search", err)
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "search interrupted after %d trials; --resume continues it\n", len(trialsDone))
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return fail(stderr, "search", err)
		}
	}
	win, ok := search.Best(trialsDone)
	if !ok {
		return fail(stderr, "search", errors.New("no trial finished: every candidate failed (see the journal)"))
	}
	winPlan, err := space.Plan(win.Config, models)
	if err != nil {
		return fail(stderr, "search", err)
	}
	winPlan.Name = fmt.Sprintf("search-best-trial-%d", win.Index)
	rows := []search.Comparison{{Name: "search best (trial " + fmt.Sprint(win.Index) + ")", Plan: winPlan}}
	if win.Budget != spec.Settings.MaxBudget {
		fmt.Fprintf(stderr, "note: no trial reached the full budget %d; the winner is from budget %d\n", spec.Settings.MaxBudget, win.Budget)
	}
	if *compare {
		if shortGPT != nil {
			rows = append(rows, search.Comparison{Name: fmt.Sprintf("ShortGPT (drops %v)", shortGPT.Removed), Plan: prune.Plan(models, space.Layers, shortGPT.Removed, "shortgpt")})
		}
		if len(calib) > 0 {
			if r, p, err := prune.LaCo(ev.Builder, models, plan.BaseAlias, calib, spec.Remove, prune.DefaultLaCo()); err == nil {
				rows = append(rows, search.Comparison{Name: fmt.Sprintf("LaCo (collapses %v)", r.Removed), Plan: p})
			} else {
				fmt.Fprintf(stderr, "LaCo baseline skipped: %v\n", err)
			}
		}
		if spec.Remove == 1 {
			bestDrop, bestMean := -1, math.Inf(-1)
			var bestRet []float64
			for l := 0; l < space.Layers; l++ {
				ret, err := ev.Retention(prune.Plan(models, space.Layers, []int{l}, "drop"), spec.Settings.MaxBudget)
				if err != nil {
					return fail(stderr, "search", err)
				}
				if m := search.Mean(ret); m > bestMean {
					bestDrop, bestMean, bestRet = l, m, ret
				}
			}
			rows = append(rows, search.Comparison{Name: fmt.Sprintf("base, best single drop (layer %d)", bestDrop), Plan: prune.Plan(models, space.Layers, []int{bestDrop}, "best-drop"), Retention: bestRet})
		}
		for _, m := range f.Models {
			rows = append(rows, search.Comparison{Name: "dense " + m.Name + " (no layer removed)", Plan: prune.Plan(map[string]string{plan.BaseAlias: models[m.Name]}, space.Layers, nil, m.Name)})
		}
	}
	for i := range rows {
		if rows[i].Retention != nil {
			continue
		}
		p := rows[i].Plan
		var err error
		if strings.HasPrefix(rows[i].Name, "dense ") {
			rows[i].Retention, err = denseRetention(ev, f, p, spec.Settings.MaxBudget)
		} else {
			rows[i].Retention, err = ev.Retention(p, spec.Settings.MaxBudget)
		}
		if err != nil {
			return fail(stderr, "search", err)
		}
	}
	if err := search.Report(*runDir, ev.Tasks(), objective.Tasks(), trialsDone, rows); err != nil {
		return fail(stderr, "search", err)
	}
	printSearch(stdout, ev.Tasks(), winPlan, rows, len(trialsDone), time.Since(start), *runDir)
	_, cachePeak := builder.Cache().Bytes()
	fmt.Fprintf(stdout, "\nmemory: peak %d MiB resident; packed layers peaked at %d MiB of the %d MiB --cache-mb (kernel %s)\n",
		sysmem.PeakRSSMB(), cachePeak>>20, *cacheMB, kernel.Active())
	if *buildOut != "" {
		res, err := build.Build(builder, winPlan, build.Options{Out: *buildOut, Force: true})
		if err != nil {
			return fail(stderr, "search", err)
		}
		fmt.Fprintf(stdout, "built %s (%d tensors)\n", res.Dir, res.Tensors)
	}
	return 0
}

// denseRetention scores one whole model of the family (its own layers,
// embeddings and head) against the reference.
func denseRetention(ev *search.PlanEvaluator, f *model.Family, p *plan.Plan, budget int) ([]float64, error) {
	m, ok := f.Model(p.Name)
	if !ok {
		return nil, fmt.Errorf("no model %s", p.Name)
	}
	net, err := ev.Builder.Loader.Net(m, nil)
	if err != nil {
		return nil, err
	}
	return ev.NetRetention(net, m.Name, budget)
}

func printSearch(w io.Writer, tasks []string, p *plan.Plan, rows []search.Comparison, n int, el time.Duration, dir string) {
	fmt.Fprintf(w, "search: %d trials in %.1f s; report, journal and best plan in %s\n\n", n, el.Seconds(), dir)
	fmt.Fprintln(w, "winning plan:")
	for i, s := range p.Slots {
		fmt.Fprintf(w, "  slot %d  %s\n", i, strings.TrimSpace(s.Describe()))
	}
	fmt.Fprintf(w, "\nretention vs the base (primary metric per task; >100%% beats the base):\n")
	fmt.Fprintf(w, "  %-40s", "plan")
	for _, t := range tasks {
		fmt.Fprintf(w, " %9s", t)
	}
	fmt.Fprintf(w, " %9s\n", "mean")
	for _, r := range rows {
		fmt.Fprintf(w, "  %-40s", r.Name)
		for _, v := range r.Retention {
			fmt.Fprintf(w, " %8.1f%%", 100*v)
		}
		fmt.Fprintf(w, " %8.1f%%\n", 100*search.Mean(r.Retention))
	}
}

func runPrune(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "model directory")
	method := fs.String("method", "shortgpt", "shortgpt, angular, sleb, laco or last")
	laco := prune.DefaultLaCo()
	fs.IntVar(&laco.Combine, "combine", laco.Combine, "laco: layers collapsed into one per step (C)")
	fs.IntVar(&laco.Interval, "interval", laco.Interval, "laco: slots moved down after a collapse (I)")
	fs.Float64Var(&laco.Threshold, "threshold", laco.Threshold, "laco: accept a collapse whose mean cosine of final hidden states is at least this (T)")
	fs.IntVar(&laco.Lowest, "lowest", laco.Lowest, "laco: lowest layer a collapse may start at (L)")
	n := fs.Int("n", 1, "layers to remove")
	data := fs.String("data", "", "calibration text or JSONL {\"text\"} (not needed for last)")
	windows := fs.Int("windows", 8, "calibration windows")
	seq := fs.Int("seq", 128, "calibration window length")
	out := fs.String("o", "", "write the plan here (default: stdout)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor prune --model DIR --method shortgpt|angular|sleb|laco|last -n N [--data FILE] [-o PLAN.json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *modelDir == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if err := errors.Join(
		atLeast("-n", *n, 1),
		atLeast("--windows", *windows, 1),
		atLeast("--seq", *seq, 2),
	); err != nil {
		return fail(stderr, "prune", err)
	}
	m, err := model.Open(*modelDir)
	if err != nil {
		return fail(stderr, "prune", err)
	}
	defer m.Close()
	net, err := engine.NewLoader().Net(m, nil)
	if err != nil {
		return fail(stderr, "prune", err)
	}
	var wins [][]int
	if *data != "" {
		tok, err := tokenizer.Load(*modelDir)
		if err != nil {
			return fail(stderr, "prune", err)
		}
		docs, err := corpus.Read(*data)
		if err != nil {
			return fail(stderr, "prune", err)
		}
		var streams [][]int
		n := 0
		for _, d := range docs { // enough text for the windows asked for
			streams = append(streams, tok.Encode(d.Text, true))
			if n += len(streams[len(streams)-1]); n >= *windows**seq {
				break
			}
		}
		if wins, err = corpus.Windows(streams, *seq); err != nil {
			return fail(stderr, "prune", err)
		}
		wins = wins[:min(len(wins), *windows)]
	}
	abs, _ := filepath.Abs(*modelDir)
	models := map[string]string{plan.BaseAlias: abs}
	var res *prune.Result
	var p *plan.Plan
	if *method == "laco" {
		f, err := model.OpenFamily([]model.Member{{Alias: plan.BaseAlias, Dir: *modelDir}})
		if err != nil {
			return fail(stderr, "prune", err)
		}
		defer f.Close()
		if res, p, err = prune.LaCo(stitch.New(f, 1<<30), models, plan.BaseAlias, wins, *n, laco); err != nil {
			return fail(stderr, "prune", err)
		}
		fmt.Fprintf(stderr, "laco collapses layers %v into the layers below them\n", res.Removed)
	} else {
		if res, err = prune.Run(*method, net, wins, *n); err != nil {
			return fail(stderr, "prune", err)
		}
		p = prune.Plan(models, m.Config.NumHiddenLayers, res.Removed, *method+"-"+fmt.Sprint(*n))
		fmt.Fprintf(stderr, "%s removes layers %v\n", *method, res.Removed)
	}
	if len(res.Scores) > 0 {
		fmt.Fprintf(stderr, "scores: %v\n", res.Scores)
	}
	b, _ := plan.Marshal(p)
	return writeOut(*out, append(b, '\n'), stdout, stderr, "prune")
}

// cacheFits refuses a layer cache that cannot hold one packed layer of the
// base (16-bit when the kernel keeps BF16 weights so and the base is BF16).
func cacheFits(cacheMB int, base *model.Model) error {
	per := int64(4)
	if dt := base.Tensors.DTypes(); kernel.HalfWeights() && dt[safetensors.BF16] > 0 && dt[safetensors.F32] == 0 {
		per = 2
	}
	layer := base.LayerParams() * per
	if cacheMB > 0 && int64(cacheMB)<<20 < layer {
		return fmt.Errorf("--cache-mb %d cannot hold one packed layer of %s (%d MiB): raise it", cacheMB, base.Name, (layer+1<<20-1)>>20)
	}
	return nil
}
