package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// Issue 22 item 12: the calibration windows are read from the tokens they
// need, not the whole file: a JSONL whose first line holds enough text is
// never read past it (its broken third line is not reached), and one
// enormous line is tokenized only up to what is needed.
func TestCalibrationReadsOnlyWhatItNeeds(t *testing.T) {
	tok, err := tokenizer.Load(filepath.Join(repoData, "stories260K-base"))
	if err != nil {
		t.Fatal(err)
	}
	read := CalibrationReader(tok, 0)
	dir := t.TempDir()
	long := strings.Repeat("Once upon a time there was a little girl. ", 2000)
	p := filepath.Join(dir, "c.jsonl")
	os.WriteFile(p, []byte(`{"text":"`+long+`"}`+"\n"+`{"text":"more"}`+"\n"+"{broken\n"), 0o644)
	r := &plan.Repair{Method: "linear", Calibration: p, Samples: 4, Seq: 64}
	w, err := read(r)
	if err != nil {
		t.Fatalf("the broken line past the needed tokens was read: %v", err)
	}
	// 4 windows to fit on and 1 held out to check the fit.
	if len(w) != 5 || len(w[0]) != 64 {
		t.Fatalf("%d windows of %d", len(w), len(w[0]))
	}
	// The windows are the first tokens of the text, as from the whole file.
	all := tok.Encode(long, true)
	for i, win := range w {
		for k, id := range win {
			if all[i*64+k] != id {
				t.Fatalf("window %d token %d: %d, want %d", i, k, id, all[i*64+k])
			}
		}
	}
	// Not enough text: every line is read, and the broken one named.
	short := filepath.Join(dir, "s.jsonl")
	os.WriteFile(short, []byte(`{"text":"tiny"}`+"\n"+"{broken\n"), 0o644)
	if _, err := read(&plan.Repair{Method: "linear", Calibration: short, Samples: 4, Seq: 64}); err == nil || !strings.Contains(err.Error(), short+":2:") {
		t.Errorf("short file: %v", err)
	}
}
