// Package chattemplate renders a model's chat template — the Jinja template
// of tokenizer_config.json or chat_template.jinja that turns a conversation
// into the model's prompt text — as Hugging Face transformers'
// apply_chat_template renders it: Jinja2 semantics with trim_blocks and
// lstrip_blocks, loop controls, raise_exception (its message becomes the
// error), strftime_now, a tojson that keeps key order and non-ASCII text,
// bos_token/eos_token, add_generation_prompt, tools and documents (None
// when absent). The template engine is github.com/ardanlabs/jinja (see
// RATIONALE.md); this package fills its gaps at its extension points.
package chattemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// Template is a parsed chat template and the special tokens it sees by
// default.
type Template struct {
	Name     string // where it came from (file, or file and template name)
	Source   string
	BOSToken string // bos_token's default (--var bos_token=... overrides)
	EOSToken string
	// Now is the clock strftime_now reads (nil: time.Now, local time, as
	// transformers' datetime.now()).
	Now func() time.Time

	t *jinja.Template
}

// RaiseError is a template's raise_exception: Error is its message.
type RaiseError struct{ Message string }

func (e *RaiseError) Error() string { return e.Message }

// Parse compiles a template's source; name says where it came from in
// errors.
func Parse(name, source string) (*Template, error) {
	t, err := jinja.Compile(source)
	if err != nil {
		return nil, fmt.Errorf("chat template %s: %w", name, err)
	}
	return &Template{Name: name, Source: source, t: t}, nil
}

// Load reads a model directory's chat template: chat_template.jinja when
// present (as transformers prefers it), else tokenizer_config.json's
// chat_template — a string, or a list of named templates of which
// "default" is taken. The tokenizer's bos_token and eos_token become the
// template's defaults.
func Load(modelDir string) (*Template, error) {
	return LoadNamed(modelDir, "")
}

// LoadNamed is Load choosing a named template of a list ("" = default).
func LoadNamed(modelDir, name string) (*Template, error) {
	cfg, cfgPath, err := readConfig(modelDir)
	if err != nil {
		return nil, err
	}
	bos, eos, err := specialTokens(cfg, cfgPath)
	if err != nil {
		return nil, err
	}
	var t *Template
	jinjaPath := filepath.Join(modelDir, "chat_template.jinja")
	if src, err := os.ReadFile(jinjaPath); err == nil && name == "" {
		if t, err = Parse(jinjaPath, string(src)); err != nil {
			return nil, err
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	} else {
		src, label, err := configTemplate(cfg, cfgPath, name)
		if err != nil {
			return nil, err
		}
		if t, err = Parse(label, src); err != nil {
			return nil, err
		}
	}
	t.BOSToken, t.EOSToken = bos, eos
	return t, nil
}

// SpecialTokens returns a model directory's bos_token and eos_token
// strings (tokenizer_config.json; "" when absent).
func SpecialTokens(modelDir string) (bos, eos string, err error) {
	cfg, cfgPath, err := readConfig(modelDir)
	if err != nil {
		return "", "", err
	}
	return specialTokens(cfg, cfgPath)
}

func readConfig(modelDir string) (map[string]json.RawMessage, string, error) {
	cfgPath := filepath.Join(modelDir, "tokenizer_config.json")
	var cfg map[string]json.RawMessage
	raw, err := os.ReadFile(cfgPath)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, "", fmt.Errorf("%s: %w", cfgPath, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, "", err
	}
	return cfg, cfgPath, nil
}

func specialTokens(cfg map[string]json.RawMessage, cfgPath string) (string, string, error) {
	bos, err := tokenString(cfg, "bos_token", cfgPath)
	if err != nil {
		return "", "", err
	}
	eos, err := tokenString(cfg, "eos_token", cfgPath)
	return bos, eos, err
}

// configTemplate picks tokenizer_config.json's chat_template.
func configTemplate(cfg map[string]json.RawMessage, cfgPath, name string) (string, string, error) {
	raw, ok := cfg["chat_template"]
	if !ok || string(raw) == "null" {
		return "", "", fmt.Errorf("%s has no chat template (no chat_template field and no chat_template.jinja beside it)", filepath.Dir(cfgPath))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if name != "" && name != "default" {
			return "", "", fmt.Errorf("%s: chat_template is a single template, there is no %q", cfgPath, name)
		}
		return s, cfgPath, nil
	}
	var list []struct {
		Name     *string `json:"name"`
		Template *string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", "", fmt.Errorf("%s: chat_template must be a string or a list of {\"name\", \"template\"}", cfgPath)
	}
	if name == "" {
		name = "default"
	}
	var names []string
	for i, e := range list {
		if e.Name == nil || e.Template == nil {
			return "", "", fmt.Errorf("%s: chat_template[%d] needs a string \"name\" and \"template\"", cfgPath, i)
		}
		if *e.Name == name {
			return *e.Template, fmt.Sprintf("%s (%s)", cfgPath, name), nil
		}
		names = append(names, *e.Name)
	}
	sort.Strings(names)
	return "", "", fmt.Errorf("%s: no chat template named %q (it has %s)", cfgPath, name, strings.Join(names, ", "))
}

// tokenString reads a special token: a string or {"content": ...}.
func tokenString(cfg map[string]json.RawMessage, field, path string) (string, error) {
	raw, ok := cfg[field]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Content == nil {
		return "", fmt.Errorf("%s: field %s must be a string or {\"content\": ...}", path, field)
	}
	return *obj.Content, nil
}

// reserved are the variables Apply sets itself.
var reserved = map[string]bool{"messages": true, "add_generation_prompt": true, "raise_exception": true, "strftime_now": true}

// Apply renders the conversation: the messages, tools and documents (None
// when the conversation has none, as transformers passes them), the
// conversation's other variables, add_generation_prompt, bos_token and
// eos_token (the template's defaults), then vars (string variables, which
// override the others). A template's raise_exception is a *RaiseError.
func (t *Template) Apply(conv Conversation, addGenerationPrompt bool, vars map[string]string) (string, error) {
	data := map[string]jinja.Value{
		"bos_token":             jinja.NewString(t.BOSToken),
		"eos_token":             jinja.NewString(t.EOSToken),
		"tools":                 jinja.None(),
		"documents":             jinja.None(),
		"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
	}
	for _, f := range conv.Vars {
		if reserved[f.Key] {
			return "", fmt.Errorf("chat template %s: the conversation may not set %q", t.Name, f.Key)
		}
		data[f.Key] = toValue(f.Value)
	}
	for k, v := range vars {
		if reserved[k] {
			return "", fmt.Errorf("chat template %s: variable %q cannot be set", t.Name, k)
		}
		data[k] = jinja.NewString(v)
	}
	msgs := make([]jinja.Value, len(conv.Messages))
	for i, m := range conv.Messages {
		msgs[i] = toValue(m.object())
	}
	data["messages"] = jinja.NewList(msgs)
	data["raise_exception"] = jinja.NewCallable("raise_exception", raiseException)
	now := t.Now
	if now == nil {
		now = time.Now
	}
	data["strftime_now"] = jinja.NewCallable("strftime_now", func(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() || len(kwargs) != 0 {
			return jinja.Undefined(), errors.New("strftime_now takes one string, the format")
		}
		s, err := strftime(args[0].AsString(), now())
		if err != nil {
			return jinja.Undefined(), err
		}
		return jinja.NewString(s), nil
	})
	out, err := t.t.RenderValuesWithFilters(data, filters)
	if err != nil {
		var raise *RaiseError
		if errors.As(err, &raise) {
			return "", raise
		}
		return "", fmt.Errorf("chat template %s: %w", t.Name, err)
	}
	return out, nil
}

// filters replace the engine's where transformers differs from it.
var filters = map[string]jinja.Value{
	"tojson": jinja.NewCallable("tojson", filterToJSON),
}

func raiseException(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 || len(kwargs) != 0 {
		return jinja.Undefined(), errors.New("raise_exception takes one argument, the message")
	}
	if args[0].IsString() {
		return jinja.Undefined(), &RaiseError{Message: args[0].AsString()}
	}
	return jinja.Undefined(), &RaiseError{Message: args[0].String()}
}
