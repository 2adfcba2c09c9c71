package build

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// A plan with sub-blocks from different fine-tunes, a skipped attention and
// a linear repair builds into a standard checkpoint that loads as a plain
// model and scores what the plan's net scores.
func TestBuildSubBlocksAndRepair(t *testing.T) {
	f := stories(t)
	b := stitch.New(f, -1)
	tok, err := tokenizer.Load(f.Base().Dir)
	if err != nil {
		t.Fatal(err)
	}
	b.Calibrate = session.CalibrationReader(tok, 0)
	calib := filepath.Join(repoData, "data", "stories.jsonl")
	p, err := plan.Parse([]byte(`{"slots":[
		{"take":["base",0]},
		{"take":["code",1],"mlp":["math",1]},
		{"take":["base",2],"attn":"none"},
		{"take":["docs",4]}
	],"repair":{"method":"linear","calibration":"` + calib + `","samples":16}}`))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tailored")
	res, err := Build(b, p, Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	info := stitch.Info(f)
	if want := info.OuterParams + 4*info.LayerParams - info.AttnParams; res.Params != want {
		t.Errorf("params %d, want %d (one attention skipped)", res.Params, want)
	}
	if res.Mergekit {
		t.Error("mergekit.yml written for a plan mergekit cannot express")
	}
	card, _ := os.ReadFile(filepath.Join(out, "README.md"))
	for _, w := range []string{"## Repair", "| 2 | 3–3 | base |", "stories.jsonl", "A sub-block marked `none` is skipped"} {
		if !strings.Contains(string(card), w) {
			t.Errorf("model card lacks %q:\n%s", w, card)
		}
	}
	m, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	built, err := engine.NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if built.Layers[2].HasAttn() || !built.Layers[2].HasMLP() {
		t.Error("the built model's zero o_proj is not read as a skipped attention")
	}
	net, err := b.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	sameScores(t, built, net)
	// Unrepaired, the same plan scores differently: the repair is in the file.
	q := *p
	q.Repair = nil
	plainNet, _ := b.Net(&q)
	seq := []int{1, 403, 407, 261, 378, 285, 40, 269, 29, 371, 43, 262, 300}
	pl, _ := plainNet.LogProbs([][]int{seq})
	got, _ := built.LogProbs([][]int{seq})
	if math.Abs(pl[0][10]-got[0][10]) < 1e-4 {
		t.Error("the built model equals the unrepaired plan")
	}
}
