package tokenizer

import "slices"

// Merges lists the BPE merges by rank (first = applied first).
func (t *Tokenizer) Merges() [][2]string { return t.model.mergeList }

// Added says whether id is an added token (added_tokens), and whether it
// is special.
func (t *Tokenizer) Added(id int) (added, special bool) {
	a, ok := t.addedByID[id]
	return ok, a.Special
}

// ByteFallback says whether unknown characters become <0xNN> byte tokens.
func (t *Tokenizer) ByteFallback() bool { return t.model.byteFallback }

// UnkID is the unknown token's id, -1 when none.
func (t *Tokenizer) UnkID() int { return t.model.unkID }

// ByteLevel says whether the decoder is GPT-2's byte-level mapping (each
// byte a printable character), as opposed to SentencePiece's ▁ and
// <0xNN> pieces.
func (t *Tokenizer) ByteLevel() bool { return slices.Contains(t.decoderNames, "ByteLevel") }
