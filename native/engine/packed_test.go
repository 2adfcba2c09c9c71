package engine

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/model"
)

// A context packed once with several branches scores each branch exactly
// as if it had been run on its own after the context.
func TestPackedBranchesEqualSeparateRuns(t *testing.T) {
	m, err := model.Open(filepath.Join(repoData, "stories260K-base"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	net, err := NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := []int{1, 403, 407, 261, 378, 432}
	branches := [][]int{{383, 286, 261}, {376, 298, 315, 421, 395}, {500}}
	packed := Seq{Tokens: append([]int(nil), ctx...)}
	for i := range ctx {
		packed.Pos = append(packed.Pos, i)
		packed.Seg = append(packed.Seg, 0)
	}
	var targets []Target
	for k, br := range branches {
		prev := len(ctx) - 1 // the first branch token is predicted by the context's last row
		for j, tok := range br {
			targets = append(targets, Target{Row{0, prev}, tok})
			packed.Tokens = append(packed.Tokens, tok)
			packed.Pos = append(packed.Pos, len(ctx)+j)
			packed.Seg = append(packed.Seg, k+1)
			prev = len(packed.Tokens) - 1
		}
	}
	got, err := net.TargetLogProbs([]Seq{packed}, targets)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, br := range branches {
		full := append(append([]int(nil), ctx...), br...)
		lp, err := net.LogProbs([][]int{full})
		if err != nil {
			t.Fatal(err)
		}
		for j := range br {
			want := lp[0][len(ctx)-1+j]
			if math.Abs(got[k]-want) > 1e-5 {
				t.Errorf("branch token %d: packed %.7f, separate %.7f", k, got[k], want)
			}
			k++
		}
	}
}
