package engine

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/gptailor/gptailor/native/kernel"
)

// decodeNets is the SmolLM-135M-shaped net with float32 and BF16 weights,
// and the kernels to run each with: the fastest float32 kernel, and
// --compute bf16's where the CPU has it.
func decodeNets(b *testing.B, fn func(name string, net *Net)) {
	prev := kernel.Active()
	defer kernel.Select(prev)
	cfg := SyntheticConfig(576, 1536, 30, 9, 3, 49152)
	var kernels []string
	for _, k := range kernel.Names() {
		if ok, _ := kernel.Runnable(k); ok && k != "generic" && k != "avx2" {
			kernels = append(kernels, k)
		}
	}
	if len(kernels) == 0 {
		kernels = []string{prev}
	}
	for _, k := range kernels {
		for _, w := range []string{"f32", "bf16"} {
			kernel.Select(k)
			if w == "bf16" && !kernel.HalfWeights() && !kernel.ComputeBF16() {
				continue
			}
			net := RandomNet(cfg, 7)
			if w == "bf16" {
				net = RandomNetBF16(cfg, 7)
			}
			fn(fmt.Sprintf("kernel=%s/weights=%s", k, w), net)
		}
	}
}

// Decode: B sequences after a 32-token prompt, one token each per step
// (tokens/s counts every sequence's tokens), as llama-bench's tg32 after
// a short context.
func BenchmarkDecodeSmolLM135M(b *testing.B) {
	decodeNets(b, func(name string, net *Net) {
		for _, batch := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/batch=%d", name, batch), func(b *testing.B) {
				kernel.Select(kernelOf(name))
				const prompt, steps = 32, 32
				caches := make([]*KVCache, batch)
				toks := benchWindows(net.Cfg.VocabSize, batch, prompt)
				next := make([][]int, batch)
				sink := func(s, _ int, l []float32) { next[s] = []int{Argmax(l)} }
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					for s := range caches {
						caches[s], _ = net.NewKVCache(prompt+steps, false)
					}
					if err := net.Extend(caches, toks, false, sink); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					for k := 0; k < steps; k++ {
						if err := net.Extend(caches, next, false, sink); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(batch*steps*b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	})
}

// Prefill: one 512-token prompt into an empty cache (the GEMM path), the
// logits of its last token only, as llama-bench's pp512.
func BenchmarkPrefillSmolLM135M(b *testing.B) {
	decodeNets(b, func(name string, net *Net) {
		b.Run(name+"/prompt=512", func(b *testing.B) {
			kernel.Select(kernelOf(name))
			toks := benchWindows(net.Cfg.VocabSize, 1, 512)
			kc, _ := net.NewKVCache(512, false)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				kc.Reset()
				if err := net.Extend([]*KVCache{kc}, toks, false, func(int, int, []float32) {}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(512*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	})
}

func kernelOf(name string) string {
	var k string
	fmt.Sscanf(name, "kernel=%s", &k)
	for i := range k {
		if k[i] == '/' {
			return k[:i]
		}
	}
	return k
}

// The machine's copy bandwidth, the ceiling of a decode step (which reads
// every weight once): every core copies its share of 256 MiB into another
// buffer; GB/s counts the bytes read and written, as STREAM's Copy does.
func BenchmarkCopyBandwidth(b *testing.B) {
	const n = 64 << 20 // float32s: 256 MiB each way
	src, dst := make([]float32, n), make([]float32, n)
	for i := range src {
		src[i] = float32(i)
	}
	workers := runtime.GOMAXPROCS(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lo, hi := w*n/workers, (w+1)*n/workers
				copy(dst[lo:hi], src[lo:hi])
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(2*4*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
