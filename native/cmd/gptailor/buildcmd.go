package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gptailor/gptailor/native/build"
	"github.com/gptailor/gptailor/native/progress"
	"github.com/gptailor/gptailor/native/safetensors"
)

func runBuild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output directory (a Hugging Face model directory)")
	dtype := fs.String("dtype", "", "f32, bf16 or f16 (default: each tensor's source dtype)")
	force := fs.Bool("force", false, "replace a non-empty output directory")
	shard := fs.Int64("shard-size", build.DefaultShardBytes, "largest shard in bytes")
	repairOpt := repairFlags(fs, "repair the plan's cuts with ReplaceMe's linear map fitted on this calibration text (text or JSONL), folded into down_proj")
	format := fs.String("format", "hf", "hf (a Hugging Face directory) or gguf (one file llama.cpp, Ollama and LM Studio load)")
	ggufType := fs.String("type", "f16", "--format gguf: f32, f16, bf16, q8_0 or q4_0 (norms stay f32)")
	ollama := fs.Bool("ollama", false, "--format gguf: also write an Ollama Modelfile beside the file")
	var fam memberFlags
	fs.Var(&fam, "family", "alias=DIR of a family model (repeatable; overrides the plan's models)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor build PLAN -o DIR [--dtype f32|bf16|f16] [--force] [--shard-size BYTES]")
		fmt.Fprintln(stderr, "       gptailor build PLAN -o MODEL.gguf --format gguf [--type f32|f16|bf16|q8_0|q4_0] [--ollama] [--force]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || *out == "" {
		fs.Usage()
		return 2
	}
	if *format != "hf" && *format != "gguf" {
		return fail(stderr, "build", fmt.Errorf("--format %q: hf or gguf", *format))
	}
	if *format == "gguf" && *dtype != "" {
		return fail(stderr, "build", fmt.Errorf("--dtype is for --format hf; --format gguf takes --type"))
	}
	dt := map[string]safetensors.DType{"": "", "f32": safetensors.F32, "bf16": safetensors.BF16, "f16": safetensors.F16}
	d, ok := dt[strings.ToLower(*dtype)]
	if !ok {
		return fail(stderr, "build", fmt.Errorf("--dtype %q: use f32, bf16 or f16", *dtype))
	}
	p, f, err := loadPlan(pos[0], fam)
	if err != nil {
		return fail(stderr, "build", err)
	}
	if f == nil {
		return fail(stderr, "build", fmt.Errorf(`%s: the plan names no models: add "models": {"base": DIR, ...} or pass --family base=DIR`, pos[0]))
	}
	defer f.Close()
	b, err := planBuilder(f)
	if err != nil {
		return fail(stderr, "build", err)
	}
	if r := repairOpt(); r != nil {
		if p, err = withRepairFlag(p, r, f); err != nil {
			return fail(stderr, "build", err)
		}
	}
	if p, _, err = checkedRepair(b, p, stderr); err != nil {
		return fail(stderr, "build", err)
	}
	if *format == "gguf" {
		return buildGGUF(b, p, *out, *ggufType, *force, *ollama, stdout, stderr)
	}
	var bar *progress.Bar
	res, err := build.Build(b, p, build.Options{
		Out: *out, DType: d, Force: *force, ShardBytes: *shard,
		Progress: func(done, total int) {
			if bar == nil {
				bar = progress.New(stderr, "build", "tensors", total)
			}
			bar.Add(1)
		},
	})
	bar.Finish()
	if err != nil {
		return fail(stderr, "build", err)
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors, %s parameters, %d shard(s), %.1f MB\n", res.Dir, res.Tensors, human(res.Params), len(res.Shards), float64(res.Bytes)/1e6)
	if !res.Mergekit {
		fmt.Fprintf(stdout, "no mergekit.yml: %s\n", res.NoMergekit)
	}
	return 0
}
