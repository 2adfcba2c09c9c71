package progress

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Not a terminal: JSON lines, the last one final with the full count.
func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "eval", "windows", 3)
	for i := 0; i < 3; i++ {
		b.Add(1)
	}
	b.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last["event"] != "progress" || last["done"] != 3.0 || last["total"] != 3.0 || last["final"] != true || last["label"] != "eval" {
		t.Errorf("last line %v", last)
	}
	var nilBar *Bar
	nilBar.Add(1) // a nil bar ignores calls
	nilBar.Finish()
}
