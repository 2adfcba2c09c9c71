// Package demo gives tests the demo family shipped in testdata/ as family
// members (kept apart from testenv, which packages below model use).
package demo

import (
	"path/filepath"

	"github.com/gptailor/gptailor/internal/testenv"
	"github.com/gptailor/gptailor/native/model"
)

// Members is the demo family's members for the aliases asked (base, code,
// docs, math), in that order.
func Members(aliases ...string) []model.Member {
	var ms []model.Member
	for _, a := range aliases {
		ms = append(ms, model.Member{Alias: a, Dir: filepath.Join(testenv.Repo(), "testdata", "stories260K-"+a)})
	}
	return ms
}
