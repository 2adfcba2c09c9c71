package chattemplate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const echo = `{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}`

func TestLoad(t *testing.T) {
	conv := UserPrompt("sys", "hi")
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"string", map[string]string{"tokenizer_config.json": `{"bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": false}, "chat_template": "` + strings.ReplaceAll(echo, `"`, `\"`) + `"}`}, "<s>[system]sys[user]hi[assistant]</s>"},
		{"named list", map[string]string{"tokenizer_config.json": `{"eos_token": "E", "chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "{{ messages[0].content }}{{ eos_token }}"}]}`}, "sysE"},
		{"jinja file wins", map[string]string{"tokenizer_config.json": `{"bos_token": "B", "chat_template": "config"}`, "chat_template.jinja": "{{ bos_token }}file"}, "Bfile"},
		{"jinja file alone", map[string]string{"chat_template.jinja": "{{ messages | length }}"}, "2"},
	}
	for _, c := range cases {
		tpl, err := Load(writeFiles(t, c.files))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got, err := tpl.Apply(conv, true, nil)
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		}
	}
	// --var overrides the tokenizer's tokens; a named template is chosen.
	dir := writeFiles(t, cases[1].files)
	tpl, err := LoadNamed(dir, "tool_use")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tpl.Apply(conv, false, nil); got != "tools" {
		t.Errorf("tool_use template rendered %q", got)
	}
	tpl, _ = Load(dir)
	if got, _ := tpl.Apply(conv, false, map[string]string{"eos_token": "<end>"}); got != "sys<end>" {
		t.Errorf("--var eos_token: %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"tokenizer_config.json": `{"bos_token": "<s>"}`}, "has no chat template"},
		{map[string]string{}, "has no chat template"},
		{map[string]string{"tokenizer_config.json": `{"chat_template": [{"name": "rag", "template": "x"}]}`}, `no chat template named "default" (it has rag)`},
		{map[string]string{"tokenizer_config.json": `{"chat_template": 3}`}, "chat_template must be a string or a list"},
		{map[string]string{"tokenizer_config.json": `{"chat_template": "x", "bos_token": 1}`}, "field bos_token must be a string"},
		{map[string]string{"tokenizer_config.json": `{`}, "tokenizer_config.json"},
		{map[string]string{"chat_template.jinja": "{% for %}"}, "chat_template.jinja: jinja parse"},
	}
	for _, c := range cases {
		_, err := Load(writeFiles(t, c.files))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.files, err, c.want)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	tpl, err := Parse("t", `{% if messages[0].role == 'system' %}{{ raise_exception('No system message, please: ' + messages[0].content) }}{% endif %}{{ unknown | nofilter }}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Apply(UserPrompt("x", "y"), true, nil)
	var r *RaiseError
	if !errors.As(err, &r) || err.Error() != "No system message, please: x" {
		t.Errorf("raise_exception: %v", err)
	}
	if _, err = tpl.Apply(UserPrompt("", "y"), true, nil); err == nil || !strings.Contains(err.Error(), `unknown filter "nofilter"`) {
		t.Errorf("unknown filter: %v", err)
	}
	if _, err = tpl.Apply(UserPrompt("", "y"), true, map[string]string{"messages": "x"}); err == nil || !strings.Contains(err.Error(), `"messages" cannot be set`) {
		t.Errorf("--var messages: %v", err)
	}
	bad, _ := Parse("t", `{{ strftime_now('%Q') }}`)
	if _, err = bad.Apply(UserPrompt("", "y"), true, nil); err == nil || !strings.Contains(err.Error(), "unsupported directive %Q") {
		t.Errorf("strftime: %v", err)
	}
}

func TestParseConversation(t *testing.T) {
	c, err := ParseConversation([]byte(`{"tools": [{"b": 1, "a": 2.0}], "messages": [{"role": "user", "content": "hé", "name": "x"}, {"role": "assistant", "content": null}], "custom": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 2 || c.Messages[0].Role != "user" || *c.Messages[0].Content != "hé" || c.Messages[1].Content != nil {
		t.Errorf("messages %+v", c.Messages)
	}
	if len(c.Vars) != 2 || c.Vars[0].Key != "tools" || c.Vars[1].Key != "custom" {
		t.Errorf("vars %+v", c.Vars)
	}
	tools := c.Vars[0].Value.([]any)[0].(Object)
	if tools[0].Key != "b" || tools[1].Key != "a" {
		t.Errorf("key order lost: %+v", tools)
	}
	cases := []struct{ data, want string }{
		{`{"role": "user"}`, `the object has no "messages"`},
		{`"x"`, "want a JSON array of messages"},
		{`{"messages": {}}`, `"messages" is an object, want an array`},
		{`[{"role": "user", "content": "a"}, "b"]`, "message 1 is a string, want an object"},
		{`[{"content": "a"}]`, `message 0 has no "role"`},
		{`[{"role": 3}]`, `message 0: "role" is a number, want a string`},
		{`[{"role": "user", "content": ["part"]}]`, `message 0: "content" is an array, want a string or null`},
		{`[{"role": "user"}] x`, "data after the JSON value"},
		{`[{"role": "user",]`, "bad JSON near byte"},
		{"[{\"role\": \"us\xffer\"}]", "not UTF-8 text (at byte 13)"},
		{``, "empty JSON"},
	}
	for _, c := range cases {
		_, err := ParseConversation([]byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.data, err, c.want)
		}
	}
}

func FuzzParseConversation(f *testing.F) {
	f.Add([]byte(`[{"role": "user", "content": "hi"}]`))
	f.Add([]byte(`{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1.5e3}}}]}], "tools": []}`))
	tpl, err := Parse("fuzz", `{% for m in messages %}{{ m.role }}{{ m | tojson }}{% endfor %}{{ tools | tojson(indent=2) }}`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConversation(data)
		if err != nil {
			return
		}
		for i, m := range c.Messages {
			if r, ok := m.Fields.Get("role"); !ok || r != m.Role {
				t.Fatalf("message %d: role %q, fields %v", i, m.Role, m.Fields)
			}
		}
		if _, err := tpl.Apply(c, true, nil); err != nil && !strings.Contains(err.Error(), "chat template fuzz") {
			t.Fatalf("render error without the template's name: %v", err)
		}
	})
}
