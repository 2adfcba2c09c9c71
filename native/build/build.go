// Package build writes a tailored model as a Hugging Face directory anyone
// can load: safetensors shards (with an index above the shard size),
// config.json with the new layer count and dtype, the base's tokenizer
// files, the plan, a mergekit config where mergekit can express the plan, and
// a model card. It streams tensor by tensor (a merge holds its K inputs for
// one tensor at a time) into a temporary directory renamed into place at the
// end, so a failed build leaves nothing half-written behind.
package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/mergekit"
	"github.com/gptailor/gptailor/shared/plan"
)

// DefaultShardBytes is the largest shard written (as Hugging Face's default).
const DefaultShardBytes = 5 << 30

// Options control a build.
type Options struct {
	Out        string
	DType      safetensors.DType // "" keeps each tensor's source dtype
	Force      bool              // replace a non-empty Out
	ShardBytes int64             // 0: DefaultShardBytes
	Progress   func(done, total int)
	Scores     map[string]float64 // shown on the model card when known
}

// Result says what was written.
type Result struct {
	Dir        string
	Shards     []string
	Tensors    int
	Bytes      int64
	Params     int64
	Mergekit   bool   // mergekit.yml written
	NoMergekit string // why not, when not
}

// output is one tensor of the built model and how to produce it.
type output struct {
	planned safetensors.Planned
	produce func() ([]byte, error)
}

// Build writes plan p, over the builder's family, to opt.Out.
func Build(b *stitch.Builder, p *plan.Plan, opt Options) (*Result, error) {
	if err := plan.Validate(p, stitch.Info(b.Family)); err != nil {
		return nil, err
	}
	switch opt.DType {
	case "", safetensors.F32, safetensors.F16, safetensors.BF16:
	default:
		return nil, fmt.Errorf("--dtype %s: f32, f16 or bf16", opt.DType)
	}
	if opt.ShardBytes <= 0 {
		opt.ShardBytes = DefaultShardBytes
	}
	if err := checkOut(opt.Out, opt.Force); err != nil {
		return nil, err
	}
	outs, fits, err := plan_(b, p, opt.DType)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(opt.Out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".gptailor-build-*")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	res := &Result{Dir: opt.Out, Tensors: len(outs), Params: p.ParamCount(stitch.Info(b.Family))}
	if err := writeShards(tmp, outs, opt, res); err != nil {
		return nil, err
	}
	if err := writeConfig(tmp, b.Family.Base(), len(p.Slots), outs, opt.DType); err != nil {
		return nil, err
	}
	if err := copyTokenizer(b.Family.Base().Dir, tmp); err != nil {
		return nil, err
	}
	pj, err := plan.Marshal(p)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "gptailor-plan.json"), append(pj, '\n'), 0o644); err != nil {
		return nil, err
	}
	if y, err := mergekit.Export(withPaths(p, b.Family)); err == nil {
		res.Mergekit = true
		if err := os.WriteFile(filepath.Join(tmp, "mergekit.yml"), y, 0o644); err != nil {
			return nil, err
		}
	} else {
		res.NoMergekit = err.Error()
	}
	if err := os.WriteFile(filepath.Join(tmp, "README.md"), []byte(card(b, p, res, opt, fits)), 0o644); err != nil {
		return nil, err
	}
	if err := replace(tmp, opt.Out); err != nil {
		return nil, err
	}
	ok = true
	return res, nil
}

// checkOut refuses to write into a non-empty directory unless forced.
func checkOut(out string, force bool) error {
	if out == "" {
		return errors.New("no output directory (-o DIR)")
	}
	ents, err := os.ReadDir(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(ents) > 0 && !force:
		return fmt.Errorf("output directory %s is not empty (use --force to replace it)", out)
	}
	return nil
}

// replace moves the finished build into place, replacing out if it exists.
func replace(tmp, out string) error {
	if _, err := os.Stat(out); err == nil {
		old := tmp + ".old"
		if err := os.Rename(out, old); err != nil {
			return err
		}
		if err := os.Rename(tmp, out); err != nil {
			os.Rename(old, out)
			return err
		}
		return os.RemoveAll(old)
	}
	return os.Rename(tmp, out)
}

// withPaths fills the plan's models from the family so exports name
// directories.
func withPaths(p *plan.Plan, f *model.Family) *plan.Plan {
	q := *p
	q.Models = map[string]string{}
	for _, m := range f.Models {
		if abs, err := filepath.Abs(m.Dir); err == nil {
			q.Models[m.Name] = abs
		} else {
			q.Models[m.Name] = m.Dir
		}
	}
	return &q
}

// plan_ lists the output tensors in file order: embeddings, layers, norm,
// head.
func plan_(b *stitch.Builder, p *plan.Plan, dt safetensors.DType) ([]output, []stitch.Fitted, error) {
	base := b.Family.Base()
	var outs []output
	// raw copies a tensor as stored when no conversion is asked for.
	raw := func(m *model.Model, src, dst string) (output, error) {
		info, ok := m.Tensors.Info(src)
		if !ok {
			return output{}, fmt.Errorf("model %s: no tensor [%s]", m.Name, src)
		}
		want := info.DType
		if dt != "" {
			want = dt
		}
		return output{
			planned: safetensors.Planned{Name: dst, DType: want, Shape: info.Shape},
			produce: func() ([]byte, error) {
				if want == info.DType {
					_, b, err := m.Tensors.ReadRaw(src)
					return b, err
				}
				v, err := m.Tensors.ReadFloat32(src)
				if err != nil {
					return nil, err
				}
				if err := checkFinite(v, want); err != nil {
					return nil, err
				}
				return safetensors.FromFloat32(want, v)
			},
		}, nil
	}
	computed := func(src, dst string, f func() ([]float32, error)) output {
		info, _ := base.Tensors.Info(src)
		want := info.DType
		if dt != "" {
			want = dt
		}
		return output{
			planned: safetensors.Planned{Name: dst, DType: want, Shape: info.Shape},
			produce: func() ([]byte, error) {
				v, err := f()
				if err != nil {
					return nil, err
				}
				if err := checkFinite(v, want); err != nil {
					return nil, err
				}
				return safetensors.FromFloat32(want, v)
			},
		}
	}
	outer := func(o *plan.Outer, name string) (output, error) {
		if o != nil && o.Merge != nil {
			return computed(name, name, func() ([]float32, error) { return b.OuterTensor(o, name) }), nil
		}
		m := base
		if o != nil {
			var ok bool
			if m, ok = b.Family.Model(o.Model); !ok {
				return output{}, fmt.Errorf("model %q is not in the family", o.Model)
			}
		}
		return raw(m, name, name)
	}
	o, err := outer(p.Embed, base.Arch.Embed)
	if err != nil {
		return nil, nil, err
	}
	outs = append(outs, o)
	fits, err := b.Repairs(p)
	if err != nil {
		return nil, nil, err
	}
	repaired := map[int][]float64{}
	for _, f := range fits {
		repaired[f.Cut.Slot] = f.T
	}
	for i, s := range p.Slots {
		attn, mlp := s.Blocks()
		for _, role := range base.Roles() {
			dst := base.LayerTensorName(role, i)
			pt := mlp
			if model.AttnRole(role) {
				pt = attn
			}
			switch {
			case pt.None:
				// A skipped sub-block is written as zeros: its output
				// projection is 0, so it adds nothing to the residual
				// stream in any loader (see RATIONALE).
				info, _ := base.Tensors.Info(base.LayerTensorName(role, 0))
				outs = append(outs, computed(base.LayerTensorName(role, 0), dst, func() ([]float32, error) { return make([]float32, info.NumElements()), nil }))
			case repaired[i] != nil && !model.AttnRole(role):
				t := repaired[i]
				outs = append(outs, computed(base.LayerTensorName(role, 0), dst, func() ([]float32, error) {
					ts, err := b.RepairedMLPTensors(mlp, t)
					if err != nil {
						return nil, err
					}
					return ts[role], nil
				}))
			case pt.Take != nil:
				m, _ := b.Family.Model(pt.Take.Model)
				o, err := raw(m, m.LayerTensorName(role, pt.Take.Layer), dst)
				if err != nil {
					return nil, nil, err
				}
				outs = append(outs, o)
			default:
				mg := pt.Merge
				src := base.LayerTensorName(role, mg.Layer)
				outs = append(outs, computed(src, dst, func() ([]float32, error) { return b.LayerTensor(mg, role) }))
			}
		}
	}
	if o, err = outer(p.Head, base.Arch.FinalNorm); err != nil {
		return nil, nil, err
	}
	outs = append(outs, o)
	if !base.Config.TieWordEmbeddings {
		if o, err = outer(p.Head, base.Arch.LMHead); err != nil {
			return nil, nil, err
		}
		outs = append(outs, o)
	}
	return outs, fits, nil
}

func writeShards(dir string, outs []output, opt Options, res *Result) error {
	// Group tensors into shards by size, in order.
	var groups [][]output
	var cur []output
	var size int64
	for _, o := range outs {
		if len(cur) > 0 && size+o.planned.Bytes() > opt.ShardBytes {
			groups = append(groups, cur)
			cur, size = nil, 0
		}
		cur = append(cur, o)
		size += o.planned.Bytes()
	}
	groups = append(groups, cur)
	weightMap := map[string]string{}
	done := 0
	for gi, g := range groups {
		name := "model.safetensors"
		if len(groups) > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", gi+1, len(groups))
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		planned := make([]safetensors.Planned, len(g))
		for i, o := range g {
			planned[i] = o.planned
		}
		sw, err := safetensors.NewStreamWriter(f, planned, map[string]string{"format": "pt"})
		if err != nil {
			f.Close()
			return err
		}
		for _, o := range g {
			data, err := o.produce()
			if err != nil {
				f.Close()
				return fmt.Errorf("tensor [%s]: %w", o.planned.Name, err)
			}
			if err := sw.Write(o.planned.Name, data); err != nil {
				f.Close()
				return err
			}
			res.Bytes += int64(len(data))
			weightMap[o.planned.Name] = name
			done++
			if opt.Progress != nil {
				opt.Progress(done, len(outs))
			}
		}
		if err := sw.Close(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		res.Shards = append(res.Shards, name)
	}
	if len(groups) > 1 {
		idx := map[string]any{"metadata": map[string]any{"total_size": res.Bytes}, "weight_map": weightMap}
		b, _ := json.MarshalIndent(idx, "", "  ")
		return os.WriteFile(filepath.Join(dir, safetensors.IndexName), append(b, '\n'), 0o644)
	}
	return nil
}

var torchDType = map[safetensors.DType]string{safetensors.F32: "float32", safetensors.F16: "float16", safetensors.BF16: "bfloat16"}

func writeConfig(dir string, base *model.Model, layers int, outs []output, dt safetensors.DType) error {
	cfg := map[string]any{}
	for k, v := range base.Config.Raw {
		cfg[k] = v
	}
	cfg["num_hidden_layers"] = layers
	if dt == "" && len(outs) > 0 {
		dt = outs[0].planned.DType
	}
	if s, ok := torchDType[dt]; ok {
		cfg["torch_dtype"] = s
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n'), 0o644)
}

var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "generation_config.json"}

func copyTokenizer(from, to string) error {
	for _, n := range tokenizerFiles {
		src, err := os.Open(filepath.Join(from, n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		dst, err := os.Create(filepath.Join(to, n))
		if err != nil {
			src.Close()
			return err
		}
		_, err = io.Copy(dst, src)
		src.Close()
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func card(b *stitch.Builder, p *plan.Plan, res *Result, opt Options, fits []stitch.Fitted) string {
	info := stitch.Info(b.Family)
	var s strings.Builder
	name := p.Name
	if name == "" {
		name = filepath.Base(opt.Out)
	}
	fmt.Fprintf(&s, "# %s\n\nA model tailored by gptailor on %s from a family of %d models.\n\n", name, time.Now().UTC().Format("2006-01-02"), len(b.Family.Models))
	fmt.Fprintf(&s, "- layers: %d (the base has %d)\n- parameters: %d (%.1f%% fewer than the base)\n- dtype: %s\n\n",
		len(p.Slots), info.Layers, res.Params, 100*p.FractionRemoved(info), strings.Join(dtypes(res, opt), ", "))
	s.WriteString("## Sources\n\n| alias | directory |\n|---|---|\n")
	for _, m := range b.Family.Models {
		fmt.Fprintf(&s, "| %s | %s |\n", m.Name, m.Dir)
	}
	s.WriteString("\n## Slots\n\n| slot | recipe |\n|---|---|\n")
	for i, sl := range p.Slots {
		fmt.Fprintf(&s, "| %d | %s |\n", i, strings.TrimSpace(sl.Describe()))
	}
	outer := func(o *plan.Outer) string {
		switch {
		case o == nil:
			return "base"
		case o.Merge != nil:
			return o.Merge.Method + "(" + strings.Join(o.Merge.Models, "+") + ")"
		}
		return o.Model
	}
	fmt.Fprintf(&s, "\nEmbeddings: %s. Final norm and lm_head: %s.\n", outer(p.Embed), outer(p.Head))
	for _, sl := range p.Slots {
		if a, m := sl.Blocks(); a.None || m.None {
			s.WriteString("\nA sub-block marked `none` is skipped: its tensors are written as zeros, so its output projection (o_proj or down_proj) adds exactly nothing to the residual stream in any loader; the file keeps the standard layout (and its size), the parameter count above does not count them.\n")
			break
		}
	}
	if r := p.Repair; r != nil {
		fmt.Fprintf(&s, "\n## Repair\n\nLinear repair (ReplaceMe, training-free) fitted on `%s`: %d windows of up to %d tokens, ridge %g × the mean diagonal of MᵀM. Each map T (hidden × hidden) is folded into the down_proj of the layer before the cut.\n\n| slot | layers removed after it | teacher | tokens |\n|---|---|---|---|\n", r.Calibration, r.SamplesOr(), r.SeqOr(), r.RidgeOr())
		for _, f := range fits {
			fmt.Fprintf(&s, "| %d | %d–%d | %s | %d |\n", f.Cut.Slot, f.Cut.From, f.Cut.To-1, f.Teacher, f.Tokens)
		}
		for _, c := range p.Cuts(info.Layers) {
			if c.Slot < 0 {
				fmt.Fprintf(&s, "\nLayers %d–%d, removed before the first kept layer, are not repaired: no kept layer precedes them.\n", c.From, c.To-1)
			}
		}
	}
	if len(opt.Scores) > 0 {
		s.WriteString("\n## Scores\n\n| metric | value |\n|---|---|\n")
		for _, k := range sortedKeys(opt.Scores) {
			fmt.Fprintf(&s, "| %s | %s |\n", k, strconv.FormatFloat(opt.Scores[k], 'f', 4, 64))
		}
	}
	if res.Mergekit {
		s.WriteString("\nThe same model as a mergekit config: `mergekit.yml`. The plan: `gptailor-plan.json`.\n")
	} else {
		fmt.Fprintf(&s, "\nNo mergekit config: %s. The plan: `gptailor-plan.json`.\n", res.NoMergekit)
	}
	return s.String()
}

func dtypes(res *Result, opt Options) []string {
	if opt.DType != "" {
		return []string{string(opt.DType)}
	}
	return []string{"as the sources"}
}

func sortedKeys(m map[string]float64) []string {
	return slices.Sorted(maps.Keys(m))
}
