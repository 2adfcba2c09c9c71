// Package testenv tells tests where the team folder is: ../shared beside the
// repository, holding the golden files and the second real model. On a
// developer's machine without it those tests skip; under CI (CI set in the
// environment) a missing team folder fails them, so a green run always
// means the golden comparisons ran.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Shared returns the team folder's path.
func Shared() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
}

// Missing skips (or, under CI, fails) a test that cannot read err's file
// from the team folder.
func Missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("the team folder is required under CI: %v", err)
	}
	t.Skipf("team folder not available: %v", err)
}

// Repo is the repository's root.
func Repo() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
