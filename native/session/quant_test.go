package session

import (
	"context"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// recordRunner remembers the jobs it is given.
type recordRunner struct{ jobs []Job }

func (r *recordRunner) Run(_ context.Context, j Job) ([]*task.Result, error) {
	r.jobs = append(r.jobs, j)
	return []*task.Result{{}}, nil
}

// A session's Quant reaches every job's target, and the job's identity
// (a quantized result is never taken for a full-precision one); the
// target's name says it; a job that names its own quantization keeps it.
func TestSessionQuantReachesJobs(t *testing.T) {
	r := &recordRunner{}
	s := &Session{Specs: []task.Spec{{Name: "a"}}, Runner: r, Quant: "q4_0"}
	tg := Target{Model: plan.BaseAlias}
	plain := NewJob(tg, 3, -1)
	if _, err := s.Results(context.Background(), plain); err != nil {
		t.Fatal(err)
	}
	got := r.jobs[0]
	if got.Target.Quant != "q4_0" || got.ID == plain.ID || got.ID != JobID(Target{Model: plan.BaseAlias, Quant: "q4_0"}, 3, 0) {
		t.Errorf("job %+v (full-precision id %s)", got, plain.ID)
	}
	if n := got.Target.Name(); !strings.Contains(n, "(q4_0)") {
		t.Errorf("target name %q does not say the quantization", n)
	}
	own := NewJob(Target{Model: plan.BaseAlias, Quant: "q8_0"}, 3, -1)
	s.Results(context.Background(), own)
	if r.jobs[1].Target.Quant != "q8_0" || r.jobs[1].ID != own.ID {
		t.Errorf("a job's own quantization was replaced: %+v", r.jobs[1])
	}
	// Full precision leaves old job ids as they were.
	s.Quant = ""
	s.Results(context.Background(), plain)
	if r.jobs[2].ID != plain.ID {
		t.Errorf("full-precision id changed: %s → %s", plain.ID, r.jobs[2].ID)
	}
}

// A run's quantization is fixed: resume refuses another and keeps it when
// not given; a value that is not one is refused when the run starts.
func TestResolveQuant(t *testing.T) {
	saved := RunSpec{Quant: "q4_0"}
	given := func(f string) bool { return f == "quant" }
	if _, err := resumeChanges(&saved, RunSpec{Quant: "q8_0"}, given); err == nil || !strings.Contains(err.Error(), "--quant q8_0 (the run has q4_0)") {
		t.Errorf("resume with another quant: %v", err)
	}
	if _, err := resumeChanges(&saved, RunSpec{}, func(string) bool { return false }); err != nil || saved.Quant != "q4_0" {
		t.Errorf("resume without --quant: %v, quant %q", err, saved.Quant)
	}
	if spec := specOf(protocolRunRequest("none")); spec.Quant != "" {
		t.Errorf("--quant none stored as %q", spec.Quant)
	}
	if _, err := fresh(protocolRunRequest("q3_k"), demoMembersForQuant(), "tasks.yaml"); err == nil || !strings.Contains(err.Error(), `--quant "q3_k"`) {
		t.Errorf("--quant q3_k: %v", err)
	}
}

func protocolRunRequest(quant string) protocol.RunRequest {
	return protocol.RunRequest{Quant: quant}
}

func demoMembersForQuant() []model.Member {
	return []model.Member{{Alias: "base", Dir: "a"}, {Alias: "code", Dir: "b"}}
}
