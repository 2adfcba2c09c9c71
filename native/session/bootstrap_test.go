package session

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gptailor/gptailor/native/task"
)

// bernoulli is an accuracy task result with n samples correct with
// probability p.
func bernoulli(r *rand.Rand, n int, p float64) *task.Result {
	res := &task.Result{Type: "multiple_choice", Primary: "acc", HigherIsBetter: true, Metrics: map[string]float64{}}
	correct := 0
	for i := 0; i < n; i++ {
		ok := r.Float64() < p
		if ok {
			correct++
		}
		res.Samples = append(res.Samples, task.Sample{Index: i, Correct: &ok})
	}
	res.Metrics["acc"] = float64(correct) / float64(n)
	return res
}

// The 95 % interval covers the true retention (0.6 / 0.8 = 0.75) of a
// synthetic accuracy task in about 95 % of 300 seeded datasets.
func TestBootstrapCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	covered, n := 0, 300
	for k := 0; k < n; k++ {
		c, ref := bernoulli(r, 200, 0.6), bernoulli(r, 200, 0.8)
		iv := Bootstrap([]*task.Result{c}, []*task.Result{ref}, 400, uint64(k))[0]
		if iv.Lo <= 0.75 && 0.75 <= iv.Hi {
			covered++
		}
		if !(iv.Lo < c.Metrics["acc"]/ref.Metrics["acc"] && c.Metrics["acc"]/ref.Metrics["acc"] < iv.Hi) {
			t.Fatalf("dataset %d: the point estimate %.3f lies outside its interval %+v", k, c.Metrics["acc"]/ref.Metrics["acc"], iv)
		}
	}
	rate := float64(covered) / float64(n)
	t.Logf("coverage %.3f over %d datasets", rate, n)
	if rate < 0.91 || rate > 0.99 {
		t.Errorf("95%% intervals covered the truth in %.1f%% of datasets", 100*rate)
	}
}

// The primary metric recomputed on all samples, in order, is the metric
// the task reported — for every task of the demo list on a real model.
func TestPrimaryOnAllSamplesIsTheMetric(t *testing.T) {
	f, tasks := demoSession(t, FamilyOptions{}, "base", "code")
	res, err := f.Run(context.Background(), Target{Model: "code"}, tasks, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		idx := make([]int, len(r.Samples))
		for i := range idx {
			idx[i] = i
		}
		v, ok := task.PrimaryOn(r, idx)
		if !ok || math.Abs(v-r.Metrics[r.Primary]) > 1e-12*math.Abs(v) {
			t.Errorf("task %s: %s from the samples %v (%v), reported %v", r.Name, r.Primary, v, ok, r.Metrics[r.Primary])
		}
	}
}

// Intervals go through JSON, unknown ones as null.
func TestIntervalJSON(t *testing.T) {
	b, err := json.Marshal([]Interval{{0.5, 0.75}, {math.NaN(), math.NaN()}})
	if err != nil || string(b) != "[[0.5,0.75],null]" {
		t.Fatalf("%s %v", b, err)
	}
	var back []Interval
	if err := json.Unmarshal(b, &back); err != nil || back[0] != (Interval{0.5, 0.75}) || !math.IsNaN(back[1].Lo) {
		t.Errorf("%+v %v", back, err)
	}
}
