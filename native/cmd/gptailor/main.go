// Command gptailor tailors a smaller LLM out of a family of fine-tunes of
// one base model. This file dispatches subcommands; each lives in its own
// file and is testable through run.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"inspect":       {"describe model directories and check that they form a family", runInspect},
		"eval":          {"score a model, layer list or plan on text (NLL, perplexity, bits per byte) or on a task list", runEval},
		"chat-template": {"render a conversation with a chat template as transformers does (--model DIR or --template FILE)", runChatTemplate},
		"tokenize":      {"tokenize JSONL {\"text\"} from stdin, one JSON array of ids per line", runTokenize},
		"plan":          {"validate, show and convert layer plans (mergekit YAML both ways)", runPlan},
		"build":         {"write a plan as a Hugging Face model directory", runBuild},
		"search":        {"search layer plans (remove, select, merge) that keep the most quality", runSearch},
		"serve":         {"serve the browser plan editor and live searches over a websocket", runServe},
		"prune":         {"single-model depth-pruning baselines (shortgpt, angular, sleb, last) as plans", runPrune},
		"compare":       {"compare finished search runs (seeds, --space ablations): the winners' objective and retention as mean ± s.e.", runCompare},
		"generate":      {"generate text with a model or plan (KV-cached decoding, sampling, stop strings; --compare side by side)", runGenerate},
		"worker":        {"evaluate search candidates for coordinators on a NATS JetStream server (search --workers/--nats)", runWorker},
		"version":       {"the build, the CPU features seen and the compute kernel in use", runVersion},
	}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if err := kernel.SelectFromEnv(); err != nil {
		fmt.Fprintf(stderr, "gptailor: %v\n", err)
		return 2
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "gptailor: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: gptailor <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'gptailor <command> -h' for a command's flags.")
}

// fail prints an error the way every subcommand does and returns exit code 1.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "gptailor %s: %v\n", cmd, err)
	return 1
}

// parseInterspersed parses flags that may come before or after positional
// arguments (gptailor build PLAN -o DIR), returning the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return pos, nil
}

// memberFlags collects repeated --family [alias=]DIR flags; a bare DIR is
// named after its directory (stories260K-code -> code). In search and
// serve the first is the base; with plans they override the plan's models
// by alias.
type memberFlags []model.Member

func (f *memberFlags) String() string { return "" }
func (f *memberFlags) Set(s string) error {
	*f = append(*f, model.ParseMember(s))
	return nil
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeHeapProfile writes the live heap (after a collection) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}
