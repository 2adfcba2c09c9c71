package kernel

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/f16"
)

// eachKernel runs fn with every kernel of this build made active in turn;
// kernels this CPU cannot run are skipped with the reason, and the log says
// which ran.
func eachKernel(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	prev := active
	defer setActive(prev)
	var ran []string
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			if ok, why := Runnable(name); !ok {
				t.Skip(why)
			}
			if err := Select(name); err != nil {
				t.Fatal(err)
			}
			ran = append(ran, name)
			fn(t)
		})
	}
	t.Logf("kernels run: %s (CPU: %s)", strings.Join(ran, ", "), CPUFeatures())
}

// Every kernel, at edge shapes (M, N, K across 1, 15, 16, 17, 63, 64, 65,
// the A and W panel sizes and their neighbours), against a float64
// reference and against the portable kernel on the same inputs; float32
// and BF16-stored weights; accumulate or not.
func TestKernelsAtEdgeShapes(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		sizes := []int{1, 15, 16, 17, 31, 32, 33, 63, 64, 65}
		for _, m := range []int{1, 2, 5, 6, 7, 11, 12, 13, 25, 64, 65} {
			for _, n := range sizes {
				for _, k := range []int{1, 15, 16, 17, 63, 64, 65, 600} {
					acc := (m+n+k)%2 == 0
					checkAgainstFloat64(t, m, n, k, acc, r)
					checkHalf(t, m, n, k, acc, r, BF16)
					checkHalf(t, m, n, k, acc, r, F16)
				}
			}
		}
		checkAgainstFloat64(t, 70, 300, 1100, false, r) // threads
		block := active.kc                              // k steps, or pairs of k
		if active.pairs {
			block *= 2
		}
		checkAgainstFloat64(t, 13, 40, 2*block+5, true, r) // three K blocks, the last short
		checkHalf(t, 13, 40, 2*block+5, true, r, BF16)
	})
}

// checkHalf multiplies BF16 (or F16) weights packed 16-bit (where the
// kernel keeps them so) and compares with the same weights packed as
// float32 by the portable kernel: widening is exact, so only summation
// order differs.
func checkHalf(t *testing.T, m, n, k int, accumulate bool, r *rand.Rand, format Format) {
	t.Helper()
	if ComputeBF16() {
		return // the float64 check covers the bfloat16 compute kernel
	}
	a := randSlice(r, m*k)
	w := randSlice(r, n*k)
	name := "bf16"
	if format == F16 {
		name = "f16"
		f16.Round(w)
		w[0] += 1.0 / 1024 // 1 + 2⁻¹⁰ and the like: binary16, not bfloat16
		f16.Round(w[:1])
	} else {
		for i := range w {
			w[i] = roundBF16(w[i : i+1])[0]
		}
	}
	c0 := randSlice(r, m*n)
	p := Pack(w, n, k)
	if HalfWeights() != p.Half() || (p.half != nil && p.Bytes() != int64(len(p.half))*2) || (p.Half() && p.f16 != (format == F16 && !bf16.Exact(w))) {
		t.Fatalf("%s: %s packing in 16 bits = %v (binary16 %v), kernel says %v", active.name, name, p.half != nil, p.f16, HalfWeights())
	}
	row := make([]float32, k)
	p.Row(n-1, row)
	for c := range row {
		if row[c] != w[(n-1)*k+c] {
			t.Fatalf("%s %s: Row(%d)[%d] = %g, want %g", active.name, name, n-1, c, row[c], w[(n-1)*k+c])
		}
	}
	got := append([]float32(nil), c0...)
	MatMulT(got, n, a, k, m, p, accumulate)
	ref := append([]float32(nil), c0...)
	g := packFor(generic, func(r int) ([]float32, int) { return w[r*k:], 1 }, n, k, F32)
	matMulT(generic, 1, ref, n, a, k, m, g, accumulate)
	u := math.Pow(2, -24)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var mag float64
			for kk := 0; kk < k; kk++ {
				mag += math.Abs(float64(a[i*k+kk]) * float64(w[j*k+kk]))
			}
			if d := math.Abs(float64(got[i*n+j] - ref[i*n+j])); d > 2*float64(k+2)*u*(mag+math.Abs(float64(c0[i*n+j]))) {
				t.Fatalf("%s %s m=%d n=%d k=%d: C[%d][%d] = %g, portable %g", active.name, name, m, n, k, i, j, got[i*n+j], ref[i*n+j])
			}
		}
	}
}

// Views of packed matrices (K and V of attention are views) multiply like
// the leading block they name, with every kernel.
func TestKernelsOnViews(t *testing.T) {
	eachKernel(t, func(t *testing.T) { TestPackedView(t) })
}

// Weights packed for one kernel still multiply correctly after another is
// selected (a kernel of their layout takes them).
func TestPackedSurvivesSelect(t *testing.T) {
	prev := active
	defer setActive(prev)
	r := rand.New(rand.NewPCG(13, 14))
	m, n, k := 9, 70, 40
	a, w := randSlice(r, m*k), randSlice(r, n*k)
	for _, from := range Names() {
		if ok, _ := Runnable(from); !ok {
			continue
		}
		Select(from)
		p := Pack(w, n, k)
		want := make([]float32, m*n)
		MatMulT(want, n, a, k, m, p, false)
		for _, to := range Names() {
			if ok, _ := Runnable(to); !ok {
				continue
			}
			Select(to)
			got := make([]float32, m*n)
			MatMulT(got, n, a, k, m, p, false)
			tol := 1e-4
			if p.pairs || ComputeBF16() {
				tol = 3e-2 // one side packed as bfloat16 pairs, the other float32
			}
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > tol*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("packed for %s, run with %s active: %g vs %g", from, to, got[i], want[i])
				}
			}
		}
	}
}

func TestSelectRefusals(t *testing.T) {
	prev := active
	defer setActive(prev)
	if err := Select("avx1024"); err == nil || !strings.Contains(err.Error(), `GPTAILOR_KERNEL=avx1024: unknown kernel "avx1024" (this build has: `) {
		t.Errorf("unknown: %v", err)
	}
	for _, name := range Names() {
		ok, why := Runnable(name)
		err := Select(name)
		if ok != (err == nil) {
			t.Errorf("%s: runnable %v, select %v", name, ok, err)
		}
		if !ok && !strings.Contains(err.Error(), "which this CPU lacks") {
			t.Errorf("%s: %v (%s)", name, err, why)
		}
	}
	if err := Select(""); err != nil || active != prev {
		t.Errorf("auto selected %s, want %s (%v)", active.name, prev.name, err)
	}
	if p := Pack([]float32{1, 1.1}, 1, 2); p.Half() {
		t.Error("values that are not bfloat16 were packed in 16 bits")
	}
	if p := Pack([]float32{1, 1.5}, 1, 2); p.Half() != HalfWeights() || p.f16 {
		t.Errorf("bfloat16 values: 16-bit panels %v (binary16 %v), kernel %s", p.Half(), p.f16, active.name)
	}
	if p := Pack([]float32{1, 1 + 1.0/1024}, 1, 2); p.Half() != HalfWeights() || p.Half() && !p.f16 {
		t.Errorf("binary16 values: 16-bit panels %v (binary16 %v), kernel %s", p.Half(), p.f16, active.name)
	}
}

// The checked-in assembly is exactly what the generator writes.
func TestAssemblyIsGenerated(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the generator writes amd64 assembly")
	}
	out := filepath.Join(t.TempDir(), "kernel_amd64.s")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "gen_amd64.go", "gen_avx512.go", "gen_activation.go", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen_amd64.go gen_avx512.go gen_activation.go: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(out)
	got, err := os.ReadFile("kernel_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("kernel_amd64.s is not what gen_amd64.go writes: run `go generate ./native/kernel` and commit both")
	}
}

// BenchmarkGEMM runs every kernel this CPU has at N=K=2048.
func BenchmarkGEMM(b *testing.B) {
	prev := active
	defer setActive(prev)
	for _, name := range Names() {
		if ok, _ := Runnable(name); !ok || (name == "generic" && testing.Short()) {
			continue
		}
		for _, format := range []Format{F32, BF16, F16} {
			Select(name)
			half := format != F32
			if half && !HalfWeights() {
				continue
			}
			for _, m := range []int{1, 8, 64, 256} {
				n, k := 2048, 2048
				tag := []string{"f32", "bf16w", "f16w"}[format]
				b.Run(fmt.Sprintf("%s/%s/M=%d/N=%d/K=%d", name, tag, m, n, k), func(b *testing.B) {
					Select(name)
					r := rand.New(rand.NewPCG(1, 1))
					a := randSlice(r, m*k)
					wv := randSlice(r, n*k)
					var w *Packed
					switch format {
					case BF16:
						for i := range wv {
							wv[i] = roundBF16(wv[i : i+1])[0]
						}
					case F16:
						f16.Round(wv)
					}
					w = Pack(wv, n, k)
					if !ComputeBF16() && w.Half() != half {
						b.Fatalf("%s weights packed 16-bit: %v", tag, w.Half())
					}
					c := make([]float32, m*n)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						MatMulT(c, n, a, k, m, w, false)
					}
					b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkFMAPeak is the ceiling: register-only FMAs on every core, with
// AVX2 and with AVX-512 where the CPU has them, and VDPBF16PS (the
// avx512bf16 kernel's instruction) where it has avx512_bf16.
func BenchmarkFMAPeak(b *testing.B) {
	for _, name := range []string{"avx512bf16", "avx512", "avx2"} {
		if ok, _ := Runnable(name); !ok {
			continue
		}
		b.Run(fmt.Sprintf("%s/threads=%d", name, Threads), func(b *testing.B) {
			const iters = 1 << 20
			done := make(chan float64)
			for t := 0; t < Threads; t++ {
				go func() {
					var f float64
					for i := 0; i < b.N; i++ {
						f += fmaPeak(name, iters)
					}
					done <- f
				}()
			}
			var flops float64
			for t := 0; t < Threads; t++ {
				flops += <-done
			}
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// Row gives back a packed matrix's rows exactly (bfloat16-rounded in the
// bf16-compute layout), for every kernel and both weight kinds.
func TestPackedRows(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, n := range []int{1, 31, 33, 70} {
			for _, k := range []int{1, 7, 64} {
				w := randSlice(r, n*k)
				wb := roundBF16(w)
				for _, src := range [][]float32{w, wb} {
					p := Pack(src, n, k)
					want := src
					if p.pairs {
						want = roundBF16(src)
					}
					row := make([]float32, k)
					for i := 0; i < n; i++ {
						p.Row(i, row)
						for c := range row {
							if row[c] != want[i*k+c] {
								t.Fatalf("n=%d k=%d row %d col %d: %v, want %v (half %v pairs %v)", n, k, i, c, row[c], want[i*k+c], p.Half(), p.pairs)
							}
						}
					}
				}
			}
		}
	})
}

// PackRows of parts packs exactly what Pack of their concatenation packs,
// in every format the active kernel chooses.
func TestPackRowsEqualsPackOfConcatenation(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(15, 16))
		k := 37
		for _, round := range []func([]float32){func([]float32) {}, func(v []float32) { copy(v, roundBF16(v)) }, f16.Round} {
			a, b, c := randSlice(r, 5*k), randSlice(r, 40*k), randSlice(r, 3*k)
			for _, v := range [][]float32{a, b, c} {
				round(v)
			}
			want := Pack(append(append(append([]float32(nil), a...), b...), c...), 48, k)
			got := PackRows(k, a, b, c)
			if got.N != want.N || got.K != want.K || got.f16 != want.f16 || got.pairs != want.pairs ||
				!slices.Equal(got.data, want.data) || !slices.Equal(got.half, want.half) {
				t.Fatalf("%s: PackRows differs from Pack of the concatenation (16-bit %v/%v)", active.name, got.Half(), want.Half())
			}
		}
	})
}
