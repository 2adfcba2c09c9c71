package search

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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

// crcAt is crcSuffix.FindSubmatchIndex without the regexp (which scanned
// every line whole): the field's start and its hex digits' bounds, or nil.
func crcAt(line []byte) []int {
	const pre, n = `,"crc":"`, len(`,"crc":"`) + 8 + 2
	if len(line) < n {
		return nil
	}
	i := len(line) - n
	if string(line[i:i+len(pre)]) != pre || string(line[len(line)-2:]) != `"}` {
		return nil
	}
	for _, c := range line[i+len(pre) : len(line)-2] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil
		}
	}
	return []int{i, len(line), i + len(pre), len(line) - 2}
}

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
// It is for the run's writer (the caller holds the run's lock): readers
// use ReadJournal or ScanJournal, which never write.
func OpenJournal(path string, truncate bool) (*Journal, []Trial, error) {
	var trials []Trial
	good, size, err := scanFile(path, func(t Trial) error { trials = append(trials, t); return nil })
	if err != nil && errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	var dmg *DamageError
	if errors.As(err, &dmg) && truncate {
		backup := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		raw, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, nil, rerr
		}
		if werr := atomicfile.Write(backup, raw, 0o644); werr != nil {
			return nil, nil, werr
		}
		err = nil
	}
	if err != nil {
		return nil, nil, err
	}
	if good < size {
		if err := os.Truncate(path, good); err != nil {
			return nil, nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return &Journal{path: path, f: f}, trials, nil
}

// ReadJournal returns a journal's intact trials without writing to it: a
// torn last line (a run still writing, or killed) is left as it is, and a
// journal on a read-only mount reads. A missing journal has no trials.
func ReadJournal(path string) ([]Trial, error) {
	var trials []Trial
	err := ScanJournal(path, func(t Trial) error { trials = append(trials, t); return nil })
	return trials, err
}

// ScanJournal calls fn with each intact trial in order, reading the file
// as a stream (memory bounded by the longest line, not the file) and
// never writing to it. A missing journal has no trials.
func ScanJournal(path string, fn func(Trial) error) error {
	_, _, err := scanFile(path, fn)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// MaxJournalLine bounds one journal line (a trial is a few kilobytes).
const MaxJournalLine = 16 << 20

// scanFile scans the journal at path read-only: the byte length of its
// intact lines and the file's size.
func scanFile(path string, fn func(Trial) error) (good, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	good, err = scanJournal(path, f, fn)
	return good, st.Size(), err
}

// readJournal returns the trials of the intact lines of raw and the byte
// length they span.
func readJournal(path string, raw []byte) ([]Trial, int, error) {
	var trials []Trial
	good, err := scanJournal(path, bytes.NewReader(raw), func(t Trial) error { trials = append(trials, t); return nil })
	return trials, int(good), err
}

// scanJournal reads journal lines from r. Journals written before
// checksums (the first line has none) are read as they are; a checksummed
// line after an unchecksummed first one means the first lost its checksum.
// Every line's config is checked for shape and against the first line's
// layer count, so a reader never indexes past a hand-edited config.
func scanJournal(path string, r io.Reader, fn func(Trial) error) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var good int64
	n, layers := 0, -1
	legacy := false
	for line := 1; ; line++ {
		text, err := readLine(br, MaxJournalLine)
		damaged := func(format string, args ...any) (int64, error) {
			return good, &DamageError{Path: path, Line: line, Reason: fmt.Sprintf(format, args...)}
		}
		if errors.Is(err, errLongLine) {
			return damaged("longer than %d bytes", MaxJournalLine)
		}
		if err != nil { // io.EOF: the end, or a torn last line (no newline: the write was cut)
			if err == io.EOF {
				return good, nil
			}
			return good, err
		}
		body := text[:len(text)-1]
		m := crcAt(body)
		if line == 1 {
			legacy = m == nil && len(body) > 0 && body[0] == '{'
		}
		if legacy && m != nil {
			return 0, &DamageError{Path: path, Line: 1, Reason: "no checksum at the end of the line"}
		}
		if !legacy {
			if m == nil {
				return damaged("no checksum at the end of the line")
			}
			sealed := append(append([]byte{}, body[:m[0]]...), '}')
			if want := fmt.Sprintf("%08x", crc32.Checksum(sealed, castagnoli)); want != string(body[m[2]:m[3]]) {
				return damaged("checksum %s does not match the line (%s): it was changed after it was written", body[m[2]:m[3]], want)
			}
		}
		var t Trial
		if err := json.Unmarshal(body, &t); err != nil {
			return damaged("not a trial: %v", err)
		}
		if t.Index != n {
			return damaged("trial %d found where %d was expected", t.Index, n)
		}
		if err := t.Config.CheckShape(); err != nil {
			return damaged("trial %d: %v", t.Index, err)
		}
		if layers < 0 {
			layers = len(t.Config.Removed)
		} else if len(t.Config.Removed) != layers {
			return damaged("trial %d: config has %d layers, the trials before it %d", t.Index, len(t.Config.Removed), layers)
		}
		if err := fn(t); err != nil {
			return good, err
		}
		n++
		good += int64(len(text))
	}
}

var errLongLine = errors.New("line too long")

// readLine reads one line with its newline, at most max bytes; io.EOF for
// a last line without a newline (torn) or none.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > max {
			return nil, errLongLine
		}
		switch err {
		case nil:
			return buf, nil
		case bufio.ErrBufferFull:
			continue
		default:
			return nil, err
		}
	}
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
