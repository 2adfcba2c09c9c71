package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gptailor/gptailor/native/chattemplate"
)

// varFlags collects repeated --var KEY=VALUE.
type varFlags map[string]string

func (v varFlags) String() string { return "" }

func (v varFlags) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	v[k] = val
	return nil
}

func runChatTemplate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chat-template", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "model directory: its chat template (tokenizer_config.json or chat_template.jinja) and its bos_token/eos_token")
	templateFile := fs.String("template", "", "a Jinja chat template file (overrides the model's)")
	messages := fs.String("messages", "", "a JSON array of messages, or an object with \"messages\" and other variables (tools, documents, ...)")
	noGen := fs.Bool("no-generation-prompt", false, "render without add_generation_prompt")
	vars := varFlags{}
	fs.Var(vars, "var", "KEY=VALUE: a string variable (bos_token, eos_token, date_string, ...); repeatable")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor chat-template (--model DIR | --template FILE) --messages FILE.json [--no-generation-prompt] [--var KEY=VALUE]...\n\nPrints the rendered prompt exactly (no newline added); exits 1 with the template's message when it raises.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *messages == "" || (*modelDir == "" && *templateFile == "") {
		fs.Usage()
		return 2
	}
	raw, err := os.ReadFile(*messages)
	if err != nil {
		return fail(stderr, "chat-template", fmt.Errorf("--messages: %w", err))
	}
	conv, err := chattemplate.ParseConversation(raw)
	if err != nil {
		return fail(stderr, "chat-template", fmt.Errorf("--messages %s: %w", *messages, err))
	}
	var t *chattemplate.Template
	if *templateFile != "" {
		src, err := os.ReadFile(*templateFile)
		if err != nil {
			return fail(stderr, "chat-template", fmt.Errorf("--template: %w", err))
		}
		if t, err = chattemplate.Parse(*templateFile, string(src)); err != nil {
			return fail(stderr, "chat-template", err)
		}
		if *modelDir != "" {
			if t.BOSToken, t.EOSToken, err = chattemplate.SpecialTokens(*modelDir); err != nil {
				return fail(stderr, "chat-template", err)
			}
		}
	} else if t, err = chattemplate.Load(*modelDir); err != nil {
		return fail(stderr, "chat-template", err)
	}
	out, err := t.Apply(conv, !*noGen, vars)
	if err != nil {
		var r *chattemplate.RaiseError
		if errors.As(err, &r) {
			fmt.Fprintln(stderr, r.Message)
			return 1
		}
		return fail(stderr, "chat-template", err)
	}
	io.WriteString(stdout, out)
	return 0
}
