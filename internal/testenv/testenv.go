// Package testenv tells tests where the repository is. Everything a test
// reads lives inside it (testdata/ and packages' own testdata/), so a fresh
// clone anywhere runs every test; no test may read a folder beside the
// repository (testenv's own test enforces that).
package testenv

import (
	"path/filepath"
	"runtime"
)

// Repo is the repository's root.
func Repo() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
