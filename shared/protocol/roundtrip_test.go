package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gptailor/gptailor/shared/plan"
)

// Every wire message survives an envelope round trip (Encode, Decode,
// Into, the strict decoder the server uses) unchanged.
func TestEveryMessageRoundTrips(t *testing.T) {
	obj, score := 0.75, 1.5
	trials := 9
	p := &plan.Plan{Version: plan.Version, Slots: []plan.Slot{{Take: &plan.Take{Model: "base", Layer: 1}}}}
	raw := json.RawMessage(`{"version":1,"slots":[{"take":{"model":"base","layer":1}}]}`)
	msgs := []any{
		&Error{Reason: "r"},
		&State{Version: 1, Family: FamilyInfo{Models: []string{"base", "code"}, Layers: 5, Tasks: []string{"a"}, TaskWeights: []float64{2}}, Plan: p,
			Search:  &Status{Running: true, Run: "x", Trials: 2, Best: 0.5, Rows: []ResultRow{{Kind: "search", Name: "w", Retention: []float64{1}, Objective: 1}}},
			Scorers: []string{"s.wasm"}, Scorer: "s.wasm", Trials: []TrialEvent{{Trial: Trial{Index: 1, Samples: 3, Objective: &obj, Retention: []float64{0.75}}, Plan: p}},
			Workers: []Worker{{Name: "w", Busy: true, Trial: 3, Threads: 2, Done: 1, AgoMS: 5}}},
		&FamilyInfo{Models: []string{"base"}, Layers: 8, LayerParams: 10, AttnParams: 4, MLPParams: 6, OuterParams: 3, Tasks: []string{"t"}},
		&PlanReport{Valid: false, Problems: []plan.Problem{{Path: "slots[0]", Message: "m"}}, Params: 7, FractionRemoved: 0.25},
		&PlanPayload{Plan: raw},
		&PlanReply{Plan: p},
		&ExportRequest{Format: "mergekit", Plan: raw},
		&ExportReply{Format: "json", Text: "{}"},
		&Progress{Op: "evaluate", Done: 1, Total: 2},
		&Status{Running: false, Run: "r", Trials: 4, Best: 0.5, Error: "e"},
		&RunInfo{Name: "r", Trials: 3, Target: 9, Best: 0.5, Objective: "min", Space: "full", Finished: true},
		&RunData{Run: "r", Trials: []TrialEvent{{Trial: Trial{Index: 0, Error: "failed"}}}, Rows: []ResultRow{{Kind: "dense", Name: "base", Retention: []float64{1, 1}, Objective: 1}}},
		&RunRequest{Run: "r", Resume: true, Remove: 2, ParamBudget: 0.8, Methods: []string{"ties"}, Weights: true, Space: "selection", Granularity: "block",
			Reference: "best", Aggregate: "mean", Trials: &trials, Duration: time.Minute, Optimizer: "random", MinSamples: 1, MaxSamples: 9, Eta: 3, Seed: 4,
			WarmStart: true, Batch: 2, Repair: "/c.txt", RepairSamples: 8, ReportTasks: "/h.yaml", Overwrite: true},
		&TrialEvent{Trial: Trial{Index: 2, Bracket: 1, Rung: 1, Samples: 9, Objective: &obj, Retention: []float64{0.5, 1}, Seconds: 1.5}, Plan: p},
		&EvaluateRequest{Plan: raw, Samples: 3},
		&EvaluateResult{Tasks: []TaskResult{{Name: "t", Primary: "acc", Metrics: map[string]float64{"acc": 0.5}, Reference: map[string]float64{"acc": 1}, Retention: 0.5, Weight: 1}},
			Objective: 0.5, ObjectiveName: "min retention vs the dense base", Score: &score, Samples: 3, Params: 10, Removed: 0.1},
		&BuildRequest{Plan: raw, Name: "m", DType: "bf16"},
		&BuildResult{Dir: "/b/m", Tensors: 12, Bytes: 100, Mergekit: true},
		&RunOpenRequest{Run: "r"},
		&SelectScorerRequest{Name: "s.wasm"},
		&UploadHeader{V: 1, ID: "7", Type: ScorerUpload, Name: "s.wasm"},
		&Worker{Name: "w", Foreign: true},
	}
	for _, m := range msgs {
		b, err := Encode("1", "t", m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		e, err := Decode(b)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface()
		if err := e.Into(got); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		// Raw plans compare as plans: their bytes are re-encoded compactly.
		if !reflect.DeepEqual(norm(t, got), norm(t, m)) {
			t.Errorf("%T: round trip\n got %+v\nwant %+v", m, got, m)
		}
	}
}

func norm(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	json.Unmarshal(b, &out)
	return out
}

// A run request with the old names of the per-task samples is read, and
// unknown fields are refused.
func TestRunRequestOldNames(t *testing.T) {
	var r RunRequest
	if err := json.Unmarshal([]byte(`{"remove":1,"min_budget":2,"max_budget":8}`), &r); err != nil || r.MinSamples != 2 || r.MaxSamples != 8 {
		t.Errorf("%+v %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"remove":1,"max_budgets":8}`), &r); err == nil {
		t.Error("an unknown field was accepted")
	}
}
