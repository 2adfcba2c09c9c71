package server

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/shared/protocol"
)

// Issue 22 item 4: files named by a client come only from the --files
// directories and must be regular files of bounded size; /dev/zero, a FIFO
// (its open blocked the single job worker), a path outside, a symbolic
// link out and a missing file all get the same answer, which says nothing
// about the file.
func TestClientFilesConfined(t *testing.T) {
	allowed := t.TempDir()
	os.WriteFile(filepath.Join(allowed, "calib.txt"), []byte("Once upon a time"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(allowed, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/etc/hostname", filepath.Join(allowed, "out"))
	s, ts := newServerWith(t, func(c *Config) { c.FileDirs = []string{allowed} })
	c, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	real, _ := filepath.EvalSymlinks(allowed)
	for _, name := range []string{"/etc/hostname", "/dev/zero", filepath.Join(allowed, "fifo"), "fifo", "out", "../../etc/hostname", filepath.Join(allowed, "missing")} {
		want := fmt.Sprintf(`repair %q: not a regular file of at most 256 MiB in the directories this server reads client files from (serve --files: %s)`, name, real)
		e := call(t, c, "s", protocol.SearchStart, map[string]any{"remove": 1, "repair": name})
		var got protocol.Error
		json.Unmarshal(e.Payload, &got)
		if e.Type != protocol.ReplyError || got.Reason != want {
			t.Errorf("%s: %s %q\nwant %q", name, e.Type, got.Reason, want)
		}
		// A plan naming it is refused the same way (evaluate, validate, build).
		pl := fmt.Sprintf(`{"version":1,"slots":[{"take":{"model":"base","layer":0}},{"take":{"model":"base","layer":2}},{"take":{"model":"base","layer":3}},{"take":{"model":"base","layer":4}}],"repair":{"method":"linear","calibration":%q}}`, name)
		for _, typ := range []string{protocol.Evaluate, protocol.ValidatePlan, protocol.BuildPlan} {
			payload := map[string]any{"plan": json.RawMessage(pl)}
			if typ == protocol.BuildPlan {
				payload["name"] = "b"
			}
			e := call(t, c, "p", typ, payload)
			json.Unmarshal(e.Payload, &got)
			if e.Type != protocol.ReplyError || !strings.HasPrefix(got.Reason, fmt.Sprintf("repair.calibration %q: not a regular file", name)) {
				t.Errorf("%s %s: %s %s", typ, name, e.Type, e.Payload)
			}
		}
	}
	if p, err := s.clientFile("repair", "calib.txt"); err != nil || p != filepath.Join(real, "calib.txt") {
		t.Errorf("a file of the --files directory: %q %v", p, err)
	}
	if s.jobs.pending() != 0 {
		t.Errorf("%d jobs pending", s.jobs.pending())
	}
}

// Items 8 and 12: a run whose journal has a checksummed line with a
// malformed config is listed as damaged and opened with an error, not a
// panic (the connection dropped); runs.open's reply is bounded.
func TestRunsWithMalformedConfig(t *testing.T) {
	s, ts := newServerWith(t, func(*Config) {})
	c, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := filepath.Join(s.cfg.RunsDir, "bad")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "search.json"), []byte(`{"family":[],"remove":1,"tasks":"","settings":{"optimizer":"random","seed":0,"trials":4,"duration":0,"min_budget":1,"max_budget":3,"eta":3,"warm_start":false,"extra_starts":null}}`), 0o644)
	line := func(i int, config string) string {
		b, _ := json.Marshal(map[string]any{"index": i, "bracket": 0, "rung": 0, "budget": 1, "key": "k", "config": json.RawMessage(config), "objective": 0.5, "seconds": 1})
		return string(sealTestLine(b)) + "\n"
	}
	good := `{"removed":[true,false,false,false,false],"subset":[0,1,1,1,1],"lambda":[0,0,0,0,0]}`
	os.WriteFile(filepath.Join(dir, "trials.jsonl"), []byte(line(0, good)+line(1, `{"removed":[true,false],"subset":[0],"lambda":[0,0]}`)), 0o644)
	e := call(t, c, "l", protocol.RunsList, nil)
	var infos []protocol.RunInfo
	json.Unmarshal(e.Payload, &infos)
	if len(infos) != 1 || !strings.Contains(infos[0].Error, "line 2: trial 1: config.subset has 1 entries for 2 layers") {
		t.Fatalf("runs.list: %s", e.Payload)
	}
	e = call(t, c, "o", protocol.RunOpen, map[string]string{"run": "bad"})
	if e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), "config.subset has 1 entries for 2 layers") {
		t.Fatalf("runs.open: %s %s", e.Type, e.Payload)
	}
	// A config of another space (a fine-tune bit past the family's three).
	os.WriteFile(filepath.Join(dir, "trials.jsonl"), []byte(line(0, good)+line(1, strings.Replace(good, `[0,1,1`, `[0,64,1`, 1))), 0o644)
	e = call(t, c, "o2", protocol.RunOpen, map[string]string{"run": "bad"})
	if e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), "line 2: trial 1: config layer 1 names fine-tune bits 0x40 past the space's 3 fine-tunes") {
		t.Fatalf("runs.open of a config outside the space: %s %s", e.Type, e.Payload)
	}
	// Read-only: a torn last line is left as it is.
	raw := line(0, good) + `{"index":1,"bra`
	os.WriteFile(filepath.Join(dir, "trials.jsonl"), []byte(raw), 0o644)
	call(t, c, "l2", protocol.RunsList, nil)
	if after, _ := os.ReadFile(filepath.Join(dir, "trials.jsonl")); string(after) != raw {
		t.Errorf("runs.list changed the journal: %q", after)
	}
	_ = search.MaxJournalLine
}

// sealTestLine is a journal line's checksum as search writes it: the
// CRC-32C of the object, appended as its last field.
func sealTestLine(obj []byte) []byte {
	sum := crc32.Checksum(obj, crc32.MakeTable(crc32.Castagnoli))
	return append(obj[:len(obj)-1], fmt.Sprintf(`,"crc":"%08x"}`, sum)...)
}
