package search

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// journalOf writes a real 12-trial journal and returns its bytes.
func journalOf(t *testing.T) []byte {
	t.Helper()
	space := &Space{Layers: 5, Remove: 1, FineTunes: []string{"ft"}}
	path := filepath.Join(t.TempDir(), "trials.jsonl")
	j, _, err := OpenJournal(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Search(context.Background(), space, &synthetic{space: space}, Settings{Optimizer: "random", Seed: 3, Trials: 12, MinBudget: 100, MaxBudget: 900}, j, nil, nil); err != nil {
		t.Fatal(err)
	}
	j.Close()
	raw, _ := os.ReadFile(path)
	return raw
}

// Damage anywhere but a torn last line is reported with its line number and
// nothing is truncated; --truncate-journal cuts before the bad line and
// keeps a copy of the whole file.
func TestJournalDamageReported(t *testing.T) {
	raw := journalOf(t)
	lines := bytes.SplitAfter(raw, []byte("\n"))
	lines = lines[:len(lines)-1] // the empty rest after the last newline
	if len(lines) != 12 {
		t.Fatalf("%d lines", len(lines))
	}
	edit := func(line int, f func([]byte) []byte) []byte {
		var out []byte
		for i, l := range lines {
			if i == line-1 {
				l = f(append([]byte{}, l...))
			}
			out = append(out, l...)
		}
		return out
	}
	digit := func(l []byte) []byte { // change one digit of the objective
		i := bytes.Index(l, []byte(`"objective":`)) + len(`"objective":`)
		for ; l[i] < '0' || l[i] > '9' || l[i] == '9'; i++ {
		}
		l[i]++
		return l
	}
	cases := []struct {
		name    string
		content []byte
		line    int
		reason  string
	}{
		{"digit in an objective, line 5", edit(5, digit), 5, "does not match the line"},
		{"digit in an objective, first line", edit(1, digit), 1, "does not match the line"},
		{"digit in an objective, last complete line", edit(12, digit), 12, "does not match the line"},
		{"garbage line in the middle", edit(7, func([]byte) []byte { return []byte("#$%^\n") }), 7, "no checksum at the end of the line"},
		{"line cut in the middle, newline kept", edit(3, func(l []byte) []byte { return append(l[:len(l)/2], '\n') }), 3, "no checksum"},
		{"lines swapped", edit(4, func([]byte) []byte { return lines[4] }), 4, "trial 4 found where 3 was expected"},
		{"checksum field removed", edit(9, func(l []byte) []byte {
			return append(crcSuffix.ReplaceAll(bytes.TrimSuffix(l, []byte("\n")), []byte("}")), '\n')
		}), 9, "no checksum"},
		{"empty line", edit(2, func([]byte) []byte { return []byte("\n") }), 2, "no checksum"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		p := filepath.Join(dir, "trials.jsonl")
		os.WriteFile(p, c.content, 0o644)
		_, _, err := OpenJournal(p, false)
		var d *DamageError
		if !errors.As(err, &d) || d.Line != c.line || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: got %v, want line %d %q", c.name, err, c.line, c.reason)
			continue
		}
		if after, _ := os.ReadFile(p); !bytes.Equal(after, c.content) {
			t.Errorf("%s: the journal was changed while refusing it", c.name)
		}
		j, trials, err := OpenJournal(p, true)
		if err != nil {
			t.Fatalf("%s: truncate: %v", c.name, err)
		}
		j.Close()
		if len(trials) != c.line-1 {
			t.Errorf("%s: %d trials kept, want %d", c.name, len(trials), c.line-1)
		}
		kept, _ := os.ReadFile(p)
		if !bytes.Equal(kept, bytes.Join(lines[:c.line-1], nil)) {
			t.Errorf("%s: truncated journal is not lines 1..%d", c.name, c.line-1)
		}
		backups, _ := filepath.Glob(p + ".damaged-*")
		if len(backups) != 1 {
			t.Errorf("%s: backups %v", c.name, backups)
		} else if b, _ := os.ReadFile(backups[0]); !bytes.Equal(b, c.content) {
			t.Errorf("%s: the backup is not the damaged file", c.name)
		}
	}
	// A torn last line alone is repaired silently.
	p := filepath.Join(t.TempDir(), "trials.jsonl")
	os.WriteFile(p, append(append([]byte{}, raw...), lines[0][:20]...), 0o644)
	j, trials, err := OpenJournal(p, false)
	if err != nil || len(trials) != 12 {
		t.Fatalf("torn last line: %d trials, %v", len(trials), err)
	}
	j.Close()
	if after, _ := os.ReadFile(p); !bytes.Equal(after, raw) {
		t.Error("the torn line was not cut")
	}
}

// The journal reader never panics, and what it accepts re-reads the same.
func FuzzReadJournal(f *testing.F) {
	line := sealLine([]byte(`{"index":0,"bracket":0,"rung":0,"budget":3,"key":"k","config":null,"objective":0.5,"seconds":1}`))
	f.Add(append(line, '\n'))
	f.Add(append(append(line, '\n'), line[:10]...))
	f.Add([]byte("{\"index\":0}\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		trials, good, err := readJournal("j", raw)
		if good > len(raw) || (err == nil && good < len(raw) && bytes.IndexByte(raw[good:], '\n') >= 0) {
			t.Fatalf("good %d of %d, err %v", good, len(raw), err)
		}
		again, good2, err2 := readJournal("j", raw[:good])
		if err2 != nil || good2 != good || len(again) != len(trials) {
			t.Fatalf("the accepted prefix does not re-read: %v", err2)
		}
	})
}
