package dist

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/task"
)

// Bounds on what arrives over NATS. Anyone holding the credential can
// publish, so every message is sized, decoded and checked before it is
// used; the figures are far above what gptailor itself sends (a job is a
// plan of a few KiB, a result a few hundred bytes per sample).
const (
	MaxJobBytes       = 1 << 20  // a job message
	MaxResultBytes    = 32 << 20 // a stored result
	MaxManifestBytes  = 1 << 20  // a run's manifest
	MaxHeartbeatBytes = 4 << 10  // a heartbeat
	MaxNoticeBytes    = 16 << 10 // a notice
	MaxNameRunes      = 64       // a worker name as logged and tracked
	MaxReasonRunes    = 1024     // a refusal or failure as logged
	MaxTrackedWorkers = 256      // workers the coordinator keeps track of
	MaxBudget         = 1 << 20  // samples per task in one job
	MaxTasks          = 256      // tasks in a manifest
	// MaxSlotsPerLayer bounds a plan's slots by the base's depth (a
	// frankenmerge repeats layers; 4× is far beyond any published one).
	MaxSlotsPerLayer = 4
	// ClockSkew is how far in the future a heartbeat may be dated.
	ClockSkew = 30 * time.Second
)

var (
	runPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hexPattern  = regexp.MustCompile(`^[0-9a-f]+$`)
	objectRegex = regexp.MustCompile(`^[0-9a-f]{64}(\.[a-z0-9]{1,10})?$`)
)

// CheckRun refuses a run id that cannot be a NATS subject token or a key.
func CheckRun(run string) error {
	if !runPattern.MatchString(run) {
		return fmt.Errorf("run id %q: want 1 to 64 letters, digits, - or _", Clip(run, MaxNameRunes))
	}
	return nil
}

// checkObjectName accepts only the names ship makes: the SHA-256 of the
// content in hex and an optional short extension. Such a name cannot
// leave the worker's files directory, and the worker checks the content
// against it.
func checkObjectName(name string) error {
	if !objectRegex.MatchString(name) {
		return fmt.Errorf("object name %q is not a content hash (64 hex digits and an optional .ext): refused", Clip(name, 100))
	}
	return nil
}

// Clip shortens s to n runes for logs and tables, replacing control
// characters, so a forged name or reason cannot flood or garble a log.
func Clip(s string, n int) string {
	var b strings.Builder
	i := 0
	for _, r := range s {
		if i == n {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		i++
	}
	return b.String()
}

// decodeJob reads a job message and refuses one no coordinator of this
// version makes, before any of it is used: a bad run id or fingerprint, a
// job id that is not the hash of its content, negative or huge budgets, a
// target that is neither a model nor a plan, a plan wider than
// MaxSlotsPerLayer × layers (0: not checked).
func decodeJob(b []byte, layers int) (*jobMsg, error) {
	if len(b) > MaxJobBytes {
		return nil, fmt.Errorf("a job of %d bytes (at most %d)", len(b), MaxJobBytes)
	}
	var jm jobMsg
	if err := json.Unmarshal(b, &jm); err != nil {
		return nil, fmt.Errorf("not a job: %w", err)
	}
	if err := CheckRun(jm.Run); err != nil {
		return nil, err
	}
	if len(jm.Job.ID) != 24 || !hexPattern.MatchString(jm.Job.ID) {
		return nil, fmt.Errorf("job id %q of run %s is not 24 hex digits", Clip(jm.Job.ID, 40), jm.Run)
	}
	if len(jm.Fingerprint) != 24 || !hexPattern.MatchString(jm.Fingerprint) {
		return nil, fmt.Errorf("job fingerprint %q is not 24 hex digits", Clip(jm.Fingerprint, 40))
	}
	j := jm.Job
	var errs []error
	if j.Budget < 0 || j.Budget > MaxBudget {
		errs = append(errs, fmt.Errorf("budget %d: want 0 to %d", j.Budget, MaxBudget))
	}
	if j.From < 0 || (j.Budget > 0 && j.From >= j.Budget) {
		errs = append(errs, fmt.Errorf("from %d: want 0 to budget−1 (budget %d)", j.From, j.Budget))
	}
	if j.Trial < -1 {
		errs = append(errs, fmt.Errorf("trial %d: want -1 or more", j.Trial))
	}
	t := j.Target
	switch {
	case (t.Plan == nil) == (t.Model == ""):
		errs = append(errs, errors.New("target: want exactly one of plan and model"))
	case len(t.Model) > MaxNameRunes:
		errs = append(errs, fmt.Errorf("target model name of %d bytes", len(t.Model)))
	case t.Plan != nil && layers > 0 && len(t.Plan.Slots) > MaxSlotsPerLayer*layers:
		errs = append(errs, fmt.Errorf("plan of %d slots: at most %d (%d × the base's %d layers)", len(t.Plan.Slots), MaxSlotsPerLayer*layers, MaxSlotsPerLayer, layers))
	}
	// A repaired plan's calibration was renamed to its object when the job
	// was shipped: its id hashes the coordinator's path, which the worker
	// does not see, so only the others are checked.
	shipped := t.Plan != nil && t.Plan.Repair != nil && strings.HasPrefix(t.Plan.Repair.Calibration, ObjectPrefix)
	if len(errs) == 0 && !shipped {
		if want := session.JobID(t, j.Budget, j.From); j.ID != want {
			errs = append(errs, fmt.Errorf("job id %q is not the hash of its target, budget and from (%s)", Clip(j.ID, 40), want))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("job %s of run %s: %w", Clip(j.ID, 40), jm.Run, err)
	}
	return &jm, nil
}

// checkResult checks a worker's result against the job it answers and
// the run's tasks, and replaces its metrics by the ones the coordinator
// computes from its samples: the job id, one result per task with that
// task's name and type, exactly the samples the job asks for (counted
// from each task's size, which must not change between results: nOrig
// keeps the first seen), finite sample values in their ranges, and a
// finite primary metric. A failed job's reason is clipped.
func checkResult(r *resultMsg, j session.Job, specs []task.Spec, nOrig map[string]int) error {
	r.Worker = Clip(r.Worker, MaxNameRunes)
	if r.Job != j.ID {
		return fmt.Errorf("result for job %q stored under job %s", Clip(r.Job, 40), j.ID)
	}
	if r.Error != "" {
		r.Error = Clip(r.Error, MaxReasonRunes)
		r.Results = nil
		return nil
	}
	if len(r.Results) != len(specs) {
		return fmt.Errorf("%d task results for %d tasks", len(r.Results), len(specs))
	}
	at := session.SpecsAt(specs, j.Budget)
	for i, res := range r.Results {
		s := at[i]
		if res == nil {
			return fmt.Errorf("task %s: no result", s.Name)
		}
		if res.Name != s.Name || res.Type != s.Type {
			return fmt.Errorf("task %d: result for %q (%s), the run's task is %s (%s)", i, Clip(res.Name, MaxNameRunes), Clip(res.Type, 20), s.Name, s.Type)
		}
		if res.NOriginal < 0 || res.NOriginal > 1<<30 {
			return fmt.Errorf("task %s: %d samples in the task", s.Name, res.NOriginal)
		}
		if n, ok := nOrig[s.Name]; ok && n != res.NOriginal {
			return fmt.Errorf("task %s: %d samples in the task, earlier results said %d", s.Name, res.NOriginal, n)
		}
		want := res.NOriginal
		if s.Limit > 0 && s.Limit < want {
			want = s.Limit
		}
		want = max(0, want-j.From)
		if len(res.Samples) != want || res.NEffective != want {
			return fmt.Errorf("task %s: %d samples (n_effective %d), the job asks for %d", s.Name, len(res.Samples), res.NEffective, want)
		}
		if err := checkSamples(s.Type, res.Samples); err != nil {
			return fmt.Errorf("task %s: %w", s.Name, err)
		}
		spec := s
		spec.From = j.From
		again, err := task.Merge(&spec, &task.Result{}, res)
		if err != nil {
			return err
		}
		if len(res.Samples) > 0 {
			if v, ok := again.Metrics[again.Primary]; !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("task %s: primary metric %s is %v", s.Name, again.Primary, v)
			}
		} else {
			again.Metrics = map[string]float64{}
		}
		again.Seconds = res.Seconds
		if math.IsNaN(again.Seconds) || math.IsInf(again.Seconds, 0) || again.Seconds < 0 {
			again.Seconds = 0
		}
		r.Results[i] = again
		nOrig[s.Name] = res.NOriginal
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checkSamples refuses sample values no evaluation gives.
func checkSamples(typ string, ss []task.Sample) error {
	for k, sm := range ss {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("sample %d: "+format, append([]any{k}, a...)...)
		}
		if !finite(sm.NLL) || sm.NLL < -1e-6 {
			return bad("nll %v", sm.NLL)
		}
		if sm.Tokens < 0 || sm.Bytes < 0 || sm.Words < 0 || sm.Index < 0 {
			return bad("negative count")
		}
		if len(sm.LL) > 1<<16 {
			return bad("%d log-likelihoods", len(sm.LL))
		}
		for _, v := range sm.LL {
			if !finite(v) || v > 1e-6 {
				return bad("log-likelihood %v", v)
			}
		}
		for _, p := range []*int{sm.Gold, sm.Pred} {
			if p != nil && (*p < 0 || *p >= max(len(sm.LL), 1)) {
				return bad("choice %d of %d", *p, len(sm.LL))
			}
		}
		switch typ {
		case "multiple_choice":
			if sm.Gold == nil || sm.Pred == nil || sm.Correct == nil || len(sm.LL) == 0 {
				return bad("a choice without its log-likelihoods, gold, prediction or correctness")
			}
			pred := 0
			for c := range sm.LL {
				if sm.LL[c] > sm.LL[pred] {
					pred = c
				}
			}
			if *sm.Pred != pred || *sm.Correct != (*sm.Gold == pred) {
				return bad("prediction %d and correctness %v do not follow from the log-likelihoods (argmax %d, gold %d)", *sm.Pred, *sm.Correct, pred, *sm.Gold)
			}
		case "loglikelihood":
			if len(sm.LL) != 1 || sm.Correct == nil || sm.NLL != -sm.LL[0] {
				return bad("a continuation's nll is not its log-likelihood negated")
			}
		}
	}
	return nil
}

// checkSpec refuses a manifest's task a coordinator never sends: a type
// that reads files besides its own object (kl names a model directory),
// or sizes beyond the bounds.
func checkSpec(s task.Spec) error {
	switch {
	case s.Type != "perplexity" && s.Type != "multiple_choice" && s.Type != "loglikelihood":
		return fmt.Errorf("type %q: distributed runs carry perplexity, multiple_choice and loglikelihood tasks", Clip(s.Type, 20))
	case s.Reference != "":
		return errors.New("a reference model path")
	case s.Name == "" || len(s.Name) > MaxNameRunes:
		return fmt.Errorf("name of %d bytes", len(s.Name))
	case s.Limit < 0 || s.Limit > MaxBudget:
		return fmt.Errorf("limit %d", s.Limit)
	case s.Seq < 0 || s.Seq > 1<<16:
		return fmt.Errorf("seq %d", s.Seq)
	case len(s.Metrics) > 16:
		return fmt.Errorf("%d metrics", len(s.Metrics))
	}
	return checkObjectName(s.Path)
}

// decodeHeartbeat reads a heartbeat: bounded, its name clipped, refused
// when dated beyond the clock skew in the future.
func decodeHeartbeat(b []byte, now time.Time) (Heartbeat, error) {
	var h Heartbeat
	if len(b) > MaxHeartbeatBytes {
		return h, fmt.Errorf("a heartbeat of %d bytes", len(b))
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, err
	}
	if h.Name == "" {
		return h, errors.New("a heartbeat without a name")
	}
	if h.At.After(now.Add(ClockSkew)) {
		return h, fmt.Errorf("heartbeat of %s dated %s, over %v ahead of this clock", Clip(h.Name, MaxNameRunes), h.At.Format(time.RFC3339), ClockSkew)
	}
	h.Name = Clip(h.Name, MaxNameRunes)
	h.Fingerprint = Clip(h.Fingerprint, 40)
	h.Run = Clip(h.Run, MaxNameRunes)
	h.Threads = min(max(h.Threads, 0), 1<<16)
	return h, nil
}

// decodeNotice reads a notice: bounded, its strings clipped.
func decodeNotice(b []byte) (Notice, error) {
	var n Notice
	if len(b) > MaxNoticeBytes {
		return n, fmt.Errorf("a notice of %d bytes", len(b))
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return n, err
	}
	n.Worker, n.Job, n.Reason = Clip(n.Worker, MaxNameRunes), Clip(n.Job, 40), Clip(n.Reason, MaxReasonRunes)
	return n, nil
}
