package plan

import (
	"strings"
	"testing"
)

// Issue 22 item 11: λ 1e20 and a passthrough scale 1e30 passed validation
// and built a model whose NLL is NaN; they are refused with their paths.
func TestMergeScalesBounded(t *testing.T) {
	raw := `{"version":1,"slots":[
	 {"merge":{"method":"task_arithmetic","layer":0,"models":["a","b"],"lambda":1e20}},
	 {"merge":{"method":"passthrough","layer":1,"models":["a"],"scale":1e30}},
	 {"merge":{"method":"linear","layer":2,"models":["a","b"],"weights":[1,-500]}},
	 {"merge":{"method":"task_arithmetic","layer":3,"models":["a","b"],"lambda":100}}]}`
	_, err := Parse([]byte(raw))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"slots[0].merge.lambda: must be between -100 and 100, is 1e+20 (larger scales overflow the weights)",
		"slots[1].merge.scale: must be between -100 and 100, is 1e+30",
		"slots[2].merge.weights[1]: must be between -100 and 100, is -500",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "slots[3]") {
		t.Errorf("λ 100 refused: %v", err)
	}
}
