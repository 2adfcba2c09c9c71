package chattemplate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Field is one key of a JSON object and its value, in the object's order.
// A Value is what decoding JSON gives here: string, json.Number, bool,
// nil, []any, or Object (never a Go map: objects keep their key order).
type Field struct {
	Key   string
	Value any
}

// Object is a JSON object with its keys in their order.
type Object []Field

// Get returns the value of key and whether the object has it.
func (o Object) Get(key string) (any, bool) {
	for _, f := range o {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Message is one turn of a conversation. Role and Content are the
// message's "role" and "content" (Content nil: null or absent); Fields,
// when set, are all of the message's fields in order (tool_calls,
// tool_call_id, name, ... as well as role and content) and are what the
// template sees. A Message built in code with only Role and Content is
// seen as {"role": ..., "content": ...}.
type Message struct {
	Role    string
	Content *string
	Fields  Object
}

// Conversation is what a template renders: the messages and the other
// variables (tools, documents, anything else of a conversation file), in
// their order.
type Conversation struct {
	Messages []Message
	Vars     Object
}

// Text returns a message of the given role and text.
func Text(role, text string) Message { return Message{Role: role, Content: &text} }

// UserPrompt is the conversation of one user prompt, after a system
// message when system is not empty.
func UserPrompt(system, prompt string) Conversation {
	var c Conversation
	if system != "" {
		c.Messages = append(c.Messages, Text("system", system))
	}
	c.Messages = append(c.Messages, Text("user", prompt))
	return c
}

// object is the message as the template sees it.
func (m Message) object() Object {
	if m.Fields != nil {
		return m.Fields
	}
	var content any
	if m.Content != nil {
		content = *m.Content
	}
	return Object{{"role", m.Role}, {"content", content}}
}

// ParseConversation reads a conversation: a JSON array of messages, or a
// JSON object with "messages" and any other variables (tools, documents,
// ...), which are passed to the template as they are. Each message must be
// an object with a string "role" and a string, null or absent "content".
func ParseConversation(data []byte) (Conversation, error) {
	if !utf8.Valid(data) {
		return Conversation{}, fmt.Errorf("conversation: not UTF-8 text (at byte %d)", invalidUTF8At(data))
	}
	v, err := DecodeJSON(data)
	if err != nil {
		return Conversation{}, fmt.Errorf("conversation: %w", err)
	}
	var c Conversation
	var msgs any
	switch t := v.(type) {
	case []any:
		msgs = t
	case Object:
		found := false
		for _, f := range t {
			if f.Key == "messages" {
				msgs, found = f.Value, true
				continue
			}
			c.Vars = append(c.Vars, f)
		}
		if !found {
			return Conversation{}, errors.New(`conversation: the object has no "messages"`)
		}
	default:
		return Conversation{}, fmt.Errorf("conversation: want a JSON array of messages or an object with \"messages\", got %s", kind(v))
	}
	list, ok := msgs.([]any)
	if !ok {
		return Conversation{}, fmt.Errorf(`conversation: "messages" is %s, want an array`, kind(msgs))
	}
	for i, m := range list {
		o, ok := m.(Object)
		if !ok {
			return Conversation{}, fmt.Errorf("conversation: message %d is %s, want an object", i, kind(m))
		}
		msg := Message{Fields: o}
		role, ok := o.Get("role")
		if !ok {
			return Conversation{}, fmt.Errorf(`conversation: message %d has no "role"`, i)
		}
		if msg.Role, ok = role.(string); !ok {
			return Conversation{}, fmt.Errorf(`conversation: message %d: "role" is %s, want a string`, i, kind(role))
		}
		if content, ok := o.Get("content"); ok && content != nil {
			s, ok := content.(string)
			if !ok {
				return Conversation{}, fmt.Errorf(`conversation: message %d: "content" is %s, want a string or null`, i, kind(content))
			}
			msg.Content = &s
		}
		c.Messages = append(c.Messages, msg)
	}
	return c, nil
}

// DecodeJSON decodes one JSON value keeping object key order (objects
// become Object) and numbers as json.Number. Trailing data is an error.
func DecodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value at byte %d", d.InputOffset())
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("empty JSON")
		}
		return nil, fmt.Errorf("bad JSON near byte %d: %w", d.InputOffset(), err)
	}
	delim, ok := t.(json.Delim)
	if !ok {
		return t, nil
	}
	switch delim {
	case '{':
		o := Object{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return nil, fmt.Errorf("bad JSON near byte %d: %w", d.InputOffset(), err)
			}
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			o = setField(o, k.(string), v)
		}
		if _, err := d.Token(); err != nil {
			return nil, fmt.Errorf("bad JSON near byte %d: %w", d.InputOffset(), err)
		}
		return o, nil
	case '[':
		a := []any{}
		for d.More() {
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := d.Token(); err != nil {
			return nil, fmt.Errorf("bad JSON near byte %d: %w", d.InputOffset(), err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("bad JSON near byte %d: unexpected %q", d.InputOffset(), delim)
}

// setField sets key as Python's json.loads does: a repeated key keeps its
// first position and takes the last value.
func setField(o Object, key string, v any) Object {
	for i := range o {
		if o[i].Key == key {
			o[i].Value = v
			return o
		}
	}
	return append(o, Field{key, v})
}

func kind(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case Object:
		return "an object"
	default:
		return strings.TrimPrefix(fmt.Sprintf("%T", t), "*")
	}
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
