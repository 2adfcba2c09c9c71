package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The split patterns of byte-level BPE tokenizers. Go's regexp has no
// look-ahead, so `\s+(?!\S)` cannot be compiled; these patterns are matched
// by hand, alternative by alternative, with the leftmost-first semantics of
// the Oniguruma engine Hugging Face uses.
const (
	patternGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// Llama-3 and Qwen2/3 (the latter with \p{N} instead of \p{N}{1,3}).
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen   = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// splitter finds the pieces of one of the known patterns.
type splitter struct {
	gpt2      bool // the GPT-2 pattern; otherwise the Llama-3 family
	maxDigits int  // Llama-3 family: digits per piece (1 or 3)
}

func splitterFor(pattern string) (*splitter, bool) {
	switch pattern {
	case patternGPT2:
		return &splitter{gpt2: true}, true
	case patternLlama3:
		return &splitter{maxDigits: 3}, true
	case patternQwen:
		return &splitter{maxDigits: 1}, true
	}
	return nil, false
}

func isSpace(r rune) bool  { return unicode.Is(unicode.White_Space, r) }
func isLetter(r rune) bool { return unicode.IsLetter(r) }
func isNumber(r rune) bool { return unicode.IsNumber(r) }
func isNL(r rune) bool     { return r == '\r' || r == '\n' }

// other is [^\s\p{L}\p{N}].
func isOther(r rune) bool { return !isSpace(r) && !isLetter(r) && !isNumber(r) }

// split returns the byte ranges of the pattern's matches in s, with the text
// between matches as pieces of its own ("Isolated" behaviour). Every rune is
// matched by some alternative, so there are no gaps in practice.
func (sp *splitter) split(s string) []string {
	rs := []rune(s) // s is valid UTF-8 (Encode makes it so)
	var out []string
	off := make([]int, len(rs)+1)
	b := 0
	for i, r := range rs {
		off[i] = b
		b += utf8.RuneLen(r)
	}
	off[len(rs)] = b
	i := 0
	for i < len(rs) {
		n := sp.matchAt(rs, i)
		if n == 0 {
			n = 1
		}
		out = append(out, s[off[i]:off[i+n]])
		i += n
	}
	return out
}

// contraction matches 's 't 're 've 'm 'll 'd at i (optionally ignoring case).
func contraction(rs []rune, i int, fold bool) int {
	if rs[i] != '\'' || i+1 >= len(rs) {
		return 0
	}
	lower := func(r rune) rune {
		if !fold {
			return r
		}
		if r == 'ſ' { // U+017F folds to 's'
			return 's'
		}
		return unicode.ToLower(r)
	}
	c := lower(rs[i+1])
	switch c {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 < len(rs) {
		c2 := lower(rs[i+2])
		switch {
		case c == 'r' && c2 == 'e', c == 'v' && c2 == 'e', c == 'l' && c2 == 'l':
			return 3
		}
	}
	return 0
}

func runWhile(rs []rune, i int, f func(rune) bool) int {
	j := i
	for j < len(rs) && f(rs[j]) {
		j++
	}
	return j
}

// matchAt returns the length in runes of the match starting at i, or 0.
func (sp *splitter) matchAt(rs []rune, i int) int {
	if sp.gpt2 {
		return sp.matchGPT2(rs, i)
	}
	r := rs[i]
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if n := contraction(rs, i, true); n > 0 {
		return n
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isLetter(r) {
		return runWhile(rs, i, isLetter) - i
	}
	if !isNL(r) && !isNumber(r) && i+1 < len(rs) && isLetter(rs[i+1]) {
		return runWhile(rs, i+1, isLetter) - i
	}
	// \p{N}{1,maxDigits}
	if isNumber(r) {
		j := i
		for j < len(rs) && j-i < sp.maxDigits && isNumber(rs[j]) {
			j++
		}
		return j - i
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	start := i
	if r == ' ' && i+1 < len(rs) && isOther(rs[i+1]) {
		start = i + 1
	}
	if isOther(rs[start]) {
		j := runWhile(rs, start, isOther)
		j = runWhile(rs, j, isNL)
		return j - i
	}
	// From here r is whitespace.
	end := runWhile(rs, i, isSpace)
	// \s*[\r\n]+ : ends after the last newline of the whitespace run.
	for p := end - 1; p >= i; p-- {
		if isNL(rs[p]) {
			return p + 1 - i
		}
	}
	// \s+(?!\S)
	if end == len(rs) {
		return end - i
	}
	if end-1 > i {
		return end - 1 - i
	}
	// \s+
	return end - i
}

func (sp *splitter) matchGPT2(rs []rune, i int) int {
	r := rs[i]
	if n := contraction(rs, i, false); n > 0 {
		return n
	}
	start := i
	if r == ' ' && i+1 < len(rs) {
		start = i + 1
	}
	if start < len(rs) {
		c := rs[start]
		switch {
		case isLetter(c) && (start == i || r == ' '):
			return runWhile(rs, start, isLetter) - i
		case isNumber(c):
			return runWhile(rs, start, isNumber) - i
		case isOther(c):
			return runWhile(rs, start, isOther) - i
		}
	}
	if isLetter(r) {
		return runWhile(rs, i, isLetter) - i
	}
	if isNumber(r) {
		return runWhile(rs, i, isNumber) - i
	}
	if isOther(r) {
		return runWhile(rs, i, isOther) - i
	}
	end := runWhile(rs, i, isSpace)
	if end == len(rs) {
		return end - i
	}
	if end-1 > i {
		return end - 1 - i
	}
	return end - i
}

// mergedWithPrevious is a Split pre-tokenizer on a literal delimiter with
// the "MergedWithPrevious" behaviour (Gemma's, on " "): each occurrence
// ends the piece before it; an occurrence with no piece of its own before
// it (at the start, or right after another) is a piece by itself — as
// tokenizers' SplitDelimiterBehavior::MergedWithPrevious folds matches.
func mergedWithPrevious(delim string) preStep {
	return func(pieces []string, _ bool) []string {
		var out []string
		for _, p := range pieces {
			prevMatch, have := false, false
			for len(p) > 0 {
				i := strings.Index(p, delim)
				if i < 0 {
					out = append(out, p)
					break
				}
				if i > 0 {
					out = append(out, p[:i])
					have, prevMatch = true, false
				}
				if have && !prevMatch {
					out[len(out)-1] += delim
				} else {
					out = append(out, delim)
				}
				have, prevMatch = true, true
				p = p[i+len(delim):]
			}
		}
		return out
	}
}
