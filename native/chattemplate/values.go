package chattemplate

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// toValue converts decoded JSON (see DecodeJSON) to a template value:
// objects keep their key order, integers stay integers and other numbers
// become floats, as Python's json.loads makes them.
func toValue(v any) jinja.Value {
	switch t := v.(type) {
	case nil:
		return jinja.None()
	case string:
		return jinja.NewString(t)
	case bool:
		return jinja.NewBool(t)
	case json.Number:
		s := string(t)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return jinja.NewInt(i)
			}
		}
		f, _ := strconv.ParseFloat(s, 64) // out of range: ±Inf, as Python
		return jinja.NewFloat(f)
	case []any:
		items := make([]jinja.Value, len(t))
		for i, x := range t {
			items[i] = toValue(x)
		}
		return jinja.NewList(items)
	case Object:
		d := jinja.NewDict()
		for _, f := range t {
			d.AsDict().Set(f.Key, toValue(f.Value))
		}
		return d
	}
	panic(fmt.Sprintf("chattemplate: no template value for %T", v))
}

// jsonOptions are tojson's keyword arguments (Python's json.dumps).
type jsonOptions struct {
	ensureASCII bool
	indent      *string // nil: one line
	itemSep     string
	keySep      string
	sortKeys    bool
}

// filterToJSON is transformers' tojson: json.dumps(x, ensure_ascii=False,
// indent=None, separators=None, sort_keys=False), which keeps the input's
// key order and non-ASCII characters and escapes no HTML characters.
func filterToJSON(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), fmt.Errorf("tojson: no value")
	}
	o := jsonOptions{itemSep: ", ", keySep: ": "}
	pos := args[1:] // json.dumps's order after the value: ensure_ascii, indent, separators, sort_keys
	get := func(name string, i int) (jinja.Value, bool) {
		if v, ok := kwargs[name]; ok {
			return v, true
		}
		if i < len(pos) {
			return pos[i], true
		}
		return jinja.Value{}, false
	}
	for name := range kwargs {
		switch name {
		case "ensure_ascii", "indent", "separators", "sort_keys":
		default:
			return jinja.Undefined(), fmt.Errorf("tojson: unexpected keyword argument %q", name)
		}
	}
	if len(pos) > 4 {
		return jinja.Undefined(), fmt.Errorf("tojson: takes at most 5 arguments, got %d", len(args))
	}
	if v, ok := get("ensure_ascii", 0); ok {
		o.ensureASCII = v.IsTruthy()
	}
	if v, ok := get("indent", 1); ok && !v.IsNone() {
		switch {
		case v.IsInt():
			s := strings.Repeat(" ", int(max(v.AsInt(), 0)))
			o.indent = &s
		case v.IsString():
			s := v.AsString()
			o.indent = &s
		default:
			return jinja.Undefined(), fmt.Errorf("tojson: indent must be an integer or a string")
		}
		o.itemSep = ","
	}
	if v, ok := get("separators", 2); ok && !v.IsNone() {
		if !v.IsList() || v.AsList().Len() != 2 || !v.AsList().Get(0).IsString() || !v.AsList().Get(1).IsString() {
			return jinja.Undefined(), fmt.Errorf("tojson: separators must be two strings")
		}
		o.itemSep, o.keySep = v.AsList().Get(0).AsString(), v.AsList().Get(1).AsString()
	}
	if v, ok := get("sort_keys", 3); ok {
		o.sortKeys = v.IsTruthy()
	}
	var b strings.Builder
	if err := o.write(&b, args[0], 0); err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(b.String()), nil
}

func (o *jsonOptions) newline(b *strings.Builder, depth int) {
	if o.indent == nil {
		return
	}
	b.WriteByte('\n')
	for range depth {
		b.WriteString(*o.indent)
	}
}

func (o *jsonOptions) write(b *strings.Builder, v jinja.Value, depth int) error {
	switch {
	case v.IsNone():
		b.WriteString("null")
	case v.IsBool():
		if v.AsBool() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case v.IsInt():
		b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		b.WriteString(pyFloat(v.AsFloat(), true))
	case v.IsString():
		writeJSONString(b, v.AsString(), o.ensureASCII)
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, x := range items {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			o.newline(b, depth+1)
			if err := o.write(b, x, depth+1); err != nil {
				return err
			}
		}
		o.newline(b, depth)
		b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		keys := d.OrderedKeys()
		if len(keys) == 0 {
			b.WriteString("{}")
			return nil
		}
		if o.sortKeys {
			keys = append([]string(nil), keys...)
			sort.Strings(keys) // Python sorts str keys by code point; Go's byte order on UTF-8 is the same
		}
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			o.newline(b, depth+1)
			writeJSONString(b, k, o.ensureASCII)
			b.WriteString(o.keySep)
			x, _ := d.Get(k)
			if err := o.write(b, x, depth+1); err != nil {
				return err
			}
		}
		o.newline(b, depth)
		b.WriteByte('}')
	case v.IsUndefined():
		return fmt.Errorf("tojson: Object of type Undefined is not JSON serializable")
	default:
		return fmt.Errorf("tojson: %s is not JSON serializable", v.String())
	}
	return nil
}

// writeJSONString writes s as Python's json.dumps does: \" \\ \n \r \t \b
// \f, other control characters as \u00XX; with ensureASCII every character
// outside space..~ as \uXXXX (UTF-16 surrogate pairs above U+FFFF).
func writeJSONString(b *strings.Builder, s string, ensureASCII bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (ensureASCII && r > 0x7e):
				if r > 0xffff {
					r -= 0x10000
					fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
				} else {
					fmt.Fprintf(b, `\u%04x`, r)
				}
			case r == utf8.RuneError:
				b.WriteRune(r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// pyFloat formats f as Python's repr(float) (json.dumps's float format):
// the shortest digits that round-trip, in positional notation for decimal
// exponents -4 ≤ e < 16 with at least one digit after the point, otherwise
// as d.ddde±XX. inJSON selects json.dumps's NaN/Infinity spellings.
func pyFloat(f float64, inJSON bool) string {
	switch {
	case math.IsNaN(f):
		if inJSON {
			return "NaN"
		}
		return "nan"
	case math.IsInf(f, 1):
		if inJSON {
			return "Infinity"
		}
		return "inf"
	case math.IsInf(f, -1):
		if inJSON {
			return "-Infinity"
		}
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±dd
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	var s string
	switch {
	case exp < 0:
		s = "0." + strings.Repeat("0", -exp-1) + digits
	case exp+1 >= len(digits):
		s = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	default:
		s = digits[:exp+1] + "." + digits[exp+1:]
	}
	return sign + s
}
