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
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Limits of the sandbox.
type Limits struct {
	MemoryBytes uint64        // guest memory, default 256 MiB
	CallTimeout time.Duration // per score call, default 2 s
	ModuleBytes int           // upload size, default 32 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = 256 << 20
	}
	if l.CallTimeout == 0 {
		l.CallTimeout = 2 * time.Second
	}
	if l.ModuleBytes == 0 {
		l.ModuleBytes = 32 << 20
	}
	return l
}

// Host compiles and runs scoring modules. It is safe for concurrent use.
type Host struct {
	limits  Limits
	runtime wazero.Runtime
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
	l = l.withDefaults()
	pages := uint32(min((l.MemoryBytes+65535)/65536, 65536))
	cfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(pages).
		WithCloseOnContextDone(true). // without it a spinning guest ignores the deadline
		WithCompilationCache(wazero.NewCompilationCache())
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		r.Close(ctx)
		return nil, err
	}
	return &Host{limits: l, runtime: r, modules: map[string]*Module{}}, nil
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
		return nil, fmt.Errorf("%w %s: %v", ErrInvalid, name, err)
	}
	if err := validate(cm); err != nil {
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

func validate(cm wazero.CompiledModule) error {
	for _, imp := range cm.ImportedFunctions() {
		mod, fn, _ := imp.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("imports %s.%s: only %s may be imported", mod, fn, wasi_snapshot_preview1.ModuleName)
		}
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
	mod, err := h.runtime.InstantiateModule(ctx, m.compiled, cfg)
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
				ce.Msg = strings.ToValidUTF8(string(b), "\uFFFD")
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
	switch {
	case errors.As(err, &exit) && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled) || ctx.Err() != nil:
		return &CallError{Module: m.Name, Reason: fmt.Sprintf("%s ran past the %v time limit and was stopped", fn, h.limits.CallTimeout)}
	case full || strings.Contains(msg, "out of memory") || strings.Contains(msg, "memory limit"):
		return &CallError{Module: m.Name, Reason: fmt.Sprintf("%s ran out of memory (limit %d MiB)", fn, h.limits.MemoryBytes>>20), Msg: msg}
	case strings.Contains(msg, "wasm error"):
		return &CallError{Module: m.Name, Reason: fmt.Sprintf("%s trapped", fn), Msg: msg}
	case errors.As(err, &exit):
		return &CallError{Module: m.Name, Reason: fmt.Sprintf("%s exited with code %d", fn, exit.ExitCode())}
	}
	return &CallError{Module: m.Name, Reason: fn + " failed", Msg: msg}
}
