package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"regexp"
	"time"

	"github.com/gptailor/gptailor/native/atomicfile"
)

// Journal is the append-only trial log of a run: one JSON line per
// finished trial, synced before the next trial starts, so kill -9 loses
// nothing finished. Each line ends in its own checksum,
// `…,"crc":"89abcdef"}`: the CRC-32C of the line's bytes before that field,
// closed by "}". A torn last line (no newline: the write was cut) is the one
// damage repaired silently; any other bad line is a *DamageError.
type Journal struct {
	path string
	f    *os.File
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var crcSuffix = regexp.MustCompile(`,"crc":"([0-9a-f]{8})"}$`)

// sealLine appends the checksum field to a JSON object's encoding.
func sealLine(obj []byte) []byte {
	sum := crc32.Checksum(obj, castagnoli)
	return append(obj[:len(obj)-1], fmt.Sprintf(`,"crc":"%08x"}`, sum)...)
}

// DamageError is a journal line that was changed or broken after it was
// written. Line counts from 1.
type DamageError struct {
	Path   string
	Line   int
	Reason string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%s line %d: %s; the trials after it would be lost or wrong, so the run stops here "+
		"(--truncate-journal keeps lines 1–%d, saves the whole file beside it and recomputes the rest)", e.Path, e.Line, e.Reason, e.Line-1)
}

// OpenJournal opens (creating) the journal and returns the trials in it.
// With truncate, a damaged journal is cut before its first bad line (the
// whole file is first saved as PATH.damaged-TIME) instead of refused.
func OpenJournal(path string, truncate bool) (*Journal, []Trial, error) {
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	trials, good, err := readJournal(path, raw)
	var dmg *DamageError
	if errors.As(err, &dmg) && truncate {
		backup := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if werr := atomicfile.Write(backup, raw, 0o644); werr != nil {
			return nil, nil, werr
		}
		err = nil
	}
	if err != nil {
		return nil, nil, err
	}
	if good < len(raw) {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return &Journal{path: path, f: f}, trials, nil
}

// readJournal returns the trials of the intact lines and the byte length
// they span. Journals written before checksums (no line has one) are read
// as they are.
func readJournal(path string, raw []byte) ([]Trial, int, error) {
	var trials []Trial
	good := 0
	legacy := len(raw) > 0 && !bytes.Contains(raw, []byte(`,"crc":"`))
	for line := 1; good < len(raw); line++ {
		nl := bytes.IndexByte(raw[good:], '\n')
		if nl < 0 { // no newline: the last write was cut short
			break
		}
		text := raw[good : good+nl]
		damaged := func(format string, args ...any) ([]Trial, int, error) {
			return trials, good, &DamageError{Path: path, Line: line, Reason: fmt.Sprintf(format, args...)}
		}
		if !legacy {
			m := crcSuffix.FindSubmatchIndex(text)
			if m == nil {
				return damaged("no checksum at the end of the line")
			}
			body := append(append([]byte{}, text[:m[0]]...), '}')
			if want := fmt.Sprintf("%08x", crc32.Checksum(body, castagnoli)); want != string(text[m[2]:m[3]]) {
				return damaged("checksum %s does not match the line (%s): it was changed after it was written", text[m[2]:m[3]], want)
			}
		}
		var t Trial
		if err := json.Unmarshal(text, &t); err != nil {
			return damaged("not a trial: %v", err)
		}
		if t.Index != len(trials) {
			return damaged("trial %d found where %d was expected", t.Index, len(trials))
		}
		trials = append(trials, t)
		good += nl + 1
	}
	return trials, good, nil
}

// Append writes one trial durably.
func (j *Journal) Append(t Trial) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(sealLine(b), '\n')); err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		return err
	}
	atomicfile.Point()
	return nil
}

// Close closes the journal.
func (j *Journal) Close() error { return j.f.Close() }
