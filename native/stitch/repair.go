package stitch

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/repair"
	"github.com/gptailor/gptailor/shared/plan"
)

// Fitted is one cut's repair: the map T folded into slot Cut.Slot's
// down_proj, and what fitting it cost (0 when it came from the cache).
type Fitted struct {
	Cut     plan.Cut
	Teacher string
	Key     string    // the fit's identity: plan prefix, teacher, cut, calibration tokens, ridge
	T       []float64 // hidden × hidden, row-major
	Tokens  int
	Elapsed time.Duration

	mlp *engine.Layer // the repaired MLP, pinned for the net
}

// fifo keeps values by key, bounded in bytes, oldest dropped first: the
// fitted maps (T is hidden² float64: 2.6 MB at the 135M shape, 32 MB at
// 1B) and the teachers' hidden states on calibration text (tokens × hidden
// float32: 9.4 MB for 4,096 tokens at the 135M shape).
type fifo[T any] struct {
	mu    sync.Mutex
	max   int64
	size  func(T) int64
	bytes int64
	order []string
	m     map[string]T
}

func (f *fifo[T]) get(k string) (T, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.m[k]
	return t, ok
}

func (f *fifo[T]) put(k string, t T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]T{}
	}
	if _, ok := f.m[k]; ok {
		return
	}
	f.m[k] = t
	f.order = append(f.order, k)
	f.bytes += f.size(t)
	for f.bytes > f.max && len(f.order) > 1 {
		old := f.order[0]
		f.order = f.order[1:]
		f.bytes -= f.size(f.m[old])
		delete(f.m, old)
	}
}

// RepairStats counts the repairs of the nets built: cuts repaired, fits
// computed for them (the others came from the cache) and the time those
// fits took.
type RepairStats struct {
	Cuts    int     `json:"cuts"`
	Fits    int     `json:"fits"`
	Seconds float64 `json:"seconds"`
	// Checked counts the repaired plans compared with their unrepaired
	// selves on the held-out calibration windows, LeftOut those whose
	// repair made the held-out NLL worse and was left out.
	Checked int `json:"checked"`
	LeftOut int `json:"left_out"`
}

// RepairStats returns the builder's repair counts so far.
func (b *Builder) RepairStats() RepairStats {
	b.stats.mu.Lock()
	defer b.stats.mu.Unlock()
	return b.stats.RepairStats
}

// Repairs computes the repair of every repairable cut of p (from the cache
// when fitted before): what build folds into the weights it writes.
func (b *Builder) Repairs(p *plan.Plan) ([]Fitted, error) {
	if p.Repair == nil {
		return nil, nil
	}
	_, f, err := b.net(p)
	return f, err
}

// repair fits the cuts of p in slot order — each on the activations of the
// plan as repaired so far — and replaces each repaired slot's layer in
// layers (and its key in keys) by one whose down_proj has T folded in.
func (b *Builder) repair(p *plan.Plan, head *engine.Head, layers []*engine.Layer, keys []string) ([]Fitted, error) {
	r := p.Repair
	if b.Calibrate == nil {
		return nil, fmt.Errorf("repair: this builder cannot read calibration text (no tokenizer)")
	}
	all, err := b.Calibrate(r)
	if err != nil {
		return nil, fmt.Errorf("repair.calibration: %w", err)
	}
	windows, _ := SplitCalibration(all, r.SamplesOr())
	cfg := b.Family.Base().Config
	if err := repairable(cfg); err != nil {
		return nil, err
	}
	d := cfg.HiddenSize
	tokens := 0
	for _, w := range windows {
		tokens += len(w)
	}
	if tokens < d {
		return nil, fmt.Errorf("repair.calibration: %s gives %d tokens (%d windows), fewer than the hidden size %d: the fit would be underdetermined (give more text, or raise repair.samples or repair.seq)", r.Calibration, tokens, len(windows), d)
	}
	calibKey := tokensKey(windows)
	embedKey := p.OuterHash(p.Embed)
	var out []Fitted
	for _, c := range p.Repairable(cfg.NumHiddenLayers) {
		i := c.Slot
		_, mlp := p.Slots[i].Blocks()
		teacher := r.Teacher
		if teacher == "" {
			teacher = mlpSource(mlp)
		}
		tm, err := b.model(teacher)
		if err != nil {
			return nil, fmt.Errorf("repair.teacher: %w", err)
		}
		h := sha256.New()
		fmt.Fprintf(h, "linear|embed=%s|", embedKey)
		for _, k := range keys[:i+1] {
			h.Write([]byte(k + ";"))
		}
		fmt.Fprintf(h, "|teacher=%s|cut=%d-%d|calib=%s|ridge=%g", tm.Dir, c.From, c.To, calibKey, r.RidgeOr())
		key := hex.EncodeToString(h.Sum(nil)[:16])
		f := Fitted{Cut: c, Teacher: teacher, Key: key, Tokens: tokens}
		t, ok := b.fits.get(key)
		if !ok {
			start := time.Now()
			if t, err = b.fit(head, layers[:i+1], tm, c.To, windows, calibKey, r.RidgeOr()); err != nil {
				return nil, fmt.Errorf("repair of layers %d–%d after slots[%d]: %w", c.From, c.To-1, i, err)
			}
			f.Elapsed = time.Since(start)
			b.fits.put(key, t)
		}
		b.stats.mu.Lock()
		b.stats.Cuts++
		if f.Elapsed > 0 {
			b.stats.Fits++
			b.stats.Seconds += f.Elapsed.Seconds()
		}
		b.stats.mu.Unlock()
		f.T = t
		ml, err := b.repairedMLP(key, mlp, t)
		if err != nil {
			return nil, fmt.Errorf("repair of slots[%d]: %w", i, err)
		}
		f.mlp = ml
		layers[i] = engine.Compose(layers[i], ml)
		keys[i] = keys[i] + "+repair:" + key
		out = append(out, f)
	}
	return out, nil
}

// mlpSource is the model a recipe's MLP comes from (a merge's base).
func mlpSource(pt plan.Part) string {
	if pt.Take != nil {
		return pt.Take.Model
	}
	return pt.Merge.BaseModel()
}

// fit captures, on the calibration windows, the last prefix layer's MLP
// output M and the residual R it is added to, and the teacher's hidden
// state H entering its layer `to` (its output when to = L), and solves for
// T with M·T ≈ H − R.
func (b *Builder) fit(head *engine.Head, prefix []*engine.Layer, teacher *model.Model, to int, windows [][]int, calibKey string, ridge float64) ([]float64, error) {
	cfg := b.Family.Base().Config
	d := cfg.HiddenSize
	net := engine.NewNet(cfg, head, prefix)
	hidden, err := b.teacherHidden(teacher, to, windows, calibKey)
	if err != nil {
		return nil, err
	}
	var ms, ys []float32
	row := 0
	for lo := 0; lo < len(windows); lo += group {
		ws := windows[lo:min(lo+group, len(windows))]
		if err := net.Capture(ws, len(prefix)-1, func(r, m []float32) {
			ms = append(ms, m...)
			for k := range r {
				ys = append(ys, hidden[row+k]-r[k])
			}
			row += len(r)
		}); err != nil {
			return nil, fmt.Errorf("windows %d–%d: %w", lo, lo+len(ws)-1, err)
		}
	}
	return repair.Fit(ms, ys, len(ms)/d, d, ridge)
}

// group is how many calibration windows go through one forward pass:
// larger GEMMs, bounded activations.
const group = 8

// teacherHidden is the teacher's dense hidden state entering its layer
// `to` on the calibration windows (rows of every window in order), kept
// for the candidates that cut at the same place.
func (b *Builder) teacherHidden(teacher *model.Model, to int, windows [][]int, calibKey string) ([]float32, error) {
	key := fmt.Sprintf("%s|%d|%s", teacher.Dir, to, calibKey)
	if h, ok := b.hidden.get(key); ok {
		return h, nil
	}
	layers := make([]int, to)
	for i := range layers {
		layers[i] = i
	}
	tnet, err := b.root.Loader.Net(teacher, layers) // the full-precision teacher, whatever the view
	if err != nil {
		return nil, err
	}
	var hidden []float32
	for lo := 0; lo < len(windows); lo += group {
		ws := windows[lo:min(lo+group, len(windows))]
		if err := tnet.Trace(ws, func(l int, x []float32) {
			if l == to {
				hidden = append(hidden, x...)
			}
		}); err != nil {
			return nil, fmt.Errorf("teacher %s, windows %d–%d: %w", teacher.Name, lo, lo+len(ws)-1, err)
		}
	}
	b.hidden.put(key, hidden)
	return hidden, nil
}

// repairedMLP is the recipe's MLP sub-block with T folded into down_proj,
// packed (cached under the fit's key).
func (b *Builder) repairedMLP(key string, mlp plan.Part, t []float64) (*engine.Layer, error) {
	if l, ok := b.cache.Get("repair", key); ok {
		return l.(*engine.Layer), nil
	}
	ts, err := b.RepairedMLPTensors(mlp, t)
	if err != nil {
		return nil, err
	}
	if err := b.quantize(ts); err != nil {
		return nil, err
	}
	l, err := engine.NewMLPLayer(b.Family.Base().Config, ts)
	if err != nil {
		return nil, err
	}
	b.cache.Put("repair", key, l)
	return l, nil
}

// RepairedMLPTensors are a recipe's MLP tensors with T folded into
// down_proj (rounded to BF16 or F16 when the family is stored so, as the
// build writes them).
func (b *Builder) RepairedMLPTensors(mlp plan.Part, t []float64) (engine.Tensors, error) {
	cfg := b.Family.Base().Config
	ts := engine.Tensors{}
	for _, role := range mlpRoles(cfg) {
		v, err := b.PartTensor(mlp, role)
		if err != nil {
			return nil, err
		}
		ts[role] = v
	}
	down, _, err := repair.Fold(ts[model.Down], nil, t, cfg.HiddenSize, cfg.IntermediateSize)
	if err != nil {
		return nil, err
	}
	b.round(down)
	ts[model.Down] = down
	return ts, nil
}

// tokensKey identifies calibration windows by their tokens.
func tokensKey(windows [][]int) string {
	h := sha256.New()
	var buf [8]byte
	for _, w := range windows {
		binary.LittleEndian.PutUint64(buf[:], uint64(len(w)))
		h.Write(buf[:])
		for _, t := range w {
			binary.LittleEndian.PutUint64(buf[:], uint64(t))
			h.Write(buf[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
