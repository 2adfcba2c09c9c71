package scorer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// rssMiB is this process's resident set (VmRSS), or -1 where /proc is missing.
func rssMiB(t testing.TB) int { return procStatus(t, "VmRSS") }

// peakMiB is the peak resident set since resetPeak (VmHWM).
func peakMiB(t testing.TB) int { return procStatus(t, "VmHWM") }

// resetPeak starts VmHWM again from the current RSS (Linux clear_refs 5).
func resetPeak() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func procStatus(t testing.TB, field string) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		var kb int
		if n, _ := fmt.Sscanf(line, field+": %d kB", &kb); n == 1 {
			return kb >> 10
		}
	}
	return -1
}

// Modules that ask the host for memory outside the linear-memory limit —
// tables declared huge, tables grown in any export or in a loop, tables of
// other element types, several tables, a huge starting memory — are refused
// at upload with the reason, and the host's memory does not move.
func TestHostileModulesRefusedAtUpload(t *testing.T) {
	h := host(t, Limits{MemoryBytes: 64 << 20})
	before := rssMiB(t)
	cases := map[string]string{
		"table-grow-huge":      refTypes,
		"table-grow-loop":      refTypes,
		"table-fill":           refTypes,
		"table-declared-huge":  "declares tables of 134217728 entries (1024 MiB); the limit is 1048576 entries (an eighth of the 64 MiB memory limit)",
		"tables-many":          "at most one table allowed in module as feature \"reference-types\" is disabled (scorers may not",
		"table-externref":      "section table: table type funcref is invalid: feature \"reference-types\" is disabled (scorers may not",
		"memory-declared-huge": "section memory: min 65536 pages (4 Gi) over limit of 1024 pages (64 Mi)",
		"wasi-unknown":         "imports wasi_snapshot_preview1.sock_open: WASI preview 1 has no such function",
		"wasi-badsig":          "imports wasi_snapshot_preview1.fd_write with signature (i32) -> (i32), want (i32, i32, i32, i32) -> (i32)",
	}
	for name, want := range cases {
		_, err := h.Load(context.Background(), name+".wasm", wat(t, "testdata/hostile/"+name+".wat"))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
	// table.grow in every export and in the start functions.
	for _, fn := range []string{"gptailor_alloc", "gptailor_score", "gptailor_result", "gptailor_message", "_initialize", "start"} {
		src := growIn(fn)
		path := filepath.Join(t.TempDir(), fn+".wat")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := h.Load(context.Background(), fn+".wasm", wat(t, path))
		if err == nil || !strings.Contains(err.Error(), refTypes) {
			t.Errorf("table.grow in %s: got %v", fn, err)
		}
	}
	// Two tables within the limit together are refused by wazero (one table
	// without reference types); one table at the limit is accepted.
	atLimit := strings.Replace(growIn(""), "(table $t 1 funcref)", "(table $t 1048576 funcref)", 1)
	path := filepath.Join(t.TempDir(), "at-limit.wat")
	os.WriteFile(path, []byte(atLimit), 0o644)
	m, err := h.Load(context.Background(), "at-limit.wasm", wat(t, path))
	if err != nil {
		t.Fatalf("a table at the limit: %v", err)
	}
	if _, err := h.Score(context.Background(), m, []byte("{}")); err != nil {
		t.Errorf("a table at the limit scores: %v", err)
	}
	runtime.GC()
	if after := rssMiB(t); before > 0 && after-before > 96 {
		t.Errorf("host RSS grew from %d to %d MiB", before, after)
	} else {
		t.Logf("host RSS %d → %d MiB", before, after)
	}
}

const refTypes = `invalid as feature "reference-types" is disabled (scorers may not use reference types — table.grow, table.fill, ref.null, externref, several tables — so a module's tables stay the size it declares)`

// growIn is a valid scorer whose function fn (an export, _initialize or the
// start function) grows its table by ~2³² entries; "" grows nowhere.
func growIn(fn string) string {
	body := func(name, sig, val string) string {
		grow := ""
		if name == fn {
			grow = "(drop (table.grow $t (ref.null func) (i32.const -2)))"
		}
		return fmt.Sprintf("  (func (export %q) %s %s %s)\n", name, sig, grow, val)
	}
	var b strings.Builder
	b.WriteString("(module\n  (table $t 1 funcref)\n  (memory (export \"memory\") 1)\n")
	b.WriteString(body("gptailor_alloc", "(param i32) (result i32)", "(i32.const 1024)"))
	b.WriteString(body("gptailor_score", "(param i32 i32) (result i32)", "(i32.const 0)"))
	b.WriteString(body("gptailor_result", "(result f64)", "(f64.const 1)"))
	b.WriteString(body("gptailor_message", "(result i64)", "(i64.const 0)"))
	b.WriteString(body("_initialize", "", ""))
	grow := ""
	if fn == "start" {
		grow = "(drop (table.grow $t (ref.null func) (i32.const -2)))"
	}
	b.WriteString("  (func $start " + grow + ")\n  (start $start))\n")
	return b.String()
}

// A Go guest that allocates without end is reported as out of memory (not
// as a timeout), and the host's memory stays bounded by the limit.
func TestGoGuestOutOfMemory(t *testing.T) {
	wasm := buildGo(t, "./testdata/gooom")
	h := host(t, Limits{MemoryBytes: 64 << 20, CallTimeout: 30 * time.Second}) // room for a loaded machine
	m, err := h.Load(context.Background(), "gooom", wasm)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := rssMiB(t)
	resetPeak()
	_, err = h.Score(context.Background(), m, []byte("{}"))
	var ce *CallError
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "gptailor_score ran out of memory (limit 64 MiB)") {
		t.Fatalf("got %v", err)
	}
	// The guest's 64 MiB plus the instance's own bookkeeping; wazero's
	// default slice-backed memory peaked near 300 MiB here.
	if peak := peakMiB(t); before > 0 && peak-before > 96 {
		t.Errorf("host peak RSS %d MiB from %d with a 64 MiB guest limit", peak, before)
	} else {
		t.Logf("host RSS %d MiB, peak during the call %d MiB (guest limit 64 MiB)", before, peak)
	}
}

// A module's message cannot drive the terminal: control characters are
// shown escaped.
func TestMessageSanitised(t *testing.T) {
	h := host(t, Limits{})
	m, err := h.Load(context.Background(), "evil\x1b[31m\r\nname", wat(t, "testdata/hostile/message-escapes.wat"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Score(context.Background(), m, []byte("{}"))
	want := `scorer evil\x1b[31m\r\nname: the module reported an error (code 7): \x1b[2J\x1b[31mpwned\r\nline2\x00end`
	if err == nil || err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
}

func TestLimitsRefused(t *testing.T) {
	for l, want := range map[Limits]string{
		{MemoryBytes: 8 << 30}:      "scorer memory limit 8192 MiB: at most 4096 MiB",
		{MemoryBytes: 100}:          "scorer memory limit 100 bytes: at least one 64 KiB page",
		{CallTimeout: -time.Second}: "scorer time limit -1s: must be positive",
		{ModuleBytes: -1}:           "scorer upload limit -1 bytes: must be positive",
		{Concurrent: -2}:            "scorer concurrency -2: must be positive",
	} {
		if _, err := NewHost(context.Background(), l); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want %q", l, err, want)
		}
	}
}

// At most Limits.Concurrent calls hold an instance; a caller whose context
// ends while waiting gives up with that reason.
func TestConcurrencyBound(t *testing.T) {
	h := host(t, Limits{MemoryBytes: 4 << 20, CallTimeout: 300 * time.Millisecond, Concurrent: 1})
	loop, err := h.Load(context.Background(), "loop", wat(t, "testdata/loop.wat"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := h.Score(context.Background(), loop, []byte("{}")); done <- err }()
	for len(h.slots) == 0 { // until the first call holds the only slot
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = h.Score(ctx, loop, []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), "cancelled while waiting for a free sandbox slot") {
		t.Errorf("second call: %v", err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "time limit") {
		t.Errorf("first call: %v", err)
	}
}

// The section walk never panics or loops on any bytes (it runs after
// wazero accepted the module, but must not trust that).
func FuzzReadDeclared(f *testing.F) {
	if b, err := os.ReadFile("examples/wat/skeleton.wasm"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x04\x04\x01\x70\x00\x80"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x05\x03\x01\x00\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		d, err := readDeclared(b)
		if err == nil && d.tables < 0 {
			t.Fatal("negative table count")
		}
	})
}
