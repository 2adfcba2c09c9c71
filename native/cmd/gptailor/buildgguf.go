package main

import (
	"fmt"
	"io"
	"time"

	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/ggufexport"
	"github.com/gptailor/gptailor/native/progress"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// buildGGUF is `build --format gguf`.
func buildGGUF(b *stitch.Builder, p *plan.Plan, out, typ string, force, ollama bool, stdout, stderr io.Writer) int {
	t, err := gguf.ParseType(typ)
	if err != nil {
		return fail(stderr, "build", fmt.Errorf("--type: %w", err))
	}
	var bar *progress.Bar
	start := time.Now()
	res, err := ggufexport.Export(b, p, ggufexport.Options{
		Out: out, Type: t, Force: force,
		Progress: func(done, total int) {
			if bar == nil {
				bar = progress.New(stderr, "build", "tensors", total)
			}
			bar.Add(1)
		},
	})
	bar.Finish()
	if err != nil {
		return fail(stderr, "build", err)
	}
	fmt.Fprintf(stdout, "wrote %s: GGUF %s, %d tensors (%s), %.1f MB in %.1fs\n", res.Path, t, res.Tensors, typeCounts(res.Types), float64(res.Bytes)/1e6, time.Since(start).Seconds())
	for _, n := range res.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	if ollama {
		mf, err := ggufexport.WriteModelfile(res, force)
		if err != nil {
			return fail(stderr, "build", err)
		}
		fmt.Fprintf(stdout, "wrote %s (ollama create NAME -f %s)\n", mf, mf)
	}
	return 0
}

func typeCounts(m map[gguf.Type]int) string {
	s := ""
	for _, t := range []gguf.Type{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0, gguf.Q4_0} {
		if m[t] > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%d %s", m[t], t)
		}
	}
	return s
}
