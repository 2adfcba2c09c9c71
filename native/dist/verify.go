package dist

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/plan"
)

// RecheckTolerance is how far a row's retention from the workers may be
// from this process's before it is a mismatch: workers on other CPUs
// (AVX2 against AVX-512 kernels) round differently in the last digits,
// a lying worker moves retentions by percents.
const RecheckTolerance = 1e-4

// Mismatch is a final-table row whose workers' numbers this process does
// not reproduce.
type Mismatch struct {
	Row       string
	Workers   []string // the workers whose results the row (or its reference) used
	Remote    []float64
	Local     []float64
	Objective [2]float64 // workers', this process's
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s: the workers' results give retention %s (objective %.4f), this process's re-evaluation %s (objective %.4f); results from worker(s) %s",
		m.Row, pct(m.Remote), m.Objective[0], pct(m.Local), m.Objective[1], strings.Join(m.Workers, ", "))
}

func pct(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f%%", 100*x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Recheck returns session s's Recheck for a distributed run: every row
// of the final table (the winner and each baseline) and the reference
// are evaluated again in this process, from nothing the workers sent;
// the table then shows this process's numbers, and each row whose
// workers' numbers differ is reported on log naming the workers (and
// passed to onMismatch, when set).
func (p *Pool) Recheck(s *session.Session, log io.Writer, onMismatch func(Mismatch)) func(context.Context, []session.Row, int) error {
	return func(ctx context.Context, rows []session.Row, budget int) error {
		local := session.New(s.Family, s.Specs)
		local.Objective, local.Repair, local.Blocks = s.Objective, s.Repair, s.Blocks
		fresh := make([]session.Row, len(rows))
		for i, r := range rows {
			r.Retention, r.Objective, r.CI = nil, 0, nil
			fresh[i] = r
		}
		if log != nil {
			fmt.Fprintf(log, "dist: re-evaluating the final table (%d rows) in this process (the workers' results are checked, not trusted)\n", len(rows))
		}
		if err := local.ScoreRows(ctx, fresh, budget, 1); err != nil {
			return fmt.Errorf("re-evaluating the final table in this process: %w", err)
		}
		ref := p.Workers(session.Target{Model: plan.BaseAlias})
		for i := range rows {
			if !near(rows[i].Retention, fresh[i].Retention) || !near([]float64{rows[i].Objective}, []float64{fresh[i].Objective}) {
				ws := append(p.Workers(rows[i].Target()), ref...)
				slices.Sort(ws)
				ws = slices.Compact(ws)
				if len(ws) == 0 {
					ws = []string{"(none recorded: results stored before this coordinator started)"}
				}
				m := Mismatch{Row: rows[i].Name(), Workers: ws, Remote: rows[i].Retention, Local: fresh[i].Retention, Objective: [2]float64{rows[i].Objective, fresh[i].Objective}}
				if log != nil {
					fmt.Fprintf(log, "dist: WARNING: MISMATCH in the final table: %s. The table shows this process's numbers; the search followed the workers' and may have missed better candidates: rerun without those workers\n", m)
				}
				if onMismatch != nil {
					onMismatch(m)
				}
			}
			rows[i].Retention, rows[i].Objective, rows[i].CI = fresh[i].Retention, fresh[i].Objective, fresh[i].CI
		}
		return nil
	}
}

// near compares retentions within RecheckTolerance (NaN equals NaN).
func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.IsNaN(a[i]) && math.IsNaN(b[i]) {
			continue
		}
		if !(math.Abs(a[i]-b[i]) <= RecheckTolerance) {
			return false
		}
	}
	return true
}
