// Package session is the one place an evaluation is wired. A Family is a
// base and its fine-tunes opened with canonical paths and a fingerprint,
// with their tokenizer, the plan builder and its caches; a Session adds the
// tasks (with their weights), the reference's results and the objective;
// an Evaluator drives a search through it (optionally with a user's
// scorer), and Baselines are the comparison rows as data. Evaluation runs
// through a Runner: the family itself, or a pool of workers (package
// dist). The CLI, the server, the workers and the benchmarks all open one.
package session

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/generate"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// Family is a family opened for evaluation.
type Family struct {
	*model.Family
	// Dirs maps each alias to its absolute, symlink-free directory: the
	// directory plans name, so one plan has one recipe hash whoever opened it.
	Dirs        map[string]string
	Fingerprint string
	Tok         *tokenizer.Tokenizer
	Builder     *stitch.Builder
	opts        FamilyOptions
}

// heapSlack is the heap a search or worker gets beyond its caches and
// scoring buffers: an element-wise merge in flight (a chunk of each
// source, ~100 MB at 1B with four members) and the runtime's own.
const heapSlack = 512 << 20

// HeapLimit is the heap a search or a worker over f works in: its two
// caches (every packed layer and head, the shared activations), the
// buffers scoring windows of up to seq tokens takes, and heapSlack; 0
// when a cache is unbounded. Set as the collector's soft limit
// (sysmem.SoftLimit), it keeps the resident set near what is live: the
// default lets the heap grow to twice that.
func (f *Family) HeapLimit(seq int) int64 {
	if f.opts.CacheBytes < 0 || f.opts.PrefixBytes < 0 {
		return 0
	}
	return f.opts.CacheBytes + f.opts.PrefixBytes + engine.ScoreMemory(f.Base().Config, seq) + heapSlack
}

// FamilyOptions bound the family's caches.
type FamilyOptions struct {
	CacheBytes  int64 // packed layers, source and merged (0: DefaultCacheMB; < 0: unbounded)
	PrefixBytes int64 // activations shared between candidates with common first slots (0: off)
}

// Canonical returns members with absolute, symlink-free directories.
func Canonical(members []model.Member) ([]model.Member, error) {
	out := make([]model.Member, len(members))
	for i, m := range members {
		abs, err := filepath.Abs(m.Dir)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Alias, err)
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		} else {
			return nil, fmt.Errorf("model %s: %w", m.Alias, err)
		}
		out[i] = model.Member{Alias: m.Alias, Dir: abs}
	}
	return out, nil
}

// OpenFamily opens members (the base first) with canonical paths.
func OpenFamily(members []model.Member, o FamilyOptions) (*Family, error) {
	members, err := Canonical(members)
	if err != nil {
		return nil, err
	}
	f, err := model.OpenFamily(members)
	if err != nil {
		return nil, err
	}
	fp, err := Fingerprint(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	tok, err := tokenizer.Load(f.Base().Dir)
	if err != nil {
		f.Close()
		return nil, err
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = int64(DefaultCacheMB()) << 20
	}
	b := stitch.New(f, o.CacheBytes)
	b.Calibrate = CalibrationReader(tok, f.Base().Config.MaxPositionEmbeddings)
	if o.PrefixBytes > 0 {
		b.Prefix = engine.NewPrefixCache(o.PrefixBytes)
	}
	models := map[string]string{}
	for _, m := range f.Models {
		models[m.Name] = m.Dir
	}
	return &Family{Family: f, Dirs: models, Fingerprint: fp, Tok: tok, Builder: b, opts: o}, nil
}

// Info describes the family for plan validation and parameter counts.
func (f *Family) Info() *plan.Family { return stitch.Info(f.Family) }

// Fingerprint hashes, per member in order, its alias, its config.json, the
// header of every safetensors file (names, dtypes, shapes and offsets of
// every tensor) and 16 samples of 4 KiB spread over each file's bytes: two
// machines whose families share a fingerprint run the same plan on the
// same tensors. Fine-tunes share their config and headers, so the samples
// are what tells the base from a fine-tune given in its place; reading
// every byte would take minutes on a 1B family (a checkpoint changed only
// between the samples keeps its fingerprint).
func Fingerprint(f *model.Family) (string, error) {
	h := sha256.New()
	for _, m := range f.Models {
		fmt.Fprintf(h, "model\x00%s\x00", m.Name)
		cfg, err := os.ReadFile(filepath.Join(m.Dir, "config.json"))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d\x00", len(cfg))
		h.Write(cfg)
		files, err := filepath.Glob(filepath.Join(m.Dir, "*.safetensors"))
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, p := range files {
			hdr, err := safetensorsHeader(p)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "file\x00%s\x00%d\x00", filepath.Base(p), len(hdr))
			h.Write(hdr)
			if err := sampleBytes(h, p); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// sampleBytes hashes 16 blocks of 4 KiB evenly spread over a file.
func sampleBytes(h io.Writer, path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	const n, block = 16, 4096
	buf := make([]byte, block)
	for i := int64(0); i < n; i++ {
		off := max(0, (st.Size()-block)*i/(n-1))
		k, err := fh.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: %w", path, err)
		}
		h.Write(buf[:k])
	}
	return nil
}

// safetensorsHeader reads a file's length-prefixed JSON header.
func safetensorsHeader(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var n [8]byte
	if _, err := io.ReadFull(fh, n[:]); err != nil {
		return nil, fmt.Errorf("%s: header length: %w", path, err)
	}
	size := binary.LittleEndian.Uint64(n[:])
	if size > 100<<20 {
		return nil, fmt.Errorf("%s: header of %d bytes", path, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(fh, b); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	return b, nil
}

// Target is what one evaluation runs: a plan over the family, or one of its
// members whole (its own layers, embeddings and head).
type Target struct {
	Plan  *plan.Plan `json:"plan,omitempty"`
	Model string     `json:"model,omitempty"`
	// Quant, when set (q8_0 or q4_0), evaluates the target with its
	// weights as a GGUF file of that type stores them
	// (stitch.Builder.Quantized); it is part of the job's identity.
	Quant string `json:"quant,omitempty"`
}

// Name says what the target is, for progress and errors.
func (t Target) Name() string {
	q := ""
	if t.Quant != "" && t.Quant != "none" {
		q = " (" + t.Quant + ")"
	}
	if t.Model != "" {
		return "dense " + t.Model + q
	}
	if t.Plan != nil && t.Plan.Name != "" {
		return t.Plan.Name + q
	}
	return "plan" + q
}

// Net builds the target's network.
func (f *Family) Net(t Target) (*engine.Net, error) {
	q, err := engine.ParseQuant(t.Quant)
	if err != nil {
		return nil, err
	}
	b := f.Builder.Quantized(q)
	switch {
	case t.Model != "" && t.Plan != nil:
		return nil, errors.New("a target is a plan or a model, not both")
	case t.Model != "":
		m, ok := f.Model(t.Model)
		if !ok {
			return nil, fmt.Errorf("model %q is not in the family (%v)", t.Model, f.Names())
		}
		return b.Loader.Net(m, nil)
	case t.Plan != nil:
		return b.Net(t.Plan)
	}
	return nil, errors.New("an empty target: neither a plan nor a model")
}

// SpecsAt limits each task to budget samples (a task's own limit, when
// smaller, stays).
func SpecsAt(specs []task.Spec, budget int) []task.Spec {
	out := make([]task.Spec, len(specs))
	for i, s := range specs {
		if budget > 0 && (s.Limit == 0 || budget < s.Limit) {
			s.Limit = budget
		}
		out[i] = s
	}
	return out
}

// Run evaluates a target on every task at a budget (samples per task; 0:
// each task's own limit); it stops between batches once ctx is done.
func (f *Family) Run(ctx context.Context, t Target, specs []task.Spec, budget int) ([]*task.Result, error) {
	return f.RunFrom(ctx, t, specs, budget, 0)
}

// RunFrom is Run on the samples after the first from of each reusable
// task (task.Reusable): the others are evaluated whole.
func (f *Family) RunFrom(ctx context.Context, t Target, specs []task.Spec, budget, from int) ([]*task.Result, error) {
	net, err := f.Net(t)
	if err != nil {
		return nil, err
	}
	specs = SpecsAt(specs, budget)
	for i := range specs {
		if task.Reusable(specs[i].Type) {
			specs[i].From = from
		}
	}
	gen, err := generate.ForTasks(net, f.Tok, f.Base().Dir)
	if err != nil {
		return nil, err
	}
	m := &task.Model{Name: t.Name(), Net: net, Tok: f.Tok, Ctx: ctx, Gen: gen}
	out := make([]*task.Result, len(specs))
	for i := range specs {
		r, err := task.Run(m, &specs[i])
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// CheckQuant refuses a quantization (a --quant value) that is not one, or
// that means nothing for this family (engine.CheckQuant).
func (f *Family) CheckQuant(quant string) error {
	q, err := engine.ParseQuant(quant)
	if err != nil {
		return err
	}
	return engine.CheckQuant(f.Base().Config, q)
}
