package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gptailor/gptailor/native/model"
)

type inspectReport struct {
	Dir              string         `json:"dir"`
	Alias            string         `json:"alias"`
	Architecture     string         `json:"architecture"`
	ModelType        string         `json:"model_type"`
	Layers           int            `json:"layers"`
	Hidden           int            `json:"hidden_size"`
	Intermediate     int            `json:"intermediate_size"`
	Heads            int            `json:"heads"`
	KVHeads          int            `json:"kv_heads"`
	HeadDim          int            `json:"head_dim"`
	Vocab            int            `json:"vocab_size"`
	Tied             bool           `json:"tie_word_embeddings"`
	AttentionBias    bool           `json:"attention_bias"`
	Features         []string       `json:"features"`
	LayerKinds       string         `json:"layer_kinds,omitempty"`
	DTypes           map[string]int `json:"dtypes"`
	ParamsPerLayer   int64          `json:"params_per_layer"`
	ParamsOuter      int64          `json:"params_outside_layers"`
	ParamsTotal      int64          `json:"params_total"`
	CompatibleToBase *bool          `json:"compatible_with_base,omitempty"`
	Problem          string         `json:"problem,omitempty"`
}

func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor inspect [--json] DIR [[alias=]DIR ...]\n\nThe first directory is the base; the others are checked against it as a family.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var reports []inspectReport
	var base *model.Model
	status := 0
	for i, arg := range fs.Args() {
		mem := model.ParseMember(arg)
		m, err := model.Open(mem.Dir)
		if err != nil {
			return fail(stderr, "inspect", err)
		}
		defer m.Close()
		m.Name = mem.Alias
		if i == 0 {
			m.Name = "base"
			base = m
		}
		c := m.Config
		r := inspectReport{
			Dir: mem.Dir, Alias: m.Name, Architecture: strings.Join(c.Architectures, ","), ModelType: c.ModelType,
			Layers: c.NumHiddenLayers, Hidden: c.HiddenSize, Intermediate: c.IntermediateSize,
			Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim, Vocab: c.VocabSize,
			Tied: c.TieWordEmbeddings, AttentionBias: c.HasAttentionBias(), DTypes: map[string]int{},
			ParamsPerLayer: m.LayerParams(), ParamsOuter: m.OuterParams(), ParamsTotal: m.Params(),
			Features: c.Features(), LayerKinds: c.KindsSummary(),
		}
		for dt, n := range m.Tensors.DTypes() {
			r.DTypes[string(dt)] = n
		}
		if i > 0 {
			ok := true
			if err := model.Compatible(base, m); err != nil {
				ok = false
				r.Problem = err.Error()
				status = 1
			}
			r.CompatibleToBase = &ok
		}
		reports = append(reports, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(reports)
		return status
	}
	for _, r := range reports {
		fmt.Fprintf(stdout, "%s  (%s)\n", r.Dir, r.Alias)
		fmt.Fprintf(stdout, "  architecture   %s (model_type %s)\n", r.Architecture, r.ModelType)
		fmt.Fprintf(stdout, "  layers         %d × hidden %d, intermediate %d\n", r.Layers, r.Hidden, r.Intermediate)
		fmt.Fprintf(stdout, "  attention      %d heads, %d kv heads, head_dim %d, bias %v\n", r.Heads, r.KVHeads, r.HeadDim, r.AttentionBias)
		fmt.Fprintf(stdout, "  vocabulary     %d (tied embeddings: %v)\n", r.Vocab, r.Tied)
		fmt.Fprintf(stdout, "  layer          %s\n", strings.Join(r.Features, ", "))
		if r.LayerKinds != "" {
			fmt.Fprintf(stdout, "  layer kinds    %s\n", r.LayerKinds)
		}
		var dts []string
		for dt, n := range r.DTypes {
			dts = append(dts, fmt.Sprintf("%s×%d", dt, n))
		}
		sort.Strings(dts)
		fmt.Fprintf(stdout, "  dtypes         %s\n", strings.Join(dts, " "))
		fmt.Fprintf(stdout, "  parameters     %s per layer, %s outside layers, %s total\n", human(r.ParamsPerLayer), human(r.ParamsOuter), human(r.ParamsTotal))
		if r.CompatibleToBase != nil {
			if *r.CompatibleToBase {
				fmt.Fprintln(stdout, "  family         compatible with the base")
			} else {
				fmt.Fprintf(stdout, "  family         NOT compatible: %s\n", r.Problem)
			}
		}
	}
	return status
}

func human(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
