package task

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// The filters and exact_match follow lm-eval (lm_eval/filters/*.py and
// exact_match_hf_evaluate in lm_eval/api/metrics.py). Patterns are Go
// regular expressions (RE2): Python's lookarounds and backreferences are
// refused when the task is read; \d and \w match ASCII only, and $ matches
// only at the very end (Python's also before a final newline).

const (
	defaultRegex    = `#### (\-?[0-9\.\,]+)`
	defaultFallback = "[invalid]"
)

// compileFilter turns a filter pipeline into one function over a
// generated text; p names the field in errors.
func compileFilter(steps []FilterStep, p string) (func(string) string, error) {
	var fns []func(string) string
	for i, st := range steps {
		q := fmt.Sprintf("%s[%d]", p, i)
		if st.Function != "regex" && (st.RegexPattern != "" || st.GroupSelect != 0 || st.Fallback != nil) {
			return nil, fmt.Errorf("%s: regex_pattern, group_select and fallback belong to a regex step, not %q", q, st.Function)
		}
		switch st.Function {
		case "regex":
			pat := st.RegexPattern
			if pat == "" {
				pat = defaultRegex
			}
			re, err := regexp.Compile(pat)
			if err != nil {
				return nil, fmt.Errorf("%s.regex_pattern: %v (Go RE2 syntax: no lookaround or backreference)", q, err)
			}
			fallback := defaultFallback
			if st.Fallback != nil {
				fallback = *st.Fallback
			}
			group := st.GroupSelect
			fns = append(fns, func(s string) string { return regexSelect(re, s, group, fallback) })
		case "take_first":
			// One greedy response per sample: taking the first is the identity.
		case "lowercase":
			fns = append(fns, pyLower)
		case "uppercase":
			fns = append(fns, strings.ToUpper)
		case "strip", "remove_whitespace":
			fns = append(fns, pyStrip)
		case "":
			return nil, fmt.Errorf("%s.function is missing (regex, take_first, lowercase, uppercase, strip)", q)
		default:
			return nil, fmt.Errorf("%s.function %q is not a filter (regex, take_first, lowercase, uppercase, strip)", q, st.Function)
		}
	}
	return func(s string) string {
		for _, f := range fns {
			s = f(s)
		}
		return s
	}, nil
}

// regexSelect is lm-eval's RegexFilter on one response: the findall
// matches (the whole match without groups, the group with one, the first
// non-empty group with several), the one at group (negative: from the
// end), stripped; fallback when nothing matches. (lm-eval raises
// IndexError when group is past the matches; this gives fallback.)
func regexSelect(re *regexp.Regexp, s string, group int, fallback string) string {
	all := re.FindAllStringSubmatch(s, -1)
	if len(all) == 0 {
		return fallback
	}
	if group < 0 {
		group += len(all)
	}
	if group < 0 || group >= len(all) {
		return fallback
	}
	m := all[group]
	var out string
	switch len(m) {
	case 1:
		out = m[0]
	case 2:
		out = m[1]
	default:
		out = fallback
		for _, g := range m[1:] {
			if g != "" {
				out = g
				break
			}
		}
	}
	return pyStrip(out)
}

// pyStrip is Python's str.strip(): Unicode whitespace, and the separators
// U+001C–U+001F Python counts as whitespace.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

// pyLower is Python's str.lower(): Unicode lower case with its two
// context rules Go's strings.ToLower lacks — a capital sigma ending a word
// becomes ς, and İ becomes i followed by U+0307.
func pyLower(s string) string {
	if !strings.ContainsAny(s, "Σİ") {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch r {
		case 'Σ':
			if finalSigma(rs, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		case 'İ':
			b.WriteString("i\u0307")
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma condition at rs[i]: a cased letter
// before it and none after it (case-ignorable characters skipped).
func finalSigma(rs []rune, i int) bool {
	cased := func(r rune) bool { return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) }
	ignorable := func(r rune) bool {
		return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) || r == '\'' || r == '.' || r == ':' || r == '·'
	}
	before := false
	for j := i - 1; j >= 0; j-- {
		if ignorable(rs[j]) {
			continue
		}
		before = cased(rs[j])
		break
	}
	if !before {
		return false
	}
	for j := i + 1; j < len(rs); j++ {
		if ignorable(rs[j]) {
			continue
		}
		return !cased(rs[j])
	}
	return true
}

// matcher is exact_match with its options compiled.
type matcher struct {
	ignore []*regexp.Regexp
	opts   MatchOptions
}

func compileMatch(o MatchOptions, p string) (*matcher, error) {
	m := &matcher{opts: o}
	for i, r := range o.RegexesToIgnore {
		re, err := regexp.Compile(r)
		if err != nil {
			return nil, fmt.Errorf("%s.regexes_to_ignore[%d]: %v (Go RE2 syntax: no lookaround or backreference)", p, i, err)
		}
		m.ignore = append(m.ignore, re)
	}
	return m, nil
}

// punctuation is Python's string.punctuation.
const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// normalize applies the options to one string, in Hugging Face evaluate's
// order: regexes removed (each over the result of the previous), lower
// case, punctuation removed, digits removed.
func (m *matcher) normalize(s string) string {
	for _, re := range m.ignore {
		s = re.ReplaceAllLiteralString(s, "")
	}
	if m.opts.IgnoreCase {
		s = pyLower(s)
	}
	if m.opts.IgnorePunctuation {
		s = strings.Map(func(r rune) rune {
			if r < 0x80 && strings.ContainsRune(punctuation, r) {
				return -1
			}
			return r
		}, s)
	}
	if m.opts.IgnoreNumbers {
		s = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// any is lm-eval's exact_match over several targets: 1 when the
// prediction matches one of them.
func (m *matcher) any(pred string, targets []string) bool {
	p := m.normalize(pred)
	for _, t := range targets {
		if m.normalize(t) == p {
			return true
		}
	}
	return false
}
