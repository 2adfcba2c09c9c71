package main

import (
	"github.com/gptailor/gptailor/native/atomicfile"

	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/mergekit"
	"github.com/gptailor/gptailor/shared/plan"
)

// readPlan parses a plan file (structure only).
func readPlan(path string) (*plan.Plan, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := plan.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// loadPlan reads a plan and opens the family it names (its models,
// overridden or completed by --family flags; base first, then the other
// aliases sorted), checking the plan against that family in the same pass
// so every problem is listed at once. Without any models it checks the
// structure only and returns a nil family.
// planBuilder is the builder eval and build run a plan with: its repairs
// read calibration text with the base's tokenizer.
func planBuilder(f *model.Family) (*stitch.Builder, error) {
	b := stitch.New(f, int64(session.DefaultCacheMB())<<20)
	tok, err := tokenizer.Load(f.Base().Dir)
	if err != nil {
		return nil, err
	}
	b.Calibrate = session.CalibrationReader(tok, f.Base().Config.MaxPositionEmbeddings)
	return b, nil
}

func loadPlan(path string, extra memberFlags) (*plan.Plan, *model.Family, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var pre struct {
		Models map[string]string `json:"models"`
	}
	json.Unmarshal(raw, &pre) // a malformed document is reported by Parse below
	dirs := map[string]string{}
	for a, d := range pre.Models {
		dirs[a] = d
	}
	for _, m := range extra {
		dirs[m.Alias] = m.Dir
	}
	if len(dirs) == 0 {
		p, err := plan.Parse(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return p, nil, nil
	}
	if dirs[plan.BaseAlias] == "" {
		return nil, nil, fmt.Errorf(`%s: the plan names no base model: add "models": {"base": DIR, ...} to it or pass --family base=DIR`, path)
	}
	members := []model.Member{{Alias: plan.BaseAlias, Dir: dirs[plan.BaseAlias]}}
	var rest []string
	for a := range dirs {
		if a != plan.BaseAlias {
			rest = append(rest, a)
		}
	}
	sort.Strings(rest)
	for _, a := range rest {
		members = append(members, model.Member{Alias: a, Dir: dirs[a]})
	}
	f, err := model.OpenFamily(members)
	if err != nil {
		return nil, nil, err
	}
	p, err := plan.ParseFor(raw, stitch.Info(f))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, m := range extra {
		if p.Models == nil {
			p.Models = map[string]string{}
		}
		p.Models[m.Alias] = m.Dir
	}
	return p, f, nil
}

func runPlan(args []string, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintln(stderr, `usage: gptailor plan <validate|show|to-mergekit|from-mergekit> ...

  validate PLAN [--family alias=DIR ...]   check a plan (against its family when it names one)
  show PLAN [--family alias=DIR ...]       slots, recipes, parameters, fraction removed
  to-mergekit PLAN [-o FILE]               write the plan as a mergekit config (or say why it cannot be)
  from-mergekit CONFIG.yml -o PLAN.json    import a mergekit config (model paths are directories)`)
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("plan "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fam memberFlags
	fs.Var(&fam, "family", "alias=DIR of a family model (repeatable; overrides the plan's models)")
	out := fs.String("o", "", "output file")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		return usage()
	}
	switch sub {
	case "validate", "show":
		p, f, err := loadPlan(pos[0], fam)
		if err != nil {
			return fail(stderr, "plan "+sub, err)
		}
		var info *plan.Family
		if f != nil {
			defer f.Close()
			info = stitch.Info(f)
		}
		if sub == "validate" {
			if info == nil {
				fmt.Fprintf(stdout, "%s: valid (structure only: the plan names no models, pass --family to check layers)\n", pos[0])
			} else {
				fmt.Fprintf(stdout, "%s: valid: %d slots, %s parameters, %.1f%% removed\n", pos[0], len(p.Slots), human(p.ParamCount(info)), 100*p.FractionRemoved(info))
			}
			return 0
		}
		showPlan(stdout, p, info)
		return 0
	case "to-mergekit":
		p, err := readPlan(pos[0])
		if err != nil {
			return fail(stderr, "plan to-mergekit", err)
		}
		y, err := mergekit.Export(p)
		if err != nil {
			return fail(stderr, "plan to-mergekit", err)
		}
		return writeOut(*out, y, stdout, stderr, "plan to-mergekit")
	case "from-mergekit":
		raw, err := os.ReadFile(pos[0])
		if err != nil {
			return fail(stderr, "plan from-mergekit", err)
		}
		p, err := mergekit.Import(raw, func(dir string) (int, error) {
			m, err := model.Open(dir)
			if err != nil {
				return 0, err
			}
			defer m.Close()
			return m.Config.NumHiddenLayers, nil
		})
		if err != nil {
			return fail(stderr, "plan from-mergekit", fmt.Errorf("%s: %w", pos[0], err))
		}
		if p.Name == "" {
			p.Name = strings.TrimSuffix(filepath.Base(pos[0]), filepath.Ext(pos[0]))
		}
		b, err := plan.Marshal(p)
		if err != nil {
			return fail(stderr, "plan from-mergekit", err)
		}
		return writeOut(*out, append(b, '\n'), stdout, stderr, "plan from-mergekit")
	}
	return usage()
}

func writeOut(path string, b []byte, stdout, stderr io.Writer, cmd string) int {
	if path == "" || path == "-" {
		stdout.Write(b)
		return 0
	}
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fail(stderr, cmd, err)
	}
	fmt.Fprintf(stderr, "wrote %s\n", path)
	return 0
}

func showPlan(w io.Writer, p *plan.Plan, info *plan.Family) {
	if p.Name != "" {
		fmt.Fprintf(w, "plan %s\n", p.Name)
	}
	fmt.Fprintf(w, "%-5s %-50s %s\n", "slot", "recipe", "recipe hash")
	for i, s := range p.Slots {
		fmt.Fprintf(w, "%-5d %-50s %s\n", i, strings.TrimSpace(s.Describe()), p.SlotHash(i)[:12])
	}
	outer := func(o *plan.Outer) string {
		switch {
		case o == nil:
			return "base"
		case o.Merge != nil:
			return strings.TrimSpace(plan.Slot{Merge: o.Merge}.Describe())
		}
		return o.Model
	}
	fmt.Fprintf(w, "embed  %s\nhead   %s\n", outer(p.Embed), outer(p.Head))
	if r := p.Repair; r != nil {
		fmt.Fprintf(w, "repair %s on %s (%d windows of %d tokens, ridge %g)", r.Method, r.Calibration, r.SamplesOr(), r.SeqOr(), r.RidgeOr())
		if info != nil {
			for _, c := range p.Cuts(info.Layers) {
				if c.Slot < 0 {
					fmt.Fprintf(w, "; layers %d–%d not repaired (before the first kept layer)", c.From, c.To-1)
				} else {
					fmt.Fprintf(w, "; layers %d–%d into slot %d", c.From, c.To-1, c.Slot)
				}
			}
		}
		fmt.Fprintln(w)
	}
	if info != nil {
		fmt.Fprintf(w, "params %s of the base's %s (%.1f%% removed)\n", human(p.ParamCount(info)), human(info.OuterParams+int64(info.Layers)*info.LayerParams), 100*p.FractionRemoved(info))
	}
}
