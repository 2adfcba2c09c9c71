package generate

import (
	"strings"
	"unicode/utf8"

	"github.com/gptailor/gptailor/native/tokenizer"
)

// contextTokens is how many prompt tokens a stream decodes before the
// generated ones, so a first token's leading space (SentencePiece's ▁,
// which a decoder strips at the start of a text) comes out as in the
// whole text.
const contextTokens = 8

// stream turns one sequence's generated ids into text as they come: the
// text is the decoding of context + generated ids minus the decoding of
// the context, so it is exactly what the whole decodes to; characters not
// yet complete (a byte-fallback run or a multi-byte character split over
// tokens decodes to U+FFFD until its last byte comes) and a tail that
// could still become a stop string are held back.
type stream struct {
	tok     *tokenizer.Tokenizer
	ctx     []int
	ctxText string
	ids     []int // context + generated
	stops   []string
	text    string // the decoded generated text so far
	emitted int    // bytes of text handed out
	cut     int    // where a stop string begins, -1 while none has come
}

func newStream(tok *tokenizer.Tokenizer, prompt []int, stops []string) (*stream, error) {
	ctx := prompt[max(0, len(prompt)-contextTokens):]
	ct, err := tok.Decode(ctx)
	if err != nil {
		return nil, err
	}
	return &stream{tok: tok, ctx: ctx, ctxText: ct, ids: append([]int(nil), ctx...), stops: stops, cut: -1}, nil
}

// add appends a generated id and returns the text that can be printed
// now. stopped says a stop string has appeared (the text before it is all
// that is printed, ever).
func (s *stream) add(id int) (piece string, stopped bool, err error) {
	s.ids = append(s.ids, id)
	whole, err := s.tok.Decode(s.ids)
	if err != nil {
		return "", false, err
	}
	if strings.HasPrefix(whole, s.ctxText) {
		whole = whole[len(s.ctxText):]
	} else if whole, err = s.tok.Decode(s.ids[len(s.ctx):]); err != nil {
		return "", false, err
	}
	s.text = whole
	// A stop string may begin in text already handed out only if it was
	// held back; search from where the held tail could start.
	from := max(0, s.emitted-s.maxStop())
	for _, st := range s.stops {
		if i := strings.Index(whole[from:], st); i >= 0 && (s.cut < 0 || from+i < s.cut) {
			s.cut = from + i
		}
	}
	if s.cut >= 0 {
		return s.take(s.cut), true, nil
	}
	end := len(whole)
	// Hold back an unfinished character: trailing U+FFFD may yet become one.
	for strings.HasSuffix(whole[:end], "\uFFFD") {
		end -= len("\uFFFD")
	}
	// Hold back a tail that is the start of a stop string.
	for _, st := range s.stops {
		for k := min(len(st)-1, end); k > 0; k-- {
			if strings.HasSuffix(whole[:end], st[:k]) {
				end = min(end, len(whole[:end])-k)
				break
			}
		}
	}
	return s.take(end), false, nil
}

// take hands out the text up to end (never less than was handed out).
func (s *stream) take(end int) string {
	if end <= s.emitted {
		return ""
	}
	for end > s.emitted && end < len(s.text) && !utf8.RuneStart(s.text[end]) {
		end--
	}
	if end <= s.emitted {
		return ""
	}
	p := s.text[s.emitted:end]
	s.emitted = end
	return p
}

// finish hands out what was held back: the final text is the text before
// the stop string, or all of it.
func (s *stream) finish() string {
	if s.cut >= 0 {
		return s.take(s.cut)
	}
	return s.take(len(s.text))
}

// final is the sequence's text: before the stop string, if one came.
func (s *stream) final() string {
	if s.cut >= 0 {
		return s.text[:s.cut]
	}
	return s.text
}

func (s *stream) maxStop() int {
	m := 0
	for _, st := range s.stops {
		m = max(m, len(st))
	}
	return m
}

// keptTokens is how many generated ids the final text is made of: the
// longest run of them whose text is a prefix of it (a token that reaches
// into the stop string is not counted).
func (s *stream) keptTokens() int {
	gen := s.ids[len(s.ctx):]
	if s.cut < 0 {
		return len(gen)
	}
	final := s.final()
	k := 0
	for n := 1; n <= len(gen); n++ {
		whole, err := s.tok.Decode(s.ids[:len(s.ctx)+n])
		if err != nil || !strings.HasPrefix(whole, s.ctxText) {
			break
		}
		if t := whole[len(s.ctxText):]; strings.HasPrefix(final, strings.TrimRight(t, "\uFFFD")) && len(t) <= len(final) {
			k = n
		} else {
			break
		}
	}
	return k
}
