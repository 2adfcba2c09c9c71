// Package scorer runs user scoring functions uploaded as WebAssembly
// modules, in a wazero sandbox: no filesystem, network, environment or
// arguments, fixed clocks and a zero random source, a memory limit, a
// wall-time limit per call (the guest is interrupted, not waited for), a
// size limit on uploads and validation of the ABI at upload. A module that
// loops, traps, runs out of memory or returns NaN fails that call with the
// reason; the host carries on.
//
// The ABI (see docs/scorer-abi.md for the JSON document):
//
//	memory                                      exported linear memory
//	gptailor_alloc(size i32) -> i32             room for the input document
//	gptailor_score(ptr i32, len i32) -> i32     0 on success, else an error code
//	gptailor_result() -> f64                    the score (higher is better), after 0
//	gptailor_message() -> i64                   (ptr << 32) | len of a UTF-8 message, after an error (0: none)
//
// A reactor's `_initialize` runs before the first call. Imports may come
// only from wasi_snapshot_preview1.
package scorer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Limits of the sandbox. Zero fields take their defaults. A call's host
// memory is bounded by MemoryBytes for the guest's linear memory plus an
// eighth of it for tables (whose declared size is checked at upload; they
// cannot grow, since reference types are off), and at most Concurrent calls
// run at once, so the whole sandbox stays under
// Concurrent × 9/8 × MemoryBytes however hostile the modules.
type Limits struct {
	MemoryBytes uint64        // guest memory, default 256 MiB, at most 4 GiB
	CallTimeout time.Duration // per score call, default 2 s
	ModuleBytes int           // upload size, default 32 MiB
	Concurrent  int           // score calls running at once (more wait), default 2
}

// MaxMemoryBytes is the most linear memory a 32-bit WebAssembly module can address.
const MaxMemoryBytes = 4 << 30

func (l Limits) withDefaults() (Limits, error) {
	switch {
	case l.MemoryBytes > MaxMemoryBytes:
		return l, fmt.Errorf("scorer memory limit %d MiB: at most %d MiB (a 32-bit module's address space)", l.MemoryBytes>>20, MaxMemoryBytes>>20)
	case l.MemoryBytes != 0 && l.MemoryBytes < 65536:
		return l, fmt.Errorf("scorer memory limit %d bytes: at least one 64 KiB page", l.MemoryBytes)
	case l.CallTimeout < 0:
		return l, fmt.Errorf("scorer time limit %v: must be positive", l.CallTimeout)
	case l.ModuleBytes < 0:
		return l, fmt.Errorf("scorer upload limit %d bytes: must be positive", l.ModuleBytes)
	case l.Concurrent < 0:
		return l, fmt.Errorf("scorer concurrency %d: must be positive", l.Concurrent)
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = 256 << 20
	}
	if l.CallTimeout == 0 {
		l.CallTimeout = 2 * time.Second
	}
	if l.ModuleBytes == 0 {
		l.ModuleBytes = 32 << 20
	}
	if l.Concurrent == 0 {
		l.Concurrent = 2
	}
	return l, nil
}

// tableEntries is how many table entries (8 bytes each in wazero) a module
// may declare: an eighth of the memory limit.
func (l Limits) tableEntries() uint64 { return l.MemoryBytes / 8 / 8 }

// Host compiles and runs scoring modules. It is safe for concurrent use.
type Host struct {
	limits  Limits
	runtime wazero.Runtime
	wasi    map[string]api.FunctionDefinition // what the host's WASI exports, by name
	slots   chan struct{}                     // one per concurrent score call
	mu      sync.Mutex
	modules map[string]*Module // by content hash: the compiled-module cache
}

// Module is a validated, compiled scoring module.
type Module struct {
	Name     string
	Hash     string
	Size     int
	compiled wazero.CompiledModule
	initFn   bool
}

// NewHost starts a sandbox runtime.
func NewHost(ctx context.Context, l Limits) (*Host, error) {
	l, err := l.withDefaults()
	if err != nil {
		return nil, err
	}
	pages := uint32(min(l.MemoryBytes/65536, 65536))
	cfg := wazero.NewRuntimeConfig().
		// Reference types off: no table.grow, table.fill or second table, so
		// a module's tables are what it declares (checked at upload). Bulk
		// memory (memory.copy/fill, which Go guests use) stays on.
		WithCoreFeatures(api.CoreFeaturesV2.SetEnabled(api.CoreFeatureReferenceTypes, false)).
		WithMemoryLimitPages(pages).
		WithCloseOnContextDone(true). // without it a spinning guest ignores the deadline
		WithCompilationCache(wazero.NewCompilationCache())
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		r.Close(ctx)
		return nil, err
	}
	h := &Host{limits: l, runtime: r, wasi: r.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions(), slots: make(chan struct{}, l.Concurrent), modules: map[string]*Module{}}
	return h, nil
}

// Close releases the runtime and every module.
func (h *Host) Close(ctx context.Context) error { return h.runtime.Close(ctx) }

// ErrInvalid is wrapped by every upload that is not a usable scorer.
var ErrInvalid = errors.New("invalid scoring module")

var abi = map[string]struct{ params, results []api.ValueType }{
	"gptailor_alloc":   {[]api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	"gptailor_score":   {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	"gptailor_result":  {nil, []api.ValueType{api.ValueTypeF64}},
	"gptailor_message": {nil, []api.ValueType{api.ValueTypeI64}},
}

func typesString(ts []api.ValueType) string {
	var s []string
	for _, t := range ts {
		s = append(s, api.ValueTypeName(t))
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// Load validates and compiles a module (cached by content).
func (h *Host) Load(ctx context.Context, name string, wasm []byte) (*Module, error) {
	name = Printable(name)
	if len(wasm) > h.limits.ModuleBytes {
		return nil, fmt.Errorf("%w %s: %d bytes exceeds the %d byte limit", ErrInvalid, name, len(wasm), h.limits.ModuleBytes)
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("%w %s: not a WebAssembly binary (no \\0asm header)", ErrInvalid, name)
	}
	sum := sha256.Sum256(wasm)
	key := fmt.Sprintf("%x", sum[:12])
	h.mu.Lock()
	if m, ok := h.modules[key]; ok {
		h.mu.Unlock()
		return &Module{Name: name, Hash: key, Size: m.Size, compiled: m.compiled, initFn: m.initFn}, nil
	}
	h.mu.Unlock()
	cm, err := h.runtime.CompileModule(ctx, wasm)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, `"reference-types" is disabled`) {
			msg += " (scorers may not use reference types — table.grow, table.fill, ref.null, externref, several tables — so a module's tables stay the size it declares)"
		}
		return nil, fmt.Errorf("%w %s: %s", ErrInvalid, name, Printable(msg))
	}
	if err := h.validate(cm, wasm); err != nil {
		cm.Close(ctx)
		return nil, fmt.Errorf("%w %s: %v", ErrInvalid, name, err)
	}
	_, hasInit := cm.ExportedFunctions()["_initialize"]
	m := &Module{Name: name, Hash: key, Size: len(wasm), compiled: cm, initFn: hasInit}
	h.mu.Lock()
	h.modules[key] = m
	h.mu.Unlock()
	return m, nil
}

func (h *Host) validate(cm wazero.CompiledModule, wasm []byte) error {
	for _, imp := range cm.ImportedFunctions() {
		mod, fn, _ := imp.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("imports %s.%s: only %s may be imported", mod, fn, wasi_snapshot_preview1.ModuleName)
		}
		w, ok := h.wasi[fn]
		if !ok {
			return fmt.Errorf("imports %s.%s: WASI preview 1 has no such function", mod, fn)
		}
		if typesString(imp.ParamTypes()) != typesString(w.ParamTypes()) || typesString(imp.ResultTypes()) != typesString(w.ResultTypes()) {
			return fmt.Errorf("imports %s.%s with signature %s -> %s, want %s -> %s", mod, fn,
				typesString(imp.ParamTypes()), typesString(imp.ResultTypes()), typesString(w.ParamTypes()), typesString(w.ResultTypes()))
		}
	}
	d, err := readDeclared(wasm)
	if err != nil {
		return err
	}
	if limit := h.limits.tableEntries(); d.tableEntries > limit {
		return fmt.Errorf("declares tables of %d entries (%d MiB); the limit is %d entries (an eighth of the %d MiB memory limit)",
			d.tableEntries, d.tableEntries*8>>20, limit, h.limits.MemoryBytes>>20)
	}
	if d.memoryPages*65536 > h.limits.MemoryBytes {
		return fmt.Errorf("declares a memory of %d pages (%d MiB) at start; the limit is %d MiB", d.memoryPages, d.memoryPages>>4, h.limits.MemoryBytes>>20)
	}
	if len(cm.ImportedMemories()) > 0 {
		return errors.New("imports a memory: the module must define and export its own")
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return errors.New(`export "memory" is missing`)
	}
	exp := cm.ExportedFunctions()
	if _, cmd := exp["_start"]; cmd {
		if _, reactor := exp["_initialize"]; !reactor {
			return errors.New(`exports _start: build a reactor (Go: -buildmode=c-shared), not a command`)
		}
	}
	names := make([]string, 0, len(abi))
	for n := range abi {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		want := abi[n]
		f, ok := exp[n]
		if !ok {
			return fmt.Errorf("export %q is missing (the ABI needs gptailor_alloc, gptailor_score, gptailor_result, gptailor_message)", n)
		}
		if typesString(f.ParamTypes()) != typesString(want.params) || typesString(f.ResultTypes()) != typesString(want.results) {
			return fmt.Errorf("export %q has signature %s -> %s, want %s -> %s", n,
				typesString(f.ParamTypes()), typesString(f.ResultTypes()), typesString(want.params), typesString(want.results))
		}
	}
	return nil
}

// CallError is a failed score call, with its reason.
type CallError struct {
	Module string
	Reason string // timeout, trap, out of memory, error code, NaN
	Code   int32
	Msg    string
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("scorer %s: %s", e.Module, e.Reason)
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d)", e.Code)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Score runs the module on one JSON document and returns its score. Each
// call gets a fresh instance, so nothing leaks between calls.
func (h *Host) Score(ctx context.Context, m *Module, doc []byte) (float64, error) {
	select { // at most Limits.Concurrent instances exist at once
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-ctx.Done():
		return math.NaN(), &CallError{Module: m.Name, Reason: "cancelled while waiting for a free sandbox slot"}
	}
	ctx, cancel := context.WithTimeout(ctx, h.limits.CallTimeout)
	defer cancel()
	// Deterministic clocks: wall time fixed, monotonic time a counter that
	// advances 1 µs per reading (Go's runtime refuses a zero nanotime).
	var ticks int64
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStdout(io.Discard).WithStderr(io.Discard).
		WithStdin(bytes.NewReader(nil)).
		WithRandSource(zeroReader{}).
		WithWalltime(func() (int64, int32) { return 1_700_000_000, 0 }, sys.ClockResolution(1)).
		WithNanotime(func() int64 { ticks += 1000; return ticks }, sys.ClockResolution(1000)).
		WithNanosleep(func(int64) {}).
		WithStartFunctions()
	if m.initFn {
		cfg = cfg.WithStartFunctions("_initialize")
	}
	mod, err := h.runtime.InstantiateModule(experimental.WithMemoryAllocator(ctx, memoryAllocator), m.compiled, cfg)
	if err != nil {
		return math.NaN(), h.callError(ctx, m, "instantiating", err, nil)
	}
	defer mod.Close(context.Background())
	call := func(name string, args ...uint64) ([]uint64, error) {
		return mod.ExportedFunction(name).Call(ctx, args...)
	}
	res, err := call("gptailor_alloc", uint64(len(doc)))
	if err != nil {
		return math.NaN(), h.callError(ctx, m, "gptailor_alloc", err, mod)
	}
	ptr := uint32(res[0])
	if !mod.Memory().Write(ptr, doc) {
		return math.NaN(), &CallError{Module: m.Name, Reason: fmt.Sprintf("gptailor_alloc(%d) returned %d, outside the module's memory", len(doc), ptr)}
	}
	res, err = call("gptailor_score", uint64(ptr), uint64(len(doc)))
	if err != nil {
		return math.NaN(), h.callError(ctx, m, "gptailor_score", err, mod)
	}
	if code := int32(uint32(res[0])); code != 0 {
		ce := &CallError{Module: m.Name, Reason: "the module reported an error", Code: code}
		if r, err := call("gptailor_message"); err == nil && r[0] != 0 {
			p, n := uint32(r[0]>>32), uint32(r[0])
			if b, ok := mod.Memory().Read(p, min(n, 4096)); ok {
				ce.Msg = Printable(string(b))
			}
		}
		return math.NaN(), ce
	}
	res, err = call("gptailor_result")
	if err != nil {
		return math.NaN(), h.callError(ctx, m, "gptailor_result", err, mod)
	}
	v := api.DecodeF64(res[0])
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return math.NaN(), &CallError{Module: m.Name, Reason: fmt.Sprintf("returned %v, not a finite score", v)}
	}
	return v, nil
}

func (h *Host) callError(ctx context.Context, m *Module, fn string, err error, mod api.Module) error {
	var exit *sys.ExitError
	msg := err.Error()
	// A guest that filled its memory to the limit and then trapped (as Go's
	// runtime does when memory.grow fails) ran out of memory.
	full := mod != nil && mod.Memory() != nil && uint64(mod.Memory().Size())+65536 > h.limits.MemoryBytes
	stopped := errors.As(err, &exit) && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled) || ctx.Err() != nil
	// Memory first: a Go guest whose memory.grow fails may spin in its
	// allocator until the deadline stops it; the cause is still memory.
	switch {
	case full || strings.Contains(msg, "out of memory") || strings.Contains(msg, "memory limit"):
		reason := fmt.Sprintf("%s ran out of memory (limit %d MiB)", fn, h.limits.MemoryBytes>>20)
		if stopped {
			reason += " and was stopped at the time limit"
			msg = ""
		}
		return &CallError{Module: m.Name, Reason: reason, Msg: Printable(msg)}
	case stopped:
		return &CallError{Module: m.Name, Reason: fmt.Sprintf("%s ran past the %v time limit and was stopped", fn, h.limits.CallTimeout)}
	case strings.Contains(msg, "wasm error"):
		return &CallError{Module: m.Name, Reason: fmt.Sprintf("%s trapped", fn), Msg: Printable(msg)}
	case errors.As(err, &exit):
		return &CallError{Module: m.Name, Reason: fmt.Sprintf("%s exited with code %d", fn, exit.ExitCode())}
	}
	return &CallError{Module: m.Name, Reason: fn + " failed", Msg: Printable(msg)}
}

// Printable makes text from a module safe to print on a terminal or in a
// log line: invalid UTF-8 becomes U+FFFD and control characters (ANSI
// escapes, CR, LF, NUL, …) are shown as Go escapes (\x1b, \r, \n, \x00).
func Printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Unload drops a module from the compiled-module cache and frees its code.
// Calls already running finish; later Loads of the same bytes compile it
// again. Every Module value of those bytes is unusable afterwards.
func (h *Host) Unload(ctx context.Context, m *Module) error {
	h.mu.Lock()
	cached, ok := h.modules[m.Hash]
	delete(h.modules, m.Hash)
	h.mu.Unlock()
	if !ok {
		return nil
	}
	return cached.compiled.Close(ctx)
}
