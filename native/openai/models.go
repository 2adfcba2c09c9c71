package openai

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/plan"
)

// Model is one entry of GET /v1/models: OpenAI's fields, with owned_by
// saying what it is (member, plan or trial) and Meta the details.
type Model struct {
	ID      string    `json:"id"`
	Object  string    `json:"object"`
	Created int64     `json:"created"`
	OwnedBy string    `json:"owned_by"`
	Meta    ModelMeta `json:"meta"`
}

// ModelMeta describes a served model.
type ModelMeta struct {
	Kind            string   `json:"kind"` // member, plan or trial
	Params          int64    `json:"params"`
	FractionRemoved float64  `json:"fraction_removed"`
	Layers          int      `json:"layers"`
	Source          string   `json:"source,omitempty"` // the member's directory or the plan's file
	Run             string   `json:"run,omitempty"`
	Trial           *int     `json:"trial,omitempty"`
	Objective       *float64 `json:"objective,omitempty"`
	Samples         int      `json:"samples,omitempty"` // the budget the trial was judged on
	Context         int      `json:"context"`
}

// registry resolves model ids: members by alias, plans by file name, and
// trials read from the runs' journals when asked for (a run may grow or go
// while the server runs).
type registry struct {
	fam     *session.Family
	info    *plan.Family
	plans   map[string]*plan.Plan
	paths   map[string]string
	order   []string // plan ids in the order given
	runsDir string
	created int64
}

var runName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRegistry(f *session.Family, planFiles []string, runsDir string) (*registry, error) {
	r := &registry{fam: f, info: f.Info(), plans: map[string]*plan.Plan{}, paths: map[string]string{}, runsDir: runsDir, created: time.Now().Unix()}
	for _, path := range planFiles {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--plan %s: %w", path, err)
		}
		p, err := plan.ParseFor(raw, r.info)
		if err != nil {
			return nil, fmt.Errorf("--plan %s: %w", path, err)
		}
		id := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		if _, dup := r.plans[id]; dup {
			return nil, fmt.Errorf("--plan %s: a plan named %q is already served (%s); rename one", path, id, r.paths[id])
		}
		if _, member := f.Model(id); member {
			return nil, fmt.Errorf("--plan %s: %q is also a family member's alias; rename the file", path, id)
		}
		r.plans[id], r.paths[id] = p, path
		r.order = append(r.order, id)
	}
	return r, nil
}

// entry is a resolved model id.
type entry struct {
	Model
	target session.Target
}

func (r *registry) base() ModelMeta {
	b := r.fam.Base()
	return ModelMeta{Params: b.Params(), Layers: r.info.Layers, Context: b.Config.MaxPositionEmbeddings}
}

func (r *registry) member(alias string) entry {
	m, _ := r.fam.Model(alias)
	meta := r.base()
	meta.Kind, meta.Source = "member", m.Dir
	return entry{Model{ID: alias, Object: "model", Created: r.created, OwnedBy: "member", Meta: meta}, session.Target{Model: alias}}
}

func (r *registry) planEntry(id string, p *plan.Plan, kind string) entry {
	meta := r.base()
	meta.Kind = kind
	meta.Params, meta.FractionRemoved, meta.Layers = p.ParamCount(r.info), p.FractionRemoved(r.info), len(p.Slots)
	return entry{Model{ID: id, Object: "model", Created: r.created, OwnedBy: kind, Meta: meta}, session.Target{Plan: p}}
}

// list is every model: members, plans, then each run's trials and best.
func (r *registry) list() []Model {
	var out []Model
	for _, alias := range r.fam.Names() {
		out = append(out, r.member(alias).Model)
	}
	for _, id := range r.order {
		e := r.planEntry(id, r.plans[id], "plan")
		e.Meta.Source = r.paths[id]
		out = append(out, e.Model)
	}
	if r.runsDir == "" {
		return out
	}
	dirs, _ := os.ReadDir(r.runsDir)
	names := []string{}
	for _, d := range dirs {
		if d.IsDir() && runName.MatchString(d.Name()) && d.Name()[0] != '.' {
			names = append(names, d.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		trials, best, err := r.trials(name)
		if err != nil {
			continue // not a run, or a run of another family
		}
		out = append(out, trials...)
		if best != nil {
			out = append(out, best.Model)
		}
	}
	return out
}

// run reads a run's spec and space.
func (r *registry) run(name string) (string, *search.Space, error) {
	if r.runsDir == "" {
		return "", nil, errors.New("the server was started without --runs")
	}
	if !runName.MatchString(name) || name[0] == '.' {
		return "", nil, fmt.Errorf("%q is not a run name", name)
	}
	dir := filepath.Join(r.runsDir, name)
	journal, specPath := search.RunDir(dir)
	spec, err := session.ReadSpec(specPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil, fmt.Errorf("no run %s under %s", name, r.runsDir)
		}
		return "", nil, err
	}
	space, err := r.fam.Space(spec)
	if err != nil {
		return "", nil, fmt.Errorf("run %s was searched over another family: %w", name, err)
	}
	return journal, space, nil
}

func (r *registry) trialEntry(run string, space *search.Space, t search.Trial, id string) (*entry, error) {
	p, err := space.Plan(t.Config, nil)
	if err != nil {
		return nil, fmt.Errorf("run %s, trial %d: %w", run, t.Index, err)
	}
	e := r.planEntry(id, p, "trial")
	idx := t.Index
	e.Meta.Run, e.Meta.Trial, e.Meta.Samples = run, &idx, t.Budget
	if !math.IsNaN(t.Objective) && !math.IsInf(t.Objective, 0) && t.Error == "" {
		v := t.Objective
		e.Meta.Objective = &v
	}
	return &e, nil
}

// trials lists a run's trials (a trial evaluated at several budgets is
// listed once, at its last) and its winner as RUN/best.
func (r *registry) trials(run string) ([]Model, *entry, error) {
	journal, space, err := r.run(run)
	if err != nil {
		return nil, nil, err
	}
	last := map[int]search.Trial{}
	var order []int
	var lead search.Leader
	err = search.ScanJournal(journal, func(t search.Trial) error {
		if _, seen := last[t.Index]; !seen {
			order = append(order, t.Index)
		}
		last[t.Index] = t
		lead.Add(t)
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	var out []Model
	for _, i := range order {
		e, err := r.trialEntry(run, space, last[i], fmt.Sprintf("%s/trial-%d", run, i))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e.Model)
	}
	var best *entry
	if w, ok := lead.Best(); ok {
		if best, err = r.trialEntry(run, space, w, run+"/best"); err != nil {
			return nil, nil, err
		}
	}
	return out, best, nil
}

// resolve finds a model id, or a 404 saying why.
func (r *registry) resolve(id string) (*entry, error) {
	if id == "" {
		return nil, badParam("model", "model: required (GET /v1/models lists them)")
	}
	if _, ok := r.fam.Model(id); ok {
		e := r.member(id)
		return &e, nil
	}
	if p, ok := r.plans[id]; ok {
		e := r.planEntry(id, p, "plan")
		e.Meta.Source = r.paths[id]
		return &e, nil
	}
	run, which, ok := strings.Cut(id, "/")
	if !ok {
		return nil, notFound(id, "model %q: not a family member (%s), a --plan or RUN/trial-N or RUN/best of a run under --runs", id, strings.Join(r.fam.Names(), ", "))
	}
	journal, space, err := r.run(run)
	if err != nil {
		return nil, notFound(id, "model %q: %v", id, err)
	}
	want := -1
	if which != "best" {
		n, err := strconv.Atoi(strings.TrimPrefix(which, "trial-"))
		if !strings.HasPrefix(which, "trial-") || err != nil || n < 0 {
			return nil, notFound(id, "model %q: a run's models are %s/trial-N and %s/best", id, run, run)
		}
		want = n
	}
	var found *search.Trial
	var lead search.Leader
	err = search.ScanJournal(journal, func(t search.Trial) error {
		if t.Index == want {
			tt := t
			found = &tt
		}
		lead.Add(t)
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, internal(fmt.Errorf("run %s: %w", run, err))
	}
	if want < 0 {
		w, ok := lead.Best()
		if !ok {
			return nil, notFound(id, "model %q: run %s has no successful trial yet", id, run)
		}
		found = &w
	}
	if found == nil {
		return nil, notFound(id, "model %q: run %s has no trial %d (yet)", id, run, want)
	}
	e, err := r.trialEntry(run, space, *found, id)
	if err != nil {
		return nil, internal(err)
	}
	return e, nil
}

func (a *API) listModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, struct {
		Object string  `json:"object"`
		Data   []Model `json:"data"`
	}{"list", a.models.list()})
}

func (a *API) getModel(w http.ResponseWriter, r *http.Request) {
	e, err := a.models.resolve(strings.TrimPrefix(r.URL.Path, "/v1/models/"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, e.Model)
}
