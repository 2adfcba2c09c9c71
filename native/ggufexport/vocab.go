package ggufexport

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// Token types of tokenizer.ggml.token_type (llama_token_type).
const (
	tokNormal      = 1
	tokUnknown     = 2
	tokControl     = 3
	tokUserDefined = 4
	tokUnused      = 5
	tokByte        = 6
)

// chkText is the text convert_hf_to_gguf.py's get_vocab_base_pre encodes:
// the SHA-256 of the ids' Python list names the pre-tokenizer llama.cpp
// must apply.
const chkText = "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL"

// preTokenizers maps that checksum to tokenizer.ggml.pre, for the
// byte-level families gptailor runs (from convert_hf_to_gguf.py).
var preTokenizers = map[string]string{
	"0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
	"e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
	"855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
	"3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
	"b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5": "deepseek-r1-qwen",
	"63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e": "tekken",
}

// preRegexes maps a Split pre-tokenizer's regex to tokenizer.ggml.pre,
// for tokenizers cut from a family's (a smaller vocabulary changes the
// checksum, not the pre-tokenizer). The regexes are the families' own.
var preRegexes = map[string]string{
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:      "qwen2",
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: "llama-bpe",
}

// preByRegex names the pre-tokenizer from its Split regexes ("" when no
// regex is known).
func preByRegex(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var f struct {
		Pre any `json:"pre_tokenizer"`
	}
	if json.Unmarshal(raw, &f) != nil {
		return ""
	}
	var found string
	var walk func(x any)
	walk = func(x any) {
		switch y := x.(type) {
		case map[string]any:
			if r, ok := y["Regex"].(string); ok && preRegexes[r] != "" {
				found = preRegexes[r]
			}
			for _, z := range y {
				walk(z)
			}
		case []any:
			for _, z := range y {
				walk(z)
			}
		}
	}
	walk(f.Pre)
	return found
}

// Vocab is what the file says about the tokenizer.
type Vocab struct {
	Model, Pre   string // tokenizer.ggml.model and .pre
	Tokens       []string
	Scores       []float32 // SentencePiece-style ("llama") only
	Types        []int32
	Merges       []string // byte-level ("gpt2") only
	BOS, EOS     int      // -1 when none
	Unk, Pad     int
	AddBOS       bool
	AddEOS       bool
	SpacePrefix  bool // SentencePiece-style: a ▁ is put before the text (Llama 2), or not (Gemma)
	ChatTemplate string
	Tok          *tokenizer.Tokenizer
}

var byteToken = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// LoadVocab reads dir's tokenizer.json (and tokenizer_config.json) and
// maps it to llama.cpp's vocabulary: a SentencePiece-style BPE (▁ pieces,
// byte fallback) as "llama" with scores from the merge ranks (llama.cpp
// merges the adjacent pair of highest score, Hugging Face the pair of
// lowest rank: score = -rank gives the same order); a byte-level BPE as
// "gpt2" with its merges and the pre-tokenizer named by convert_hf_to_gguf's
// checksum. vocabSize pads the list with unused [PADn] tokens, as
// convert_hf_to_gguf.py does, when the embedding has more rows than the
// tokenizer has ids.
func LoadVocab(dir string, cfg *model.Config) (*Vocab, error) {
	path := filepath.Join(dir, "tokenizer.json")
	tok, err := tokenizer.Load(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: a GGUF file needs the tokenizer: %w", dir, err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v := &Vocab{Tok: tok, BOS: tok.BOS, EOS: tok.EOS, Unk: tok.UnkID(), Pad: -1}
	n := tok.VocabSize()
	if n > cfg.VocabSize {
		return nil, fmt.Errorf("%s: %d token ids, but config.json's vocab_size is %d: the embedding has no row for the rest", path, n, cfg.VocabSize)
	}
	switch {
	case tok.ByteLevel():
		v.Model = "gpt2"
		ids := tok.Encode(chkText, true)
		h := sha256.Sum256([]byte(pyList(ids)))
		sum := hex.EncodeToString(h[:])
		if v.Pre = preTokenizers[sum]; v.Pre == "" {
			v.Pre = preByRegex(path)
		}
		if v.Pre == "" {
			return nil, fmt.Errorf("%s: field pre_tokenizer: a byte-level BPE whose pre-tokenizer (checksum %s) has no GGUF mapping; llama.cpp knows only the pre-tokenizers listed in convert_hf_to_gguf.py", path, sum)
		}
		for _, m := range tok.Merges() {
			if strings.Contains(m[0], " ") || strings.Contains(m[1], " ") {
				return nil, fmt.Errorf("%s: field model.merges: %q %q holds a space, which GGUF's \"a b\" merges cannot", path, m[0], m[1])
			}
			v.Merges = append(v.Merges, m[0]+" "+m[1])
		}
	case tok.ByteFallback():
		v.Model, v.Pre = "llama", "default"
		// tokenizer.ggml.add_space_prefix: whether the normalizer puts
		// ▁ before the text, seen in what it does to one.
		if ids := tok.Encode("a", false); len(ids) > 0 {
			s, _ := tok.Token(ids[0])
			v.SpacePrefix = strings.HasPrefix(s, "\u2581")
		}
		v.Scores = make([]float32, cfg.VocabSize)
		rank := map[string]int{}
		for r, m := range tok.Merges() {
			if _, ok := rank[m[0]+m[1]]; !ok {
				rank[m[0]+m[1]] = r
			}
		}
		for id := 0; id < n; id++ {
			s, _ := tok.Token(id)
			if r, ok := rank[s]; ok {
				v.Scores[id] = -float32(r)
			}
		}
	default:
		return nil, fmt.Errorf("%s: field decoder: a BPE without byte-level decoding or byte fallback has no GGUF tokenizer mapping (llama.cpp's \"llama\" needs <0xNN> byte fallback, \"gpt2\" byte-level pieces)", path)
	}
	v.Tokens = make([]string, cfg.VocabSize)
	v.Types = make([]int32, cfg.VocabSize)
	for id := 0; id < cfg.VocabSize; id++ {
		s, ok := tok.Token(id)
		added, special := tok.Added(id)
		switch {
		case id >= n || !ok || s == "":
			v.Tokens[id], v.Types[id] = "[PAD"+strconv.Itoa(id)+"]", tokUnused
		case added && special:
			v.Tokens[id], v.Types[id] = s, tokControl
		case added:
			v.Tokens[id], v.Types[id] = s, tokUserDefined
		case id == v.Unk:
			v.Tokens[id], v.Types[id] = s, tokUnknown
		case v.Model == "llama" && byteToken.MatchString(s):
			v.Tokens[id], v.Types[id] = s, tokByte
		default:
			v.Tokens[id], v.Types[id] = s, tokNormal
		}
	}
	// add_bos / add_eos: what the tokenizer's post-processor does.
	if ids := tok.Encode("a", true); len(ids) > 0 {
		v.AddBOS = v.BOS >= 0 && ids[0] == v.BOS
		v.AddEOS = v.EOS >= 0 && ids[len(ids)-1] == v.EOS
	}
	if err := v.readConfig(dir); err != nil {
		return nil, err
	}
	if v.EOS < 0 {
		if id, ok := cfg.EOSTokenID.(float64); ok {
			v.EOS = int(id)
		}
	}
	if v.BOS < 0 {
		if id, ok := cfg.BOSTokenID.(float64); ok {
			v.BOS = int(id)
		}
	}
	return v, nil
}

// readConfig takes the chat template and the padding token from
// tokenizer_config.json.
func (v *Vocab) readConfig(dir string) error {
	path := filepath.Join(dir, "tokenizer_config.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var c struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
		PadToken     json.RawMessage `json:"pad_token"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(c.ChatTemplate) > 0 && string(c.ChatTemplate) != "null" {
		if err := json.Unmarshal(c.ChatTemplate, &v.ChatTemplate); err != nil {
			var named []struct{ Name, Template string }
			if err := json.Unmarshal(c.ChatTemplate, &named); err != nil {
				return fmt.Errorf("%s: field chat_template must be a string or a list of {name, template}", path)
			}
			for _, t := range named {
				if t.Name == "default" {
					v.ChatTemplate = t.Template
				}
			}
		}
	}
	if len(c.PadToken) > 0 && string(c.PadToken) != "null" {
		var s string
		if err := json.Unmarshal(c.PadToken, &s); err != nil {
			var obj struct{ Content string }
			if err := json.Unmarshal(c.PadToken, &obj); err != nil {
				return fmt.Errorf("%s: field pad_token must be a string or {\"content\": ...}", path)
			}
			s = obj.Content
		}
		id, ok := v.Tok.TokenID(s)
		if !ok {
			return fmt.Errorf("%s: field pad_token %q is not a token", path, s)
		}
		v.Pad = id
	}
	return nil
}

// pyList is Python's str() of a list of ints.
func pyList(ids []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(id))
	}
	b.WriteByte(']')
	return b.String()
}

// set writes the tokenizer's keys.
func (v *Vocab) set(w *gguf.Writer) error {
	ps := []pair{{"tokenizer.ggml.model", v.Model}, {"tokenizer.ggml.pre", v.Pre}, {"tokenizer.ggml.tokens", v.Tokens}}
	if v.Scores != nil {
		ps = append(ps, pair{"tokenizer.ggml.scores", v.Scores})
	}
	ps = append(ps, pair{"tokenizer.ggml.token_type", v.Types})
	if v.Merges != nil {
		ps = append(ps, pair{"tokenizer.ggml.merges", v.Merges})
	}
	for _, id := range []pair{{"tokenizer.ggml.bos_token_id", v.BOS}, {"tokenizer.ggml.eos_token_id", v.EOS},
		{"tokenizer.ggml.unknown_token_id", v.Unk}, {"tokenizer.ggml.padding_token_id", v.Pad}} {
		if n := id.v.(int); n >= 0 {
			ps = append(ps, pair{id.k, uint32(n)})
		}
	}
	ps = append(ps, pair{"tokenizer.ggml.add_bos_token", v.AddBOS}, pair{"tokenizer.ggml.add_eos_token", v.AddEOS})
	if v.Model == "llama" {
		ps = append(ps, pair{"tokenizer.ggml.add_space_prefix", v.SpacePrefix})
	}
	if v.ChatTemplate != "" {
		ps = append(ps, pair{"tokenizer.chat_template", v.ChatTemplate})
	}
	return setAll(w, ps)
}
