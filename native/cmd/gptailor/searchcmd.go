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
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/progress"
	"github.com/gptailor/gptailor/native/prune"
	"github.com/gptailor/gptailor/native/runlock"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/scorer"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/sysmem"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

func runSearch(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fam memberFlags
	fs.Var(&fam, "family", "[alias=]DIR of a family model, the base first (repeatable)")
	remove := fs.Int("remove", 1, "layers to remove")
	paramBudget := fs.Float64("param-budget", 0, "instead of --remove: keep at most this fraction of the base's parameters (e.g. 0.8)")
	methods := fs.String("methods", "", "extension: also search the merge method per layer among these (task_arithmetic,ties,linear,slerp)")
	reference := fs.String("reference", session.DefaultObjective.Reference, "retention per task against: base (the dense base) or best (the best dense member of the family on that task)")
	aggregate := fs.String("aggregate", session.DefaultObjective.Aggregate, "the tasks' retentions combined (with their weights) by: min (the weakest task), mean, geomean or paper (mean accuracy ÷ the reference's)")
	spaceKind := fs.String("space", "full", "the search space, for ablations: full (removal, selection and merging), selection (removal and whole layers from one model each) or removal (base layers only)")
	weights := fs.Bool("weights", false, "extension: also search a weight per fine-tune in merges")
	tasksPath := fs.String("tasks", "", "task list (YAML/JSON) or one task JSONL")
	reportTasks := fs.String("report-tasks", "", "held-out task list: never seen by the search, scored at the end for the winner, its Pareto set and every baseline")
	runDir := fs.String("run", "", "run directory (journal, report, best plan)")
	def := session.DefaultSettings() // the server's and the app's too
	optName := fs.String("optimizer", def.Optimizer, "bo (random forest on every budget's trials + EI + local search, ParEGO over the tasks), bo-mean (the same on the mean cost), bo-highest (SMAC's rule: the model sees only the highest budget's trials) or random")
	trials := fs.Int("trials", def.Trials, "evaluations (config × budget); 0: no limit")
	dur := fs.Duration("time", 0, "wall-time budget (0: none)")
	minB := fs.Int("min-budget", def.MinBudget, "samples per task at the lowest fidelity")
	maxB := fs.Int("max-budget", def.MaxBudget, "samples per task at full fidelity")
	eta := fs.Float64("eta", def.Eta, "Hyperband's η")
	seed := fs.Uint64("seed", 0, "random seed")
	seeds := fs.String("seeds", "", "run the search once per seed (e.g. 0,1,2 or 0-4) in RUN/seed-N and compare the winners (mean ± s.e.)")
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
	batch := fs.Int("batch", 0, "trials evaluated at once (default: the number of workers; 1 without): waves from overlapping Hyperband brackets; the journal depends on the seed and the batch only")
	distOpts := distFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object (the result rows, held-out rows, rank correlations, samples, peak_rss_mb) instead of the tables")
	granularity := fs.String("granularity", "layer", "layer (whole layers) or block: attention and MLP sub-blocks removed and sourced separately, removing at least the parameters of --remove layers (or --param-budget)")
	repairOpt := repairFlags(fs, "apply ReplaceMe's linear repair, fitted on this calibration text (text or JSONL), to every candidate and to the pruning baselines")
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
	if *seeds != "" {
		if set["seed"] || *resume {
			return fail(stderr, "search", errors.New("--seeds runs one search per seed: leave out --seed and --resume"))
		}
		return runSeeds(args, *seeds, *runDir, stdout, stderr)
	}
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
		atLeast("--batch", *batch, 0),
		distOpts.Validate(),
	); err != nil {
		return fail(stderr, "search", err)
	}
	var methodList []string
	if *methods != "" {
		methodList = strings.Split(*methods, ",")
	}
	spec := session.RunSpec{Family: fam, Remove: *remove, ParamBudget: *paramBudget, Methods: methodList, Weights: *weights, Space: *spaceKind, Objective: session.Objective{Reference: *reference, Aggregate: *aggregate}, ReportTasks: absPathOrEmpty(*reportTasks), Tasks: absPathOrEmpty(*tasksPath), Settings: search.Settings{
		Optimizer: *optName, Seed: *seed, Trials: *trials, Duration: *dur, MinBudget: *minB, MaxBudget: *maxB, Eta: *eta, WarmStart: *warm, Batch: *batch},
		Granularity: *granularity, Repair: repairOpt()}
	if err := spec.Settings.Validate(); err != nil {
		return fail(stderr, "search", err)
	}
	runLock, err := runlock.Acquire(*runDir, "gptailor search --run "+*runDir)
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer runLock.Release()
	journalPath, specPath := search.RunDir(*runDir)
	writeSpec := true
	if *resume {
		saved, err := session.ReadSpec(specPath)
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
	if *cacheMB < 0 {
		*cacheMB = sysmem.FractionMB(0.4)
	}
	if *prefixMB < 0 {
		// The prefix cache wants room: on a 135M-shaped model's 60-trial
		// trace it gave 1.23× (of a possible 1.26×) with 6 GiB, 1.07× with 1 GiB.
		*prefixMB = sysmem.FractionMB(0.25)
	}
	fam2, err := session.OpenFamily(spec.Family, session.FamilyOptions{CacheBytes: int64(*cacheMB) << 20, PrefixBytes: int64(*prefixMB) << 20})
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer fam2.Close()
	base := fam2.Base()
	if *paramBudget > 0 && !*resume {
		var kept float64
		spec.Remove, kept = fam2.RemoveFor(*paramBudget)
		if spec.Blocks() {
			total := base.Params()
			fmt.Fprintf(stderr, "--param-budget %.3g: removing sub-blocks of at least %s of the %s parameters\n", *paramBudget, human(int64(math.Ceil(float64(total)*(1-*paramBudget)))), human(total))
		} else {
			fmt.Fprintf(stderr, "--param-budget %.3g: removing %d of %d layers keeps %.1f%% of the parameters\n", *paramBudget, spec.Remove, base.Config.NumHiddenLayers, 100*kept)
		}
	}
	if _, err := fam2.Space(spec); err != nil {
		return fail(stderr, "search", err)
	}
	specs, err := session.RunTasks(spec, "", nil)
	if err != nil {
		return fail(stderr, "search", err)
	}
	list := &task.List{Tasks: specs}
	if err := spec.Objective.Validate(list.Tasks); err != nil {
		return fail(stderr, "search", err)
	}
	if spec.ReportTasks != "" {
		if _, err := task.ReadList(spec.ReportTasks); err != nil {
			return fail(stderr, "search", fmt.Errorf("--report-tasks: %w", err))
		}
	}
	if err := cacheFits(*cacheMB, base); err != nil {
		return fail(stderr, "search", err)
	}
	ses := session.New(fam2, list.Tasks)
	// The caches (the heads are in them), scoring's buffers and room for a
	// merge in flight.
	seq := 2048
	for _, t := range list.Tasks {
		seq = max(seq, t.Seq)
	}
	sysmem.SoftLimit(fam2.HeapLimit(seq))
	if spec.RunID == "" {
		spec.RunID, writeSpec = session.NewRunID(), true
	}
	if err := os.MkdirAll(*runDir, 0o755); err != nil {
		return fail(stderr, "search", err)
	}
	// SIGTERM (a service manager, kill) stops it as Ctrl-C does: the
	// journal is closed, the report written, the workers stopped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *resume && spec.Settings.Batch == 0 {
		spec.Settings.Batch = 1 // the run's: workers joining now do not change its journal
	}
	batchBefore := spec.Settings.Batch
	stopDist, err := distribute(ctx, ses, &spec, *runDir, *distOpts, *cacheMB, *prefixMB, set["prefix-cache-mb"], stderr)
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer stopDist()
	if writeSpec || spec.Settings.Batch != batchBefore { // the batch shapes the journal: it is the run's
		if err := session.WriteSpec(specPath, spec); err != nil {
			return fail(stderr, "search", err)
		}
	}
	opts := session.RunOptions{Dir: *runDir, Truncate: *truncate, Compare: *compare, Log: stderr}
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
		opts.Scorer = &session.Scorer{Host: h, Module: mod}
	}
	bar := progress.New(stderr, "search", "trials", spec.Settings.Trials)
	opts.OnTrial = func(search.Trial) { bar.Add(1) }
	start := time.Now()
	out, err := ses.RunSearch(ctx, spec, opts)
	bar.Finish()
	if err != nil {
		return fail(stderr, "search", err)
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return fail(stderr, "search", err)
		}
	}
	evaluated, reused := ses.SampleCounts()
	_, cachePeak := fam2.Builder.Cache().Bytes()
	if *asJSON {
		sum := searchSummary{Run: *runDir, Trials: len(out.Trials), Seconds: time.Since(start).Seconds(), Objective: spec.Objective.String(),
			Tasks: ses.Tasks(), Rows: out.Rows, HeldOutTasks: out.HeldOutTasks, HeldOut: out.HeldOut, Correlations: search.RankCorrelations(out.Trials),
			SamplesEvaluated: evaluated, SamplesReused: reused, PeakRSSMB: sysmem.PeakRSSMB(), CachePeakMB: int(cachePeak >> 20), Kernel: kernel.Active()}
		if spec.Repair != nil {
			rs := fam2.Builder.RepairStats()
			sum.Repair = &rs
		}
		b, err := json.Marshal(sum)
		if err != nil {
			return fail(stderr, "search", fmt.Errorf("--json: %w", err))
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printSearch(stdout, ses.Tasks(), spec.Objective, out, time.Since(start), *runDir)
		if evaluated+reused > 0 {
			fmt.Fprintf(stdout, "\nsamples: %d evaluated, %d reused from the same plan at a lower budget or a duplicate (%.0f%% saved)\n", evaluated, reused, 100*float64(reused)/float64(evaluated+reused))
		}
		if spec.Repair != nil {
			rs := fam2.Builder.RepairStats()
			fmt.Fprintf(stdout, "\nrepair: %d cuts repaired, %d fits computed in %.1f s (%.2f s per fit; the others came from the cache)", rs.Cuts, rs.Fits, rs.Seconds, rs.Seconds/float64(max(rs.Fits, 1)))
			if len(out.Trials) > 0 {
				fmt.Fprintf(stdout, ", %.2f s per trial", rs.Seconds/float64(len(out.Trials)))
			}
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "\nmemory: peak %d MiB resident; packed layers peaked at %d MiB of the %d MiB --cache-mb (kernel %s)\n",
			sysmem.PeakRSSMB(), cachePeak>>20, *cacheMB, kernel.Active())
	}
	if *buildOut != "" {
		res, err := build.Build(fam2.Builder, out.Winner().Plan, build.Options{Out: *buildOut, Force: true})
		if err != nil {
			return fail(stderr, "search", err)
		}
		fmt.Fprintf(stdout, "built %s (%d tensors)\n", res.Dir, res.Tensors)
	}
	return 0
}

func printSearch(w io.Writer, tasks []string, obj session.Objective, out *session.Outcome, el time.Duration, dir string) {
	fmt.Fprintf(w, "search: %d trials in %.1f s; report, journal and best plan in %s\n\n", len(out.Trials), el.Seconds(), dir)
	fmt.Fprintln(w, "winning plan:")
	for i, s := range out.Winner().Plan.Slots {
		fmt.Fprintf(w, "  slot %d  %s\n", i, strings.TrimSpace(s.Describe()))
	}
	fmt.Fprintf(w, "\nretention per task (primary metric, vs the %s; the objective: %s, with the tasks' weights):\n", obj.RefName(), obj)
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
		fmt.Fprintf(w, "\ndo cheap budgets predict expensive ones? rank correlation of the objective (Spearman, Kendall):\n")
		for _, c := range corr {
			fmt.Fprintf(w, "  budget %d → %d: %s, %s over %d configurations\n", c.Low, c.High, plan.Sig3(c.Spearman), plan.Sig3(c.Kendall), c.N)
		}
	}
	if len(out.HeldOut) == 0 {
		return
	}
	fmt.Fprintf(w, "\nheld-out tasks (never seen by the search; same objective):\n  %-40s %9s", "plan", "search")
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
	res, p, err := prune.Baseline(*method, stitch.New(f, 1<<30), models, plan.BaseAlias, wins, *n, laco)
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
		p = q
	}
	b, _ := plan.Marshal(p)
	return writeOut(*out, append(b, '\n'), stdout, stderr, "prune")
}

// cacheFits refuses a layer cache that cannot hold one packed layer of the
// base (16-bit when the kernel keeps BF16 weights so and the base is BF16).
func cacheFits(cacheMB int, base *model.Model) error {
	per := int64(4)
	if dt := base.Tensors.DTypes(); kernel.HalfWeights() && dt[safetensors.BF16]+dt[safetensors.F16] > 0 && dt[safetensors.F32] == 0 {
		per = 2
	}
	layer := base.LayerParams() * per
	if cacheMB > 0 && int64(cacheMB)<<20 < layer {
		return fmt.Errorf("--cache-mb %d cannot hold one packed layer of %s (%d MiB): raise it", cacheMB, base.Name, (layer+1<<20-1)>>20)
	}
	return nil
}

func absPathOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	return session.AbsPath(p)
}

// searchSummary is what search --json prints.
type searchSummary struct {
	Run              string                     `json:"run"`
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
