// Package tokenizer implements the BPE tokenizers of Hugging Face
// tokenizer.json files, exactly as the `tokenizers` library encodes and
// decodes: SentencePiece-style BPE with byte fallback (Llama-2, Mistral) and
// byte-level BPE (GPT-2, Llama-3, Qwen2/3), added and special tokens matched
// before the model runs, and BOS/EOS from the post-processor or
// tokenizer_config.json.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer encodes text to ids and back.
type Tokenizer struct {
	model      *bpe
	idToTok    []string // model vocabulary and added tokens by id
	added      []addedToken
	addedByID  map[int]addedToken
	normalizer []normStep
	pre        []preStep
	post       []postStep
	decoders   []decStep
	BOS, EOS   int // -1 when unknown

	decoderNames []string // component types of the decoder, in order
	bytesOnce    sync.Once
	tokBytes     []int32
}

type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// ErrFormat is wrapped by every error about a tokenizer file.
var ErrFormat = errors.New("unsupported or malformed tokenizer")

// Load reads a tokenizer from a tokenizer.json file or a directory holding
// one (and, beside it, tokenizer_config.json for BOS/EOS).
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	file := path
	if st.IsDir() {
		dir = path
		file = filepath.Join(path, "tokenizer.json")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var cfg []byte
	for _, name := range []string{"tokenizer_config.json", strings.TrimSuffix(filepath.Base(file), ".tokenizer.json") + ".tokenizer_config.json"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			cfg = b
			break
		}
	}
	t, err := Parse(raw, cfg)
	if err != nil {
		return nil, fmt.Errorf("[%s]: %w", file, err)
	}
	return t, nil
}

type fileJSON struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *modelJSON      `json:"model"`
}

type modelJSON struct {
	Type                    string          `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

// Parse builds a tokenizer from the bytes of tokenizer.json and (optionally,
// nil if absent) tokenizer_config.json.
func Parse(raw, config []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if f.Model == nil {
		return nil, fmt.Errorf("%w: field model is missing", ErrFormat)
	}
	if f.Model.Type != "BPE" && !(f.Model.Type == "" && f.Model.Merges != nil) {
		return nil, fmt.Errorf("%w: field model.type %q is not supported (BPE is)", ErrFormat, f.Model.Type)
	}
	if f.Model.Dropout != nil && *f.Model.Dropout != 0 {
		return nil, fmt.Errorf("%w: field model.dropout = %g: BPE dropout is not supported", ErrFormat, *f.Model.Dropout)
	}
	for _, fld := range []struct {
		name string
		v    *string
	}{{"continuing_subword_prefix", f.Model.ContinuingSubwordPrefix}, {"end_of_word_suffix", f.Model.EndOfWordSuffix}} {
		if fld.v != nil && *fld.v != "" {
			return nil, fmt.Errorf("%w: field model.%s %q is not supported", ErrFormat, fld.name, *fld.v)
		}
	}
	if len(f.Model.Vocab) == 0 {
		return nil, fmt.Errorf("%w: field model.vocab is empty", ErrFormat)
	}
	merges, err := parseMerges(f.Model.Merges)
	if err != nil {
		return nil, err
	}
	unk := ""
	if f.Model.UnkToken != nil {
		unk = *f.Model.UnkToken
	}
	m, err := newBPE(f.Model.Vocab, merges, unk, f.Model.ByteFallback, f.Model.FuseUnk, f.Model.IgnoreMerges)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	t := &Tokenizer{model: m, addedByID: map[int]addedToken{}, BOS: -1, EOS: -1}
	size := 0
	for tok, id := range f.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("%w: field model.vocab[%q] = %d is negative", ErrFormat, tok, id)
		}
		size = max(size, id+1)
	}
	for i, a := range f.AddedTokens {
		if a.Content == "" || a.ID < 0 {
			return nil, fmt.Errorf("%w: field added_tokens[%d] needs a content and an id >= 0", ErrFormat, i)
		}
		size = max(size, a.ID+1)
	}
	if size > 2*(len(f.Model.Vocab)+len(f.AddedTokens))+1024 {
		return nil, fmt.Errorf("%w: token ids reach %d for %d tokens: ids must be (nearly) dense", ErrFormat, size-1, len(f.Model.Vocab)+len(f.AddedTokens))
	}
	t.idToTok = make([]string, size)
	taken := make([]bool, size)
	for _, tok := range slices.Sorted(maps.Keys(f.Model.Vocab)) {
		id := f.Model.Vocab[tok]
		if taken[id] {
			return nil, fmt.Errorf("%w: field model.vocab gives id %d to both %q and %q", ErrFormat, id, t.idToTok[id], tok)
		}
		t.idToTok[id], taken[id] = tok, true
	}
	addedIDs := map[string]int{}
	for i, a := range f.AddedTokens {
		if taken[a.ID] && t.idToTok[a.ID] != a.Content {
			return nil, fmt.Errorf("%w: field added_tokens[%d] gives id %d to %q, which is already %q", ErrFormat, i, a.ID, a.Content, t.idToTok[a.ID])
		}
		if id, dup := addedIDs[a.Content]; dup && id != a.ID {
			return nil, fmt.Errorf("%w: field added_tokens[%d]: %q has ids %d and %d", ErrFormat, i, a.Content, id, a.ID)
		}
		addedIDs[a.Content] = a.ID
		taken[a.ID] = true
		t.idToTok[a.ID] = a.Content
		t.addedByID[a.ID] = a
		t.added = append(t.added, a)
	}
	// Longest first so that the leftmost-longest match is found by a scan.
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].Content) > len(t.added[j].Content) })

	if t.normalizer, err = parseNormalizer(f.Normalizer, "normalizer"); err != nil {
		return nil, err
	}
	if t.pre, err = parsePre(f.PreTokenizer, "pre_tokenizer"); err != nil {
		return nil, err
	}
	if t.post, err = t.parsePost(f.PostProcessor, "post_processor"); err != nil {
		return nil, err
	}
	if t.decoders, err = parseDecoder(f.Decoder, "decoder", &t.decoderNames); err != nil {
		return nil, err
	}
	if err := t.readConfig(config); err != nil {
		return nil, err
	}
	return t, nil
}

func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%w: field model.merges: %v", ErrFormat, err)
	}
	out := make([][2]string, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok || a == "" || b == "" || strings.Contains(b, " ") {
				return nil, fmt.Errorf("%w: field model.merges[%d] %q is not two tokens separated by a space", ErrFormat, i, s)
			}
			out[i] = [2]string{a, b}
			continue
		}
		var pair []string
		if err := json.Unmarshal(it, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("%w: field model.merges[%d] must be \"a b\" or [\"a\", \"b\"]", ErrFormat, i)
		}
		out[i] = [2]string{pair[0], pair[1]}
	}
	return out, nil
}

// readConfig takes BOS/EOS from tokenizer_config.json; when the file has no
// post-processor, add_bos_token / add_eos_token decide what Encode adds.
func (t *Tokenizer) readConfig(raw []byte) error {
	if raw == nil {
		return nil
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("tokenizer_config.json: %w", err)
	}
	tokenID := func(field string) (int, error) {
		v, ok := c[field]
		if !ok || string(v) == "null" {
			return -1, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if err := json.Unmarshal(v, &obj); err != nil {
				return -1, fmt.Errorf("tokenizer_config.json: field %s must be a string or {\"content\": ...}", field)
			}
			s = obj.Content
		}
		id, ok := t.TokenID(s)
		if !ok {
			return -1, fmt.Errorf("tokenizer_config.json: field %s %q is not a token", field, s)
		}
		return id, nil
	}
	var err error
	if t.BOS, err = tokenID("bos_token"); err != nil {
		return err
	}
	if t.EOS, err = tokenID("eos_token"); err != nil {
		return err
	}
	if t.post == nil {
		flag := func(field string) bool {
			var b bool
			_ = json.Unmarshal(c[field], &b)
			return b
		}
		if flag("add_bos_token") && t.BOS >= 0 {
			t.post = append(t.post, postStep{prefix: []int{t.BOS}})
		}
		if flag("add_eos_token") && t.EOS >= 0 {
			t.post = append(t.post, postStep{suffix: []int{t.EOS}})
		}
	}
	return nil
}

// VocabSize is one past the largest token id.
func (t *Tokenizer) VocabSize() int { return len(t.idToTok) }

// TokenID finds a token's id (added tokens included).
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	for _, a := range t.added {
		if a.Content == tok {
			return a.ID, true
		}
	}
	id, ok := t.model.vocab[tok]
	return id, ok
}

// Token is the string of one id.
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= len(t.idToTok) {
		return "", false
	}
	return t.idToTok[id], true
}

// Encode tokenizes text. addSpecial applies the post-processor (BOS etc.).
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	var ids []int
	for _, seg := range t.splitAdded(text) {
		if seg.added >= 0 {
			ids = append(ids, seg.added)
			continue
		}
		s := seg.text
		for _, n := range t.normalizer {
			s = n(s)
		}
		pieces := []string{s}
		for _, p := range t.pre {
			pieces = p(pieces, seg.start == 0)
		}
		for _, p := range pieces {
			ids = t.model.encodeWord(p, ids)
		}
	}
	if addSpecial {
		for _, p := range t.post {
			if len(p.prefix) > 0 || len(p.suffix) > 0 {
				ids = append(append(append([]int(nil), p.prefix...), ids...), p.suffix...)
			}
		}
	}
	return ids
}

type segment struct {
	text  string
	start int
	added int // id of an added token, or -1
}

// splitAdded cuts text around added tokens (leftmost-longest), honouring
// lstrip/rstrip.
func (t *Tokenizer) splitAdded(text string) []segment {
	if len(t.added) == 0 {
		return []segment{{text: text, added: -1}}
	}
	var out []segment
	pos := 0
	for i := 0; i < len(text); {
		var hit *addedToken
		for k := range t.added {
			if strings.HasPrefix(text[i:], t.added[k].Content) {
				hit = &t.added[k]
				break
			}
		}
		if hit == nil {
			i++
			continue
		}
		start, end := i, i+len(hit.Content)
		if hit.LStrip {
			for start > pos && isASCIISpace(text[start-1]) {
				start--
			}
		}
		if hit.RStrip {
			for end < len(text) && isASCIISpace(text[end]) {
				end++
			}
		}
		if start > pos {
			out = append(out, segment{text: text[pos:start], start: pos, added: -1})
		}
		out = append(out, segment{added: hit.ID, start: start})
		pos, i = end, end
	}
	if pos < len(text) {
		out = append(out, segment{text: text[pos:], start: pos, added: -1})
	}
	return out
}

func isASCIISpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// Decode turns ids back into text (special tokens kept), as the reference's
// decode(ids, skip_special_tokens=false) does.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	toks := make([]string, len(ids))
	for i, id := range ids {
		s, ok := t.Token(id)
		if !ok || (s == "" && id != 0) {
			return "", fmt.Errorf("decode: id %d at position %d is not in the vocabulary (size %d)", id, i, len(t.idToTok))
		}
		toks[i] = s
	}
	for _, d := range t.decoders {
		toks = d(toks)
	}
	return strings.Join(toks, ""), nil
}

// --- normalizers ---

type normStep func(string) string

type component struct {
	Type string `json:"type"`
	raw  json.RawMessage
}

func decodeComponent(raw json.RawMessage, field string) (*component, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: field %s: %v", ErrFormat, field, err)
	}
	c.raw = raw
	return &c, nil
}

func (c *component) into(v any, field string) error {
	if err := json.Unmarshal(c.raw, v); err != nil {
		return fmt.Errorf("%w: field %s (%s): %v", ErrFormat, field, c.Type, err)
	}
	return nil
}

// replaceArgs reads a Replace component (normalizer or decoder): a string
// pattern and its replacement.
func (c *component) replaceArgs(field string) (from, to string, err error) {
	var r struct {
		Pattern patternJSON `json:"pattern"`
		Content string      `json:"content"`
	}
	if err := c.into(&r, field); err != nil {
		return "", "", err
	}
	if r.Pattern.String == nil {
		return "", "", fmt.Errorf("%w: field %s: Replace with a regex pattern is not supported", ErrFormat, field)
	}
	return *r.Pattern.String, r.Content, nil
}

type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func parseNormalizer(raw json.RawMessage, field string) ([]normStep, error) {
	c, err := decodeComponent(raw, field)
	if c == nil || err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := c.into(&s, field); err != nil {
			return nil, err
		}
		var out []normStep
		for i, n := range s.Normalizers {
			steps, err := parseNormalizer(n, fmt.Sprintf("%s.normalizers[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, steps...)
		}
		return out, nil
	case "Prepend":
		var p struct {
			Prepend string `json:"prepend"`
		}
		if err := c.into(&p, field); err != nil {
			return nil, err
		}
		return []normStep{func(s string) string {
			if s == "" {
				return s
			}
			return p.Prepend + s
		}}, nil
	case "Replace":
		from, to, err := c.replaceArgs(field)
		if err != nil {
			return nil, err
		}
		return []normStep{func(s string) string { return strings.ReplaceAll(s, from, to) }}, nil
	case "NFC":
		return []normStep{norm.NFC.String}, nil
	case "NFD":
		return []normStep{norm.NFD.String}, nil
	case "NFKC":
		return []normStep{norm.NFKC.String}, nil
	case "NFKD":
		return []normStep{norm.NFKD.String}, nil
	case "Lowercase":
		return []normStep{strings.ToLower}, nil
	}
	return nil, fmt.Errorf("%w: field %s: normalizer type %q is not supported", ErrFormat, field, c.Type)
}

// --- pre-tokenizers ---

// preStep maps pieces to finer pieces; first says the segment starts the text.
type preStep func(pieces []string, first bool) []string

func parsePre(raw json.RawMessage, field string) ([]preStep, error) {
	c, err := decodeComponent(raw, field)
	if c == nil || err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s struct {
			Pretokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := c.into(&s, field); err != nil {
			return nil, err
		}
		var out []preStep
		for i, p := range s.Pretokenizers {
			steps, err := parsePre(p, fmt.Sprintf("%s.pretokenizers[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, steps...)
		}
		return out, nil
	case "Split":
		var s struct {
			Pattern  patternJSON `json:"pattern"`
			Behavior string      `json:"behavior"`
			Invert   bool        `json:"invert"`
		}
		if err := c.into(&s, field); err != nil {
			return nil, err
		}
		if !s.Invert && s.Behavior == "MergedWithPrevious" && s.Pattern.String != nil && *s.Pattern.String != "" {
			return []preStep{mergedWithPrevious(*s.Pattern.String)}, nil // Gemma's
		}
		if s.Invert || s.Behavior != "Isolated" {
			return nil, fmt.Errorf("%w: field %s: Split with behavior %q invert=%v is not supported (Isolated, and MergedWithPrevious on a String, are)", ErrFormat, field, s.Behavior, s.Invert)
		}
		if s.Pattern.Regex == nil {
			return nil, fmt.Errorf("%w: field %s: Split needs a Regex pattern", ErrFormat, field)
		}
		sp, ok := splitterFor(*s.Pattern.Regex)
		if !ok {
			return nil, fmt.Errorf("%w: field %s: split pattern %q is not one we implement (GPT-2, Llama-3 and Qwen patterns are)", ErrFormat, field, *s.Pattern.Regex)
		}
		return []preStep{func(pieces []string, _ bool) []string {
			var out []string
			for _, p := range pieces {
				out = append(out, sp.split(p)...)
			}
			return out
		}}, nil
	case "ByteLevel":
		var b struct {
			AddPrefixSpace bool  `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := c.into(&b, field); err != nil {
			return nil, err
		}
		useRegex := b.UseRegex == nil || *b.UseRegex
		gpt2, _ := splitterFor(patternGPT2)
		return []preStep{func(pieces []string, first bool) []string {
			var out []string
			for i, p := range pieces {
				if b.AddPrefixSpace && i == 0 && !strings.HasPrefix(p, " ") {
					p = " " + p
				}
				if useRegex {
					for _, q := range gpt2.split(p) {
						out = append(out, byteLevel(q))
					}
				} else {
					out = append(out, byteLevel(p))
				}
			}
			return out
		}}, nil
	case "Metaspace":
		var m struct {
			Replacement   string `json:"replacement"`
			PrependScheme string `json:"prepend_scheme"`
			AddPrefix     *bool  `json:"add_prefix_space"`
			Split         *bool  `json:"split"`
		}
		if err := c.into(&m, field); err != nil {
			return nil, err
		}
		if m.Replacement == "" {
			return nil, fmt.Errorf("%w: field %s: Metaspace needs a non-empty replacement", ErrFormat, field)
		}
		scheme := m.PrependScheme
		if scheme == "" {
			scheme = "always"
			if m.AddPrefix != nil && !*m.AddPrefix {
				scheme = "never"
			}
		}
		split := m.Split == nil || *m.Split
		rep := m.Replacement
		return []preStep{func(pieces []string, first bool) []string {
			var out []string
			for _, p := range pieces {
				p = strings.ReplaceAll(p, " ", rep)
				if p != "" && !strings.HasPrefix(p, rep) && (scheme == "always" || scheme == "first" && first) {
					p = rep + p
				}
				if !split {
					out = append(out, p)
					continue
				}
				// Cut before every replacement character (but at 0), so each
				// piece starts with one: the reference's MergedWithNext split.
				last := 0
				for k := len(rep); k < len(p); {
					j := strings.Index(p[k:], rep)
					if j < 0 {
						break
					}
					if k+j > last {
						out = append(out, p[last:k+j])
						last = k + j
					}
					k += j + len(rep)
				}
				if last < len(p) {
					out = append(out, p[last:])
				}
			}
			return out
		}}, nil
	}
	return nil, fmt.Errorf("%w: field %s: pre-tokenizer type %q is not supported", ErrFormat, field, c.Type)
}

// byteToRune is GPT-2's printable stand-in for every byte.
var byteToRune, runeToByte = byteTables()

func byteTables() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}

func byteLevel(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		sb.WriteRune(byteToRune[s[i]])
	}
	return sb.String()
}

// --- post-processors ---

type postStep struct{ prefix, suffix []int }

func (t *Tokenizer) parsePost(raw json.RawMessage, field string) ([]postStep, error) {
	c, err := decodeComponent(raw, field)
	if c == nil || err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var s struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := c.into(&s, field); err != nil {
			return nil, err
		}
		out := []postStep{}
		for i, p := range s.Processors {
			steps, err := t.parsePost(p, fmt.Sprintf("%s.processors[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, steps...)
		}
		return out, nil
	case "ByteLevel":
		return []postStep{}, nil // offsets only; no tokens added
	case "TemplateProcessing":
		var tp struct {
			Single []struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID string `json:"id"`
				} `json:"Sequence"`
			} `json:"single"`
			SpecialTokens map[string]struct {
				IDs []int `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := c.into(&tp, field); err != nil {
			return nil, err
		}
		var step postStep
		seen := false
		for i, p := range tp.Single {
			switch {
			case p.Sequence != nil:
				if seen {
					return nil, fmt.Errorf("%w: field %s.single[%d]: more than one sequence", ErrFormat, field, i)
				}
				seen = true
			case p.SpecialToken != nil:
				st, ok := tp.SpecialTokens[p.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("%w: field %s.single[%d]: special token %q is not in special_tokens", ErrFormat, field, i, p.SpecialToken.ID)
				}
				if seen {
					step.suffix = append(step.suffix, st.IDs...)
				} else {
					step.prefix = append(step.prefix, st.IDs...)
				}
			default:
				return nil, fmt.Errorf("%w: field %s.single[%d] is neither SpecialToken nor Sequence", ErrFormat, field, i)
			}
		}
		return []postStep{step}, nil
	case "BertProcessing", "RobertaProcessing":
		var bp struct {
			Sep []json.RawMessage `json:"sep"`
			Cls []json.RawMessage `json:"cls"`
		}
		if err := c.into(&bp, field); err != nil {
			return nil, err
		}
		id := func(p []json.RawMessage) ([]int, error) {
			var v int
			if len(p) != 2 || json.Unmarshal(p[1], &v) != nil {
				return nil, fmt.Errorf("%w: field %s: cls/sep must be [token, id]", ErrFormat, field)
			}
			return []int{v}, nil
		}
		cls, err := id(bp.Cls)
		if err != nil {
			return nil, err
		}
		sep, err := id(bp.Sep)
		if err != nil {
			return nil, err
		}
		return []postStep{{prefix: cls, suffix: sep}}, nil
	}
	return nil, fmt.Errorf("%w: field %s: post-processor type %q is not supported", ErrFormat, field, c.Type)
}

// --- decoders ---

type decStep func([]string) []string

func parseDecoder(raw json.RawMessage, field string, names *[]string) ([]decStep, error) {
	c, err := decodeComponent(raw, field)
	if c == nil || err != nil {
		return nil, err
	}
	*names = append(*names, c.Type)
	switch c.Type {
	case "Sequence":
		var s struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := c.into(&s, field); err != nil {
			return nil, err
		}
		var out []decStep
		for i, d := range s.Decoders {
			steps, err := parseDecoder(d, fmt.Sprintf("%s.decoders[%d]", field, i), names)
			if err != nil {
				return nil, err
			}
			out = append(out, steps...)
		}
		return out, nil
	case "Replace":
		from, to, err := c.replaceArgs(field)
		if err != nil {
			return nil, err
		}
		return []decStep{func(toks []string) []string {
			for i, s := range toks {
				toks[i] = strings.ReplaceAll(s, from, to)
			}
			return toks
		}}, nil
	case "ByteFallback":
		return []decStep{byteFallbackDecode}, nil
	case "Fuse":
		return []decStep{func(toks []string) []string { return []string{strings.Join(toks, "")} }}, nil
	case "Strip":
		var s struct {
			Content string `json:"content"`
			Start   int    `json:"start"`
			Stop    int    `json:"stop"`
		}
		if err := c.into(&s, field); err != nil {
			return nil, err
		}
		return []decStep{func(toks []string) []string {
			for i, t := range toks {
				for k := 0; k < s.Start && strings.HasPrefix(t, s.Content); k++ {
					t = t[len(s.Content):]
				}
				for k := 0; k < s.Stop && strings.HasSuffix(t, s.Content); k++ {
					t = t[:len(t)-len(s.Content)]
				}
				toks[i] = t
			}
			return toks
		}}, nil
	case "ByteLevel":
		return []decStep{byteLevelDecode}, nil
	case "Metaspace":
		var m struct {
			Replacement   string `json:"replacement"`
			PrependScheme string `json:"prepend_scheme"`
		}
		if err := c.into(&m, field); err != nil {
			return nil, err
		}
		if m.Replacement == "" {
			return nil, fmt.Errorf("%w: field %s: Metaspace needs a non-empty replacement", ErrFormat, field)
		}
		return []decStep{func(toks []string) []string {
			for i, t := range toks {
				t = strings.ReplaceAll(t, m.Replacement, " ")
				if i == 0 && m.PrependScheme != "never" {
					t = strings.TrimPrefix(t, " ")
				}
				toks[i] = t
			}
			return toks
		}}, nil
	}
	return nil, fmt.Errorf("%w: field %s: decoder type %q is not supported", ErrFormat, field, c.Type)
}

// byteFallbackDecode turns runs of <0xNN> tokens into the text they encode,
// or one U+FFFD per byte when the run is not valid UTF-8.
func byteFallbackDecode(toks []string) []string {
	var out []string
	var buf []byte
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		if utf8.Valid(buf) {
			out = append(out, string(buf))
		} else {
			for i := 0; i < n; i++ {
				out = append(out, "\uFFFD")
			}
		}
		buf, n = buf[:0], 0
	}
	for _, t := range toks {
		if b, ok := parseByteToken(t); ok {
			buf = append(buf, b)
			n++
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(t[3:5]) {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= c - '0'
		case c >= 'A' && c <= 'F':
			v |= c - 'A' + 10
		case c >= 'a' && c <= 'f':
			v |= c - 'a' + 10
		default:
			return 0, false
		}
	}
	return v, true
}

func byteLevelDecode(toks []string) []string {
	var all []byte
	for _, t := range toks {
		var bs []byte
		ok := true
		for _, r := range t {
			b, found := runeToByte[r]
			if !found {
				ok = false
				break
			}
			bs = append(bs, b)
		}
		if !ok {
			bs = []byte(t)
		}
		all = append(all, bs...)
	}
	return []string{lossyUTF8(all)}
}

// lossyUTF8 converts bytes to text replacing each maximal invalid subpart
// with one U+FFFD, as Rust's String::from_utf8_lossy does.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			sb.WriteRune(r)
			i += size
			continue
		}
		// Invalid: skip the lead byte and the continuation bytes that could
		// still have completed it.
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch c := b[i]; {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c == 0xED:
			need, hi = 2, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need = 2
		case c == 0xF0:
			need, lo = 3, 0x90
		case c == 0xF4:
			need, hi = 3, 0x8F
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		}
		j := i + 1
		for k := 0; k < need && j < len(b); k++ {
			if b[j] < lo || b[j] > hi {
				break
			}
			lo, hi = 0x80, 0xBF
			j++
		}
		sb.WriteRune(utf8.RuneError)
		i = j
	}
	return sb.String()
}

// TokenBytes is the number of bytes of text token id stands for: 0 for a
// special token, 1 for a <0xNN> byte token, the bytes of its decoded form
// otherwise (SentencePiece's ▁ counts as the space it encodes). Summed over
// the predicted tokens it gives the denominator of bits per byte.
func (t *Tokenizer) TokenBytes(id int) int {
	t.bytesOnce.Do(t.fillTokenBytes)
	if id < 0 || id >= len(t.tokBytes) {
		return 0
	}
	return int(t.tokBytes[id])
}

func (t *Tokenizer) fillTokenBytes() {
	byteLevel := false
	for _, d := range t.decoderNames {
		if d == "ByteLevel" {
			byteLevel = true
		}
	}
	t.tokBytes = make([]int32, len(t.idToTok))
	for id, tok := range t.idToTok {
		if a, ok := t.addedByID[id]; ok {
			if !a.Special {
				t.tokBytes[id] = int32(len(a.Content))
			}
			continue
		}
		if _, ok := parseByteToken(tok); ok && t.model.byteFallback {
			t.tokBytes[id] = 1
			continue
		}
		if byteLevel {
			n := 0
			for _, r := range tok {
				if _, ok := runeToByte[r]; ok {
					n++
				} else {
					n += utf8.RuneLen(r)
				}
			}
			t.tokBytes[id] = int32(n)
			continue
		}
		t.tokBytes[id] = int32(len(strings.ReplaceAll(tok, "\u2581", " ")))
	}
}
