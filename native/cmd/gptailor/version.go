package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/gptailor/gptailor/native/kernel"
)

func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: gptailor version")
		return 2
	}
	rev := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "gptailor (revision %s, %s, %s/%s)\n", rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "cpu features: %s\n", kernel.CPUFeatures())
	var kinds []string
	for _, n := range kernel.Names() {
		if ok, _ := kernel.Runnable(n); ok {
			kinds = append(kinds, n)
		} else {
			kinds = append(kinds, n+" (not on this CPU)")
		}
	}
	fmt.Fprintf(stdout, "kernels: %s\n", strings.Join(kinds, ", "))
	half := "float32"
	if kernel.HalfWeights() {
		half = "bfloat16 (16-bit panels, widened exactly in the kernel)"
	}
	fmt.Fprintf(stdout, "kernel in use: %s (choose with %s=%s); BF16 weights kept as %s; %d threads\n",
		kernel.Active(), kernel.KernelEnv, strings.Join(kernel.Names(), "|"), half, kernel.Threads)
	return 0
}
