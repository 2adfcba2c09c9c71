package search

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

func TestZZBound(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	ev := storiesEvaluator(t, 1<<20, false)
	for _, f := range []string{"/tmp/exp/base-bo-0", "/tmp/exp/base-random-0", "/tmp/exp/pool-bo-0", "/tmp/exp/long-bo-0", "/tmp/exp/chk-bo-0"} {
		fh, err := os.Open(f + "/trials.jsonl")
		if err != nil {
			continue
		}
		var tr []Trial
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var x Trial
			json.Unmarshal(sc.Bytes(), &x)
			tr = append(tr, x)
		}
		fmt.Println(f, len(tr), prefixBound(t, ev, tr))
		if len(tr) > 200 {
			fmt.Println(" last 200:", prefixBound(t, ev, tr[len(tr)-200:]))
		}
	}
}
