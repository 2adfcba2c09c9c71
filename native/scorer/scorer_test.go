package scorer

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gptailor/gptailor/native/task"
)

// wat compiles a .wat file with wabt's wat2wasm (installed by .ci/run).
func wat(t testing.TB, path string) []byte {
	t.Helper()
	bin, err := exec.LookPath("wat2wasm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("wat2wasm (Debian package wabt) is required under CI")
		}
		t.Skip("wat2wasm not installed (apt-get install wabt)")
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".wasm")
	if b, err := exec.Command(bin, path, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", path, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var goExample []byte

// buildGoExample compiles the Go example for wasip1 (once per test binary).
func buildGoExample(t testing.TB) []byte {
	t.Helper()
	if goExample == nil {
		goExample = buildGo(t, "./examples/mean-go")
	}
	return goExample
}

// buildGo compiles a Go package as a wasip1 reactor module.
func buildGo(t testing.TB, pkg string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "module.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func host(t testing.TB, l Limits) *Host {
	t.Helper()
	h, err := NewHost(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func results() ([]*task.Result, []*task.Result) {
	ok, bad := true, false
	g, p := 1, 0
	res := []*task.Result{
		{Name: "arc", Type: "multiple_choice", Primary: "acc", HigherIsBetter: true, Weight: 2, Metrics: map[string]float64{"acc": 0.3, "acc_stderr": math.NaN()},
			Samples: []task.Sample{{Index: 1, LL: []float64{-3, -2}, Gold: &g, Pred: &g, Correct: &ok}, {Index: 2, LL: []float64{-1, -2}, Gold: &g, Pred: &p, Correct: &bad}, {Index: 3, Correct: &ok}}},
		{Name: "ppl", Type: "perplexity", Primary: "bits_per_byte", Weight: 1, Metrics: map[string]float64{"bits_per_byte": 2}},
	}
	ref := []*task.Result{
		{Name: "arc", Type: "multiple_choice", Primary: "acc", HigherIsBetter: true, Weight: 2, Metrics: map[string]float64{"acc": 0.6}},
		{Name: "ppl", Type: "perplexity", Primary: "bits_per_byte", Weight: 1, Metrics: map[string]float64{"bits_per_byte": 1}},
	}
	return res, ref
}

func TestGoExample(t *testing.T) {
	h := host(t, Limits{})
	m, err := h.Load(context.Background(), "mean-go", buildGoExample(t))
	if err != nil {
		t.Fatal(err)
	}
	res, ref := results()
	doc, err := NewDocument("cand", nil, res, ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Score(context.Background(), m, doc)
	if err != nil {
		t.Fatal(err)
	}
	// retention: arc 0.3/0.6 = 0.5 (weight 2), ppl 1/2 = 0.5 (weight 1)
	if math.Abs(got-0.5) > 1e-12 {
		t.Errorf("score %g, want 0.5", got)
	}
	// Without a reference: (2·0.3 + 1·(−2)) / 3
	doc, _ = NewDocument("cand", nil, res, nil)
	if got, err = h.Score(context.Background(), m, doc); err != nil || math.Abs(got-(0.6-2)/3) > 1e-12 {
		t.Errorf("score %g %v", got, err)
	}
	// The module's own error code and message.
	_, err = h.Score(context.Background(), m, []byte(`{"tasks": []}`))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Code != 2 || ce.Msg != "the document has no tasks" {
		t.Errorf("got %v", err)
	}
}

func TestWATExample(t *testing.T) {
	shipped, err := os.ReadFile("examples/wat/skeleton.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if fresh := wat(t, "examples/wat/skeleton.wat"); string(fresh) != string(shipped) {
		t.Error("examples/wat/skeleton.wasm is stale: rebuild it from skeleton.wat")
	}
	h := host(t, Limits{})
	m, err := h.Load(context.Background(), "skeleton", shipped)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := results()
	doc, _ := NewDocument("cand", nil, res, nil)
	if got, err := h.Score(context.Background(), m, doc); err != nil || got != 1 {
		t.Errorf("score %g %v", got, err)
	}
	big := make([]byte, 1<<20+10) // grows its memory for the document, then refuses it
	if _, err := h.Score(context.Background(), m, big); err == nil || !strings.Contains(err.Error(), "(code 1): document larger than 1 MiB") {
		t.Errorf("got %v", err)
	}
}

// Each way a guest can misbehave fails that call with its reason, and the
// host keeps working.
func TestMisbehavingModules(t *testing.T) {
	h := host(t, Limits{MemoryBytes: 4 << 20, CallTimeout: 200 * time.Millisecond})
	doc := []byte(`{"version":1,"tasks":[]}`)
	for name, want := range map[string]string{
		"loop":    "gptailor_score ran past the 200ms time limit and was stopped",
		"trap":    "gptailor_score trapped",
		"oom":     "gptailor_score ran out of memory (limit 4 MiB)",
		"nan":     "returned NaN, not a finite score",
		"errcode": "the module reported an error (code 3): no tasks in the document",
	} {
		m, err := h.Load(context.Background(), name, wat(t, "testdata/"+name+".wat"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		start := time.Now()
		_, err = h.Score(context.Background(), m, doc)
		var ce *CallError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s took %v", name, el)
		}
	}
	// Still serving after all that.
	m, err := h.Load(context.Background(), "skeleton", wat(t, "examples/wat/skeleton.wat"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Score(context.Background(), m, doc); err != nil {
		t.Errorf("host broken after bad modules: %v", err)
	}
}

func TestRejectedUploads(t *testing.T) {
	h := host(t, Limits{ModuleBytes: 100_000})
	cases := map[string][]byte{
		`export "gptailor_score" has signature (i32) -> (f64), want (i32, i32) -> (i32)`: wat(t, "testdata/badsig.wat"),
		"imports env.now: only wasi_snapshot_preview1 may be imported":                   wat(t, "testdata/badimport.wat"),
		`export "gptailor_message" is missing`:                                           wat(t, "testdata/noexports.wat"),
		`not a WebAssembly binary`:                                                       []byte("#!/bin/sh\nrm -rf /\n"),
		"exceeds the 100000 byte limit":                                                  append([]byte("\x00asm\x01\x00\x00\x00"), make([]byte, 200_000)...),
	}
	for want, b := range cases {
		_, err := h.Load(context.Background(), "upload.wasm", b)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "upload.wasm") {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

// Scoring a 4,096-sample document: the host's overhead (document, fresh
// instance, copy, call) with the WAT skeleton, and the whole call with the
// Go example, whose encoding/json decoding in the guest dominates.
func BenchmarkScore4096(b *testing.B) {
	b.Run("overhead-wat", func(b *testing.B) { benchScore(b, wat(b, "examples/wat/skeleton.wat")) })
	b.Run("go-example", func(b *testing.B) { benchScore(b, buildGoExample(b)) })
}

func benchScore(b *testing.B, wasm []byte) {
	h := host(b, Limits{})
	m, err := h.Load(context.Background(), "bench", wasm)
	if err != nil {
		b.Fatal(err)
	}
	ok, g := true, 1
	r := &task.Result{Name: "arc", Type: "multiple_choice", Primary: "acc", HigherIsBetter: true, Weight: 1, Metrics: map[string]float64{"acc": 0.4}}
	for i := 0; i < 4096; i++ {
		r.Samples = append(r.Samples, task.Sample{Index: i, LL: []float64{-1.25, -2.5, -3.75, -0.5}, Gold: &g, Pred: &g, Correct: &ok, Tokens: 12})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		doc, _ := NewDocument("cand", nil, []*task.Result{r}, nil)
		if _, err := h.Score(context.Background(), m, doc); err != nil {
			b.Fatal(err)
		}
	}
}
