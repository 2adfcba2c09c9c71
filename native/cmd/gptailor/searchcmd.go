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
	"syscall"
	"time"

	"github.com/gptailor/gptailor/native/build"
	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/dist"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/progress"
	"github.com/gptailor/gptailor/native/prune"
	"github.com/gptailor/gptailor/native/runlock"
	"github.com/gptailor/gptailor/native/scorer"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/sysmem"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// searchCLI holds the search command's flags that are not the run's
// settings (those bind to a protocol.RunRequest, the type the server
// decodes and the app encodes).
type searchCLI struct {
	fam                       memberFlags
	tasks, run, seeds, build  string
	cpuProfile, memProfile    string
	compute, scorer           string
	compare, asJSON, truncate bool
	prefixMB, cacheMB         int
	dist                      *dist.Options
	trials                    int
}

// searchFlags binds the search command's flags: the run's settings to
// req, one flag per RunRequest field (defaults from the same
// session.DefaultSettings the server and the app use).
func searchFlags(fs *flag.FlagSet, req *protocol.RunRequest) *searchCLI {
	c := &searchCLI{}
	def := session.DefaultSettings()
	fs.Var(&c.fam, "family", "[alias=]DIR of a family model, the base first (repeatable)")
	fs.IntVar(&req.Remove, "remove", 1, "layers to remove")
	fs.Float64Var(&req.ParamBudget, "param-budget", 0, "instead of --remove: keep at most this fraction of the base's parameters (e.g. 0.8)")
	fs.Func("methods", "extension: also search the merge method per layer among these ("+strings.Join(plan.SearchableMethods(), ",")+")", func(v string) error {
		req.Methods = nil
		for _, m := range strings.Split(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				req.Methods = append(req.Methods, m)
			}
		}
		return nil
	})
	fs.StringVar(&req.Reference, "reference", session.DefaultObjective.Reference, "retention per task against: base (the dense base) or best (the best dense member of the family on that task)")
	fs.StringVar(&req.Aggregate, "aggregate", session.DefaultObjective.Aggregate, "the tasks' retentions combined (with their weights) by: min (the weakest task), mean, geomean or paper (mean accuracy ÷ the reference's)")
	fs.StringVar(&req.Space, "space", "full", "the search space, for ablations: full (removal, selection and merging), selection (removal and whole layers from one model each) or removal (base layers only)")
	fs.BoolVar(&req.Weights, "weights", false, "extension: also search a weight per fine-tune in merges")
	fs.StringVar(&c.tasks, "tasks", "", "task list (YAML/JSON) or one task JSONL")
	fs.StringVar(&req.ReportTasks, "report-tasks", "", "held-out task list: never seen by the search, scored at the end for the winner, its Pareto set and every baseline")
	fs.StringVar(&c.run, "run", "", "run directory (journal, report, best plan)")
	fs.StringVar(&req.Optimizer, "optimizer", def.Optimizer, "bo (random forest on every budget's trials + EI + local search, ParEGO over the tasks), bo-mean (the same on the mean cost), bo-highest (SMAC's rule: the model sees only the highest budget's trials) or random")
	fs.IntVar(&c.trials, "trials", def.Trials, "evaluations (config × samples); 0: no limit")
	fs.DurationVar(&req.Duration, "time", 0, "wall-time budget (0: none)")
	fs.IntVar(&req.MinSamples, "min-budget", def.MinBudget, "samples per task at the lowest fidelity")
	fs.IntVar(&req.MaxSamples, "max-budget", def.MaxBudget, "samples per task at full fidelity")
	fs.Float64Var(&req.Eta, "eta", def.Eta, "Hyperband's η")
	fs.Uint64Var(&req.Seed, "seed", 0, "random seed")
	fs.StringVar(&c.seeds, "seeds", "", "run the search once per seed (e.g. 0,1,2 or 0-4) in RUN/seed-N and compare the winners (mean ± s.e.)")
	fs.BoolVar(&req.WarmStart, "warm-start", false, "start from the reference's 3 removal heuristics × λ × fine-tune subsets")
	fs.BoolVar(&req.Resume, "resume", false, "continue the search journaled in --run (from any directory)")
	fs.BoolVar(&c.truncate, "truncate-journal", false, "with --resume: cut a damaged journal before its first bad line (the whole file is saved beside it as trials.jsonl.damaged-TIME) and recompute from there, instead of refusing")
	fs.BoolVar(&req.Overwrite, "overwrite", false, "discard a search already journaled in --run and start afresh")
	fs.StringVar(&c.build, "build", "", "write the winning plan as a model directory")
	fs.BoolVar(&c.compare, "compare", true, "also report ShortGPT and the base with its best single layer dropped")
	fs.IntVar(&c.prefixMB, "prefix-cache-mb", -1, "memory for activations shared between candidates with common first slots (0: off; default a quarter of the machine's memory)")
	fs.IntVar(&c.cacheMB, "cache-mb", -1, "memory for packed layers, source and merged alike; past it the least recently used are read or merged again (default 40% of the machine's memory)")
	fs.IntVar(&c.cacheMB, "merge-cache-mb", -1, "old name of --cache-mb")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) of the run to this file")
	fs.StringVar(&c.memProfile, "memprofile", "", "write a heap profile (go tool pprof) to this file when the search ends")
	fs.StringVar(&c.compute, "compute", "", "f32 (default: exact float32 products) or bf16 (bfloat16 products with float32 sums, on CPUs with avx512_bf16)")
	fs.IntVar(&req.Batch, "batch", 0, "trials evaluated at once (default: the number of workers; 1 without): waves from overlapping Hyperband brackets; the journal depends on the seed and the batch only")
	c.dist = distFlags(fs)
	fs.BoolVar(&c.asJSON, "json", false, "print one JSON object (the result rows, held-out rows, rank correlations, samples, peak_rss_mb) instead of the tables")
	fs.StringVar(&req.Granularity, "granularity", "layer", "layer (whole layers) or block: attention and MLP sub-blocks removed and sourced separately, removing at least the parameters of --remove layers (or --param-budget)")
	fs.StringVar(&req.Repair, "repair", "", "apply ReplaceMe's linear repair, fitted on this calibration text (text or JSONL), to every candidate and to the pruning baselines")
	fs.IntVar(&req.RepairSamples, "repair-samples", plan.DefaultRepairSamples, "with --repair: calibration windows of 128 tokens the repair is fitted on")
	fs.StringVar(&req.Quant, "quant", "none", "score every candidate, baseline and the reference with its weights as a GGUF file of this type stores them: none, q8_0 or q4_0 (build --format gguf --type)")
	fs.StringVar(&c.scorer, "scorer", "", "a WebAssembly scoring module (docs/scorer-abi.md) whose score is the objective instead of task retention")
	return c
}

func runSearch(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var req protocol.RunRequest
	c := searchFlags(fs, &req)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor search --family base=DIR --family [alias=]DIR ... --remove R --tasks FILE --run DIR [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	req.Trials = &c.trials
	if fs.NArg() > 0 || c.run == "" || (!req.Resume && (len(c.fam) == 0 || c.tasks == "")) {
		fs.Usage()
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.seeds != "" {
		if set["seed"] || req.Resume {
			return fail(stderr, "search", errors.New("--seeds runs one search per seed: leave out --seed and --resume"))
		}
		return runSeeds(args, c.seeds, c.run, stdout, stderr)
	}
	if err := kernel.SetCompute(c.compute); err != nil {
		return fail(stderr, "search", err)
	}
	if c.cpuProfile != "" {
		stop, err := startCPUProfile(c.cpuProfile)
		if err != nil {
			return fail(stderr, "search", err)
		}
		defer stop()
	}
	if err := errors.Join(
		atLeast("--remove", req.Remove, 0),
		between("--param-budget", req.ParamBudget, 0, 1),
		atLeast("--prefix-cache-mb", c.prefixMB, -1),
		atLeast("--cache-mb", c.cacheMB, -1),
		atLeast("--batch", req.Batch, 0),
		c.dist.Validate(),
	); err != nil {
		return fail(stderr, "search", err)
	}
	// A request's 0 means "the default"; typed on the command line it is a
	// value, checked as the search checks it.
	if st := session.DefaultSettings(); (set["min-budget"] && req.MinSamples == 0) || (set["max-budget"] && req.MaxSamples == 0) {
		if set["min-budget"] {
			st.MinBudget = req.MinSamples
		}
		if set["max-budget"] {
			st.MaxBudget = req.MaxSamples
		}
		if err := st.Validate(); err != nil {
			return fail(stderr, "search", err)
		}
	}
	runLock, err := runlock.Acquire(c.run, "gptailor search --run "+c.run)
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer runLock.Release()
	res, err := session.Resolve(c.run, req, c.fam, c.tasks, func(name string) bool {
		return set[name] || (name == "repair-samples" && set["repair"])
	})
	if err != nil {
		return fail(stderr, "search", err)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "search: %s\n", n)
	}
	for _, ch := range res.Changes {
		fmt.Fprintf(stderr, "search: resuming with %s\n", ch)
	}
	sizes := session.CacheSizes(c.cacheMB, c.prefixMB)
	ses, err := session.Open(res.Spec.Family, res.Spec.Tasks, sizes)
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer ses.Family.Close()
	run, err := ses.Prepare(res.Spec, c.run)
	if err != nil {
		return fail(stderr, "search", err)
	}
	if pb := run.Spec.ParamBudget; pb > 0 && !res.Resumed {
		base := ses.Family.Base()
		if run.Spec.Blocks() {
			total := base.Params()
			fmt.Fprintf(stderr, "--param-budget %.3g: removing sub-blocks of at least %s of the %s parameters\n", pb, human(int64(math.Ceil(float64(total)*(1-pb)))), human(total))
		} else {
			_, kept := ses.Family.RemoveFor(pb)
			fmt.Fprintf(stderr, "--param-budget %.3g: removing %d of %d layers keeps %.1f%% of the parameters\n", pb, run.Spec.Remove, base.Config.NumHiddenLayers, 100*kept)
		}
	}
	// SIGTERM (a service manager, kill) stops it as Ctrl-C does: the
	// journal is closed, the report written, the workers stopped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	batchBefore := run.Spec.Settings.Batch
	stopDist, err := distribute(ctx, ses, &run.Spec, c.run, *c.dist, int(sizes.CacheBytes>>20), int(sizes.PrefixBytes>>20), set["prefix-cache-mb"], stderr)
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer stopDist()
	if run.Spec.Settings.Batch != batchBefore { // the batch shapes the journal: it is the run's
		if err := run.SaveSpec(); err != nil {
			return fail(stderr, "search", err)
		}
	}
	opts := session.RunOptions{Truncate: c.truncate, Compare: c.compare, Log: stderr}
	if c.scorer != "" {
		sc, closeScorer, err := loadScorer(ctx, c.scorer)
		if err != nil {
			return fail(stderr, "search", err)
		}
		defer closeScorer()
		opts.Scorer = sc
	}
	bar := progress.New(stderr, "search", "trials", run.Spec.Settings.Trials)
	opts.OnTrial = func(search.Trial) { bar.Add(1) }
	start := time.Now()
	out, err := run.Search(ctx, opts)
	bar.Finish()
	if err != nil {
		return fail(stderr, "search", err)
	}
	if c.memProfile != "" {
		if err := writeHeapProfile(c.memProfile); err != nil {
			return fail(stderr, "search", err)
		}
	}
	if code := reportSearch(stdout, stderr, run, out, time.Since(start), c.asJSON, int(sizes.CacheBytes>>20)); code != 0 {
		return code
	}
	if c.build != "" {
		res, err := build.Build(ses.Family.Builder, out.Winner().Plan, build.Options{Out: c.build, Force: true})
		if err != nil {
			return fail(stderr, "search", err)
		}
		fmt.Fprintf(stdout, "built %s (%d tensors)\n", res.Dir, res.Tensors)
	}
	return 0
}

// loadScorer loads a scoring module in a sandbox of its own.
func loadScorer(ctx context.Context, path string) (*session.Scorer, func(), error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	h, err := scorer.NewHost(ctx, scorer.Limits{})
	if err != nil {
		return nil, nil, err
	}
	mod, err := h.Load(ctx, filepath.Base(path), wasm)
	if err != nil {
		h.Close(context.Background())
		return nil, nil, err
	}
	return &session.Scorer{Host: h, Module: mod}, func() { h.Close(context.Background()) }, nil
}

// reportSearch prints a finished search: one JSON object (--json) or the
// tables, the samples reused, the repair's cost and the memory used.
func reportSearch(stdout, stderr io.Writer, run *session.Run, out *session.Outcome, el time.Duration, asJSON bool, cacheMB int) int {
	ses, spec := run.S, run.Spec
	evaluated, reused := ses.SampleCounts()
	_, cachePeak := ses.Family.Builder.Cache().Bytes()
	if asJSON {
		sum := searchSummary{Run: run.Dir, Quant: spec.QuantName(), Trials: len(out.Trials), Seconds: el.Seconds(), Objective: spec.Objective.String(),
			Tasks: ses.Tasks(), Rows: out.Rows, HeldOutTasks: out.HeldOutTasks, HeldOut: out.HeldOut, Correlations: search.RankCorrelations(out.Trials),
			SamplesEvaluated: evaluated, SamplesReused: reused, PeakRSSMB: sysmem.PeakRSSMB(), CachePeakMB: int(cachePeak >> 20), Kernel: kernel.Active()}
		if spec.Repair != nil {
			rs := ses.Family.Builder.RepairStats()
			sum.Repair = &rs
		}
		b, err := json.Marshal(sum)
		if err != nil {
			return fail(stderr, "search", fmt.Errorf("--json: %w", err))
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	printSearch(stdout, ses.Tasks(), spec.Objective, out, el, run.Dir, spec.Quant)
	if evaluated+reused > 0 {
		fmt.Fprintf(stdout, "\nsamples: %d evaluated, %d reused from the same plan at a lower budget or a duplicate (%.0f%% saved)\n", evaluated, reused, 100*float64(reused)/float64(evaluated+reused))
	}
	if spec.Repair != nil {
		rs := ses.Family.Builder.RepairStats()
		fmt.Fprintf(stdout, "\nrepair: %d cuts repaired, %d fits computed in %.1f s (%.2f s per fit; the others came from the cache)", rs.Cuts, rs.Fits, rs.Seconds, rs.Seconds/float64(max(rs.Fits, 1)))
		if len(out.Trials) > 0 {
			fmt.Fprintf(stdout, ", %.2f s per trial", rs.Seconds/float64(len(out.Trials)))
		}
		fmt.Fprintln(stdout)
		fmt.Fprintf(stdout, "repair check: %d repaired plans compared with their unrepaired selves on held-out calibration windows; %d repairs left out as worse there\n", rs.Checked, rs.LeftOut)
	}
	fmt.Fprintf(stdout, "\nmemory: peak %d MiB resident; packed layers peaked at %d MiB of the %d MiB --cache-mb (kernel %s)\n",
		sysmem.PeakRSSMB(), cachePeak>>20, cacheMB, kernel.Active())
	return 0
}

func printSearch(w io.Writer, tasks []string, obj session.Objective, out *session.Outcome, el time.Duration, dir, quant string) {
	fmt.Fprintf(w, "search: %d trials in %.1f s; report, journal and best plan in %s\n\n", len(out.Trials), el.Seconds(), dir)
	wq := ""
	if quant != "" {
		fmt.Fprintf(w, "weights: %s (every row scored as a %s GGUF file stores its weights)\n\n", quant, strings.ToUpper(quant))
		wq = ", weights " + quant
	}
	fmt.Fprintln(w, "winning plan:")
	for i, s := range out.Winner().Plan.Slots {
		fmt.Fprintf(w, "  slot %d  %s\n", i, strings.TrimSpace(s.Describe()))
	}
	fmt.Fprintf(w, "\nretention per task (primary metric, vs the %s; the objective: %s, with the tasks' weights%s):\n", obj.RefName(), obj, wq)
	fmt.Fprintf(w, "  %-40s", "plan")
	for _, t := range tasks {
		fmt.Fprintf(w, " %9s", t)
	}
	fmt.Fprintf(w, " %9s\n", "objective")
	for _, r := range out.Rows {
		fmt.Fprintf(w, "  %-40s", r.Name())
		for _, v := range r.Retention {
			fmt.Fprintf(w, " %8.1f%%", 100*v)
		}
		fmt.Fprintf(w, " %8.1f%%\n", 100*r.Objective)
	}
	if win := out.Winner(); len(win.CI) == len(tasks) {
		fmt.Fprintf(w, "  winner's 95%% bootstrap intervals:")
		for i, iv := range win.CI {
			fmt.Fprintf(w, " %s %s–%s", tasks[i], plan.Percent(iv.Lo), plan.Percent(iv.Hi))
		}
		fmt.Fprintln(w)
	}
	if corr := search.RankCorrelations(out.Trials); len(corr) > 0 {
		fmt.Fprintf(w, "\ndo cheap budgets predict expensive ones? rank correlation of the objective (Spearman, Kendall%s):\n", wq)
		for _, c := range corr {
			fmt.Fprintf(w, "  budget %d → %d: %s, %s over %d configurations\n", c.Low, c.High, plan.Sig3(c.Spearman), plan.Sig3(c.Kendall), c.N)
		}
	}
	if len(out.HeldOut) == 0 {
		return
	}
	fmt.Fprintf(w, "\nheld-out tasks (never seen by the search; same objective%s):\n  %-40s %9s", wq, "plan", "search")
	for _, t := range out.HeldOutTasks {
		fmt.Fprintf(w, " %15s", t)
	}
	fmt.Fprintf(w, " %9s\n", "held-out")
	so := map[string]float64{}
	for _, r := range out.Rows {
		so[r.Name()] = r.Objective
	}
	for _, r := range out.HeldOut {
		fmt.Fprintf(w, "  %-40s", r.Name())
		if v, ok := so[r.Name()]; ok {
			fmt.Fprintf(w, " %8.1f%%", 100*v)
		} else {
			fmt.Fprintf(w, " %9s", "–")
		}
		for _, v := range r.Retention {
			fmt.Fprintf(w, " %14.1f%%", 100*v)
		}
		fmt.Fprintf(w, " %8.1f%%\n", 100*r.Objective)
	}
}

func runPrune(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "model directory")
	method := fs.String("method", "shortgpt", strings.Join(prune.AllMethods, ", "))
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
	repairOpt := repairFlags(fs, "give the plan ReplaceMe's linear repair, fitted on this calibration text (text or JSONL): a repaired baseline")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor prune --model DIR --method "+strings.Join(prune.AllMethods, "|")+" -n N [--data FILE] [--repair CALIB] [-o PLAN.json]")
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
	f, err := model.OpenFamily([]model.Member{{Alias: plan.BaseAlias, Dir: *modelDir}})
	if err != nil {
		return fail(stderr, "prune", err)
	}
	defer f.Close()
	res, p, err := prune.Baseline(*method, stitch.New(f, int64(session.DefaultCacheMB())<<20), models, plan.BaseAlias, wins, *n, laco)
	if err != nil {
		return fail(stderr, "prune", err)
	}
	switch *method {
	case "laco":
		fmt.Fprintf(stderr, "laco collapses layers %v into the layers below them\n", res.Removed)
	case "blockpruner":
		fmt.Fprintf(stderr, "blockpruner removes the attention of layers %v and the MLP of layers %v\n", res.RemovedAttn, res.RemovedMLP)
	default:
		fmt.Fprintf(stderr, "%s removes layers %v\n", *method, res.Removed)
	}
	if len(res.Scores) > 0 {
		fmt.Fprintf(stderr, "scores: %v\n", res.Scores)
	}
	if r := repairOpt(); r != nil {
		q := session.WithRepair(p, r, f.Base().Config.NumHiddenLayers)
		if q == p {
			return fail(stderr, "prune", fmt.Errorf("--repair: the %s plan removes no layer after a kept one: nothing to repair", *method))
		}
		b, err := planBuilder(f)
		if err != nil {
			return fail(stderr, "prune", err)
		}
		fits, err := b.Repairs(q)
		if err != nil {
			return fail(stderr, "prune", err)
		}
		for _, ft := range fits {
			fmt.Fprintf(stderr, "repair: layers %d–%d after slot %d fitted on %d tokens in %v\n", ft.Cut.From, ft.Cut.To-1, ft.Cut.Slot, ft.Tokens, ft.Elapsed.Round(time.Millisecond))
		}
		if p, _, err = checkedRepair(b, q, stderr); err != nil {
			return fail(stderr, "prune", err)
		}
	}
	b, _ := plan.Marshal(p)
	return writeOut(*out, append(b, '\n'), stdout, stderr, "prune")
}

// searchSummary is what search --json prints.
type searchSummary struct {
	Run              string                     `json:"run"`
	Quant            string                     `json:"quant"` // the weights scored: none, q8_0 or q4_0
	Trials           int                        `json:"trials"`
	Seconds          float64                    `json:"seconds"`
	Objective        string                     `json:"objective"`
	Tasks            []string                   `json:"tasks"`
	Rows             []session.Row              `json:"rows"`
	HeldOutTasks     []string                   `json:"held_out_tasks,omitempty"`
	HeldOut          []session.Row              `json:"held_out,omitempty"`
	Correlations     []search.BudgetCorrelation `json:"rank_correlations,omitempty"`
	SamplesEvaluated int                        `json:"samples_evaluated"`
	SamplesReused    int                        `json:"samples_reused"`
	PeakRSSMB        int                        `json:"peak_rss_mb"`
	CachePeakMB      int                        `json:"cache_peak_mb"`
	Kernel           string                     `json:"kernel"`
	// Repair counts the cuts repaired in this process, the fits computed
	// for them and their time (with --repair).
	Repair *stitch.RepairStats `json:"repair,omitempty"`
}
