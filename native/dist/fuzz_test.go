package dist

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/task"
)

// The job decoder never panics, and what it accepts has its bounds.
func FuzzDecodeJob(f *testing.F) {
	j := session.NewJob(session.Target{Model: "code"}, 3, 1)
	b, _ := json.Marshal(jobMsg{Run: "r1", Fingerprint: "0123456789abcdef01234567", Job: j})
	f.Add(b)
	f.Add([]byte(`{"run":"r","fingerprint":"0123456789abcdef01234567","job":{"id":"x","from":-5}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		jm, err := decodeJob(b, 5)
		if err != nil {
			return
		}
		if jm.Job.From < 0 || jm.Job.Budget < 0 || jm.Job.Budget > MaxBudget || (jm.Job.Target.Plan != nil && len(jm.Job.Target.Plan.Slots) > 20) {
			t.Fatalf("accepted %+v", jm.Job)
		}
	})
}

// The result decoder and checker never panic, and an accepted result has
// finite primary metrics.
func FuzzCheckResult(f *testing.F) {
	specs := []task.Spec{{Name: "p", Type: "perplexity"}, {Name: "m", Type: "multiple_choice"}}
	j := session.NewJob(session.Target{Model: "code"}, 2, 0)
	gold, pred, ok := 1, 1, true
	good := &resultMsg{Job: j.ID, Worker: "w", Results: []*task.Result{
		{Name: "p", Type: "perplexity", NOriginal: 2, NEffective: 2, Samples: []task.Sample{{NLL: 3, Tokens: 4, Bytes: 9}, {NLL: 2, Tokens: 4, Bytes: 8}}},
		{Name: "m", Type: "multiple_choice", NOriginal: 5, NEffective: 2, Samples: []task.Sample{{LL: []float64{-3, -1}, Gold: &gold, Pred: &pred, Correct: &ok, Tokens: 2}, {LL: []float64{-3, -1}, Gold: &gold, Pred: &pred, Correct: &ok, Tokens: 2}}},
	}}
	b, _ := good.encode()
	f.Add(b)
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResult(b)
		if err != nil {
			return
		}
		if checkResult(r, j, specs, map[string]int{}) != nil || r.Error != "" {
			return
		}
		for _, res := range r.Results {
			if v := res.Metrics[res.Primary]; len(res.Samples) > 0 && !finite(v) {
				t.Fatalf("accepted a result with %s = %v", res.Primary, v)
			}
		}
	})
}

// The heartbeat decoder never panics and accepts nothing from the future.
func FuzzDecodeHeartbeat(f *testing.F) {
	f.Add([]byte(`{"name":"w1","fingerprint":"abc","at":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		h, err := decodeHeartbeat(b, now)
		if err == nil && (h.At.After(now.Add(ClockSkew)) || len([]rune(h.Name)) > MaxNameRunes+1) {
			t.Fatalf("accepted %+v", h)
		}
	})
}
