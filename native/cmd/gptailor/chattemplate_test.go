package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// chat-template prints exactly what Python's Jinja2 rendered
// (native/chattemplate/testdata/expected.json), and a template's
// raise_exception message with exit status 1.
func TestChatTemplateCommand(t *testing.T) {
	td := filepath.Join("..", "..", "chattemplate", "testdata")
	raw, err := os.ReadFile(filepath.Join(td, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Cases []struct {
			Template, Conversation string
			AGP                    bool    `json:"add_generation_prompt"`
			Output                 *string `json:"output"`
		}
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	want := func(tpl, conv string, agp bool) string {
		for _, c := range exp.Cases {
			if c.Template == tpl && c.Conversation == conv && c.AGP == agp && c.Output != nil {
				return *c.Output
			}
		}
		t.Fatalf("no expected output for %s %s", tpl, conv)
		return ""
	}
	qwen := "templates/Qwen-Qwen2.5-7B-Instruct.jinja"
	for _, agp := range []bool{true, false} {
		args := []string{"chat-template", "--template", filepath.Join(td, qwen), "--messages", filepath.Join(td, "conversations/tool_call.json"), "--var", "bos_token=<s>", "--var", "eos_token=</s>"}
		if !agp {
			args = append(args, "--no-generation-prompt")
		}
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if w := want(qwen, "conversations/tool_call.json", agp); out.String() != w {
			t.Errorf("generation prompt %v: printed %q\nwant %q", agp, out.String(), w)
		}
	}
	// A model directory: its template and its own tokens.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"bos_token": "<s>", "eos_token": "</s>"}`), 0o644)
	gemma, _ := os.ReadFile(filepath.Join(td, "templates/google-gemma-2-2b-it.jinja"))
	os.WriteFile(filepath.Join(dir, "chat_template.jinja"), gemma, 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"chat-template", "--model", dir, "--messages", filepath.Join(td, "conversations/alternating.json")}, &out, &errb); code != 0 || out.String() != want("templates/google-gemma-2-2b-it.jinja", "conversations/alternating.json", true) {
		t.Errorf("--model: exit %d, %q %s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"chat-template", "--model", dir, "--messages", filepath.Join(td, "conversations/system_turns.json")}, &out, &errb); code != 1 || out.Len() != 0 || errb.String() != "System role not supported\n" {
		t.Errorf("raise: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"chat-template", "--model", dir}, 2, "usage"},
		{[]string{"chat-template", "--model", dir, "--messages", filepath.Join(td, "snippets.json")}, 1, `message 0 has no "role"`},
		{[]string{"chat-template", "--template", filepath.Join(td, qwen), "--messages", "nope.json"}, 1, "--messages: open nope.json"},
		{[]string{"chat-template", "--model", t.TempDir(), "--messages", filepath.Join(td, "conversations/alternating.json")}, 1, "has no chat template"},
		{[]string{"chat-template", "--model", dir, "--var", "novalue", "--messages", "x"}, 2, `"novalue" is not KEY=VALUE`},
	} {
		out.Reset()
		errb.Reset()
		code := run(c.args, &out, &errb)
		if code != c.code || !bytes.Contains(errb.Bytes(), []byte(c.want)) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}
