package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/tokenizer"
)

var stdin io.Reader = os.Stdin

func runTokenize(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("tokenizer", "", "tokenizer.json, or a model directory holding one")
	noSpecial := fs.Bool("no-special", false, "do not add the post-processor's special tokens (BOS)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor tokenize --tokenizer FILE|DIR < input.jsonl\n\nReads {\"text\": ...} per line on stdin; prints one JSON array of ids per line.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	tok, err := tokenizer.Load(*path)
	if err != nil {
		return fail(stderr, "tokenize", err)
	}
	raw, err := io.ReadAll(stdin)
	if err != nil {
		return fail(stderr, "tokenize", err)
	}
	docs, err := corpus.ParseJSONL(raw, "stdin")
	if err != nil {
		return fail(stderr, "tokenize", err)
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for _, d := range docs {
		ids := tok.Encode(d.Text, !*noSpecial)
		if ids == nil {
			ids = []int{}
		}
		b, _ := json.Marshal(ids)
		w.Write(b)
		w.WriteByte('\n')
	}
	return 0
}
