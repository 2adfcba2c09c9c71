package main

import (
	"fmt"
	"time"
)

// atLeast refuses an integer flag below lo, naming it.
func atLeast(flag string, v, lo int) error {
	if v < lo {
		return fmt.Errorf("%s %d: must be at least %d", flag, v, lo)
	}
	return nil
}

// between refuses a number flag outside [lo, hi] (0 meaning "not used" is
// the caller's business: pass lo = 0).
func between(flag string, v, lo, hi float64) error {
	if !(v >= lo && v <= hi) {
		return fmt.Errorf("%s %v: must be between %v and %v", flag, v, lo, hi)
	}
	return nil
}

// positiveDuration refuses a negative duration flag.
func positiveDuration(flag string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s %v: must not be negative", flag, d)
	}
	return nil
}
