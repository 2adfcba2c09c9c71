package kernel

import (
	"fmt"
	"os"
	"strings"
)

// impl is one GEMM micro-kernel and the panel shapes it needs: A panels of
// mr rows, W panels of nr columns, K blocks of kc.
type impl struct {
	name  string
	mr    int
	nr    int
	kc    int
	half  bool   // packs BF16 weights in 16 bits (and reads them widened)
	pairs bool   // computes in bfloat16: W and A in pairs of k (VDPBF16PS)
	needs string // the CPU features it needs, for messages
	ok    bool   // this CPU has them
	micro func(rows, kc int, a []float32, w *Packed, boff int, c []float32, ldc int, acc bool)
	// direct, when set, is used instead of micro and reads A's rows in
	// place (rows lda apart) rather than from packed panels.
	direct func(rows, kc int, a []float32, lda int, w *Packed, boff int, c []float32, ldc int, acc bool)
}

// generic is the portable Go kernel, on every machine.
var generic = &impl{name: "generic", mr: MR, nr: NR, kc: KC, ok: true, needs: "nothing", micro: microKernelGo(MR)}

// impls lists every kernel this build has, fastest first.
var impls = append(archImpls(), generic)

// KernelEnv names the environment variable that forces a kernel.
const KernelEnv = "GPTAILOR_KERNEL"

// active is the kernel in use: the fastest this CPU runs, unless Select
// chose another.
var active = func() *impl {
	for _, im := range impls {
		if im.ok {
			return im
		}
	}
	return generic
}()

// Names lists the kernels of this build, fastest first.
func Names() []string {
	out := make([]string, len(impls))
	for i, im := range impls {
		out[i] = im.name
	}
	return out
}

// Runnable says whether this CPU can run the named kernel, and if not why.
func Runnable(name string) (bool, string) {
	for _, im := range impls {
		if im.name == name {
			if im.ok {
				return true, ""
			}
			return false, fmt.Sprintf("kernel %s needs %s, which this CPU lacks (it has: %s)", name, im.needs, CPUFeatures())
		}
	}
	return false, fmt.Sprintf("unknown kernel %q (this build has: %s)", name, strings.Join(Names(), ", "))
}

// Select makes the named kernel the active one ("" or "auto": the fastest
// this CPU runs). Weights packed before keep the layout they were packed
// for and still multiply correctly (with a kernel of their layout).
func Select(name string) error {
	if name == "" || name == "auto" {
		for _, im := range impls {
			if im.ok {
				setActive(im)
				return nil
			}
		}
	}
	if ok, why := Runnable(name); !ok {
		return fmt.Errorf("%s=%s: %s", KernelEnv, name, why)
	}
	for _, im := range impls {
		if im.name == name {
			setActive(im)
		}
	}
	return nil
}

// SelectFromEnv applies GPTAILOR_KERNEL, if set.
func SelectFromEnv() error { return Select(os.Getenv(KernelEnv)) }

// Active names the kernel in use.
func Active() string { return active.name }

func setActive(im *impl) {
	active = im
	HasSIMD = im != generic && simdVector
}

// implFor is the kernel that multiplies w: the active one when w was packed
// for its layout, else the fastest runnable one of w's layout (the
// portable kernel handles every layout).
func implFor(w *Packed) *impl {
	if active.reads(w) {
		return active
	}
	for _, im := range impls {
		if im.ok && im.reads(w) {
			return im
		}
	}
	if w.pairs {
		return &impl{name: "generic-bf16", mr: MR, nr: w.nr, kc: KC, ok: true, pairs: true, micro: microPairsGo(MR)}
	}
	return &impl{name: "generic", mr: MR, nr: w.nr, kc: KC, ok: true, micro: microKernelGo(MR)}
}

// reads says whether the kernel multiplies w's layout.
func (im *impl) reads(w *Packed) bool {
	return im.nr == w.nr && im.pairs == w.pairs && (w.half == nil || im.half || im.pairs)
}

// ComputeBF16 says whether the active kernel computes in bfloat16.
func ComputeBF16() bool { return active.pairs }

// SetCompute sets the arithmetic of weight products: "f32" (the default:
// exact float32 products, BF16 weights widened), or "bf16" (both operands
// rounded to bfloat16 and multiplied by VDPBF16PS with float32 sums: the
// avx512bf16 kernel). "" keeps what the kernel does. A CPU without
// avx512_bf16 is refused rather than emulated: there bf16 would only be
// slower than f32, and no more accurate.
func SetCompute(mode string) error {
	switch mode {
	case "":
		return nil
	case "f32":
		if active.pairs {
			return fmt.Errorf("--compute f32: %s=%s computes in bfloat16; choose another kernel or drop --compute", KernelEnv, active.name)
		}
		return nil
	case "bf16":
		if active.pairs {
			return nil
		}
		if env := os.Getenv(KernelEnv); env != "" && env != "auto" {
			return fmt.Errorf("--compute bf16 needs the avx512bf16 kernel, but %s=%s", KernelEnv, env)
		}
		if ok, _ := Runnable("avx512bf16"); !ok {
			return fmt.Errorf("--compute bf16 needs a CPU with avx512f and avx512_bf16 (this one has: %s); use --compute f32", CPUFeatures())
		}
		return Select("avx512bf16")
	}
	return fmt.Errorf("--compute %q: f32 or bf16", mode)
}
