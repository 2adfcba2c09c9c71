// Package sysmem reads the machine's memory and this process's use of it
// (Linux /proc), for cache defaults and the peak RSS that eval and search
// report.
package sysmem

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// TotalMB is the machine's memory (MemTotal), or fallback where it cannot
// be read.
func TotalMB(fallback int) int {
	if kb := field("/proc/meminfo", "MemTotal"); kb > 0 {
		return kb >> 10
	}
	return fallback
}

// FractionMB is frac of the machine's memory in MiB (1024 MiB × 4 × frac
// where it cannot be read).
func FractionMB(frac float64) int {
	return int(float64(TotalMB(4096)) * frac)
}

// PeakRSSMB is this process's peak resident set (VmHWM) in MiB, or -1.
func PeakRSSMB() int {
	if kb := field("/proc/self/status", "VmHWM"); kb >= 0 {
		return kb >> 10
	}
	return -1
}

// RSSMB is this process's resident set now (VmRSS) in MiB, or -1.
func RSSMB() int {
	if kb := field("/proc/self/status", "VmRSS"); kb >= 0 {
		return kb >> 10
	}
	return -1
}

func field(path, name string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		var kb int
		if n, _ := fmt.Sscanf(line, name+": %d kB", &kb); n == 1 {
			return kb
		}
	}
	return -1
}

// SoftLimit asks Go's garbage collector to keep the heap under bytes
// (capped at 90% of the machine's memory), unless the user set GOMEMLIMIT.
// Without it the heap may grow to twice what is live before a collection:
// a search holding 6 GiB of packed layers reached 12 GiB resident. It
// returns the limit set (0: none).
func SoftLimit(bytes int64) int64 {
	if os.Getenv("GOMEMLIMIT") != "" || bytes <= 0 {
		return 0
	}
	if total := int64(TotalMB(0)) << 20; total > 0 {
		bytes = min(bytes, total/10*9)
	}
	debug.SetMemoryLimit(bytes)
	return bytes
}
