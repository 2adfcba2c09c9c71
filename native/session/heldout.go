package session

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/task"
)

// Overlap lists the report tasks that share documents with what the
// search tasks read at budget samples (same text), naming both tasks, how
// many documents and the first shared line: held-out figures from seen
// text would flatter the winner. A perplexity task in windows reads the
// documents its first budget windows span; other tasks their first budget
// documents (all of them with a seeded subset). Files that are not text
// documents (e.g. multiple choice items) are compared as files.
func (s *Session) Overlap(report []task.Spec, budget int) []string {
	return overlap(SpecsAt(s.Specs, budget), report, func(text string) int { return len(s.Family.Tok.Encode(text, true)) })
}

func overlap(search, report []task.Spec, tokens func(string) int) []string {
	type where struct {
		task string
		line int
	}
	seen := map[string]where{}
	files := map[string]string{}
	for _, s := range search {
		abs, _ := filepath.Abs(s.Path)
		files[abs] = s.Name
		docs, err := corpus.Read(s.Path)
		if err != nil {
			continue
		}
		docs = used(s, docs, tokens)
		for i, d := range docs {
			if _, ok := seen[d.Text]; !ok {
				seen[d.Text] = where{s.Name, i + 1}
			}
		}
	}
	var out []string
	for _, r := range report {
		abs, _ := filepath.Abs(r.Path)
		if name, ok := files[abs]; ok {
			out = append(out, fmt.Sprintf("report task %s reads %s, the file of search task %s", r.Name, r.Path, name))
			continue
		}
		docs, err := corpus.Read(r.Path)
		if err != nil {
			continue
		}
		shared := map[string]int{}
		first := map[string]string{}
		for i, d := range docs {
			if w, ok := seen[d.Text]; ok {
				shared[w.task]++
				if first[w.task] == "" {
					first[w.task] = fmt.Sprintf("%s line %d is %s's document %d", r.Path, i+1, w.task, w.line)
				}
			}
		}
		for name, n := range shared {
			out = append(out, fmt.Sprintf("report task %s shares %d of its %d documents with search task %s (%s)", r.Name, n, len(docs), name, first[name]))
		}
	}
	return out
}

// used are the documents a task reads at its limit.
func used(s task.Spec, docs []corpus.Document, tokens func(string) int) []corpus.Document {
	if s.Limit == 0 || s.Seed != nil {
		return docs
	}
	if !s.Windows {
		return docs[:min(len(docs), s.Limit)]
	}
	seq := s.Seq
	if seq == 0 {
		seq = 256
	}
	need, n := s.Limit*seq+1, 0
	for i, d := range docs {
		if n += tokens(d.Text); n >= need {
			return docs[:i+1]
		}
	}
	return docs
}

// HeldOut scores rows on held-out report tasks at a budget, against the
// same reference and with the same objective as the search, in this
// process; rows keep their search-task figures and gain held-out ones.
func (s *Session) HeldOut(ctx context.Context, specs []task.Spec, rows []Row, budget, batch int) ([]Row, error) {
	h := &Session{Family: s.Family, Specs: specs, Runner: &Local{Family: s.Family, Specs: specs}, Objective: s.Objective}
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = Row{Kind: r.Kind, Model: r.Model, Removed: r.Removed, RemovedAttn: r.RemovedAttn, RemovedMLP: r.RemovedMLP, Trial: r.Trial, Plan: r.Plan}
	}
	if err := h.ScoreRows(ctx, out, budget, batch); err != nil {
		return nil, fmt.Errorf("held-out tasks: %w", err)
	}
	return out, nil
}

// paretoRows are the Pareto set's plans at the top budget (the winner's
// trial left out: it has its own row).
func paretoRows(space *search.Space, trials []search.Trial, dirs map[string]string, winner int) []Row {
	_, at, front := search.ParetoSet(trials)
	var out []Row
	for _, i := range front {
		t := at[i]
		if t.Index == winner {
			continue
		}
		p, err := space.Plan(t.Config, dirs)
		if err != nil {
			continue
		}
		p.Name = fmt.Sprintf("pareto-trial-%d", t.Index)
		out = append(out, Row{Kind: KindPareto, Trial: t.Index, Plan: p})
	}
	return out
}
