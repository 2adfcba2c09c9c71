package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/shared/protocol"
)

// A search whose run directory cannot be created is refused with the
// reason in the reply, and nothing starts: the runs directory is a file,
// or (when not running as root, which writes anywhere) a read-only
// directory.
func TestSearchRefusedWithoutRunDirectory(t *testing.T) {
	blocked := filepath.Join(t.TempDir(), "runs")
	if err := os.WriteFile(blocked, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{"file in the way": blocked}
	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		cases["read-only parent"] = filepath.Join(ro, "runs")
	} else {
		t.Log("running as root: the read-only case is not tested (root writes into read-only directories)")
	}
	for name, runs := range cases {
		t.Run(name, func(t *testing.T) {
			_, ts := newServerWith(t, func(c *Config) { c.UIDir, c.RunsDir = testUI(t), runs })
			a, _, err := dial(t, ts, "secret", "")
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			call(t, a, "h", protocol.Hello, nil)
			e := call(t, a, "s", protocol.SearchStart, protocol.RunRequest{Run: "x", Remove: 1, Trials: new(int)})
			var er protocol.Error
			json.Unmarshal(e.Payload, &er)
			if e.Type != protocol.ReplyError || !strings.Contains(er.Reason, "run x: run directory") {
				t.Fatalf("reply %s %s: want an error naming the run directory", e.Type, e.Payload)
			}
			st := call(t, a, "st", protocol.SearchStatus, nil)
			if strings.Contains(string(st.Payload), `"running":true`) {
				t.Errorf("a search runs after the refusal: %s", st.Payload)
			}
		})
	}
}
