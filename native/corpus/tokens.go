package corpus

import "unicode/utf8"

// Encoder tokenizes text; bos says whether to add the tokenizer's
// beginning-of-sequence token (a document's start).
type Encoder func(text string, bos bool) []int

// TokenStreams reads path's documents as Stream does and tokenizes them,
// one stream per document (a JSONL line's text with its BOS), stopping
// after limit documents (0: all) or once the streams hold need tokens (0:
// no bound). A plain text file is one document read in TextChunk pieces:
// the first piece is encoded with its BOS, the others continue its stream
// (so a 20 MB file is tokenized in linear time, and only as far as need
// asks; each piece ends at a newline or space, where the tokenization of
// the whole would also start a new word). It returns the streams and the
// documents read.
//
// With need and maxBytesPerToken > 0 a document's text is also cut to
// (need − tokens so far) × maxBytesPerToken bytes before it is tokenized
// (a 61 MB one-line JSONL for 8,192 tokens); the tokens past need are
// the caller's to drop. Only for a caller that stops at need: the text
// after a cut is never read.
func TokenStreams(path string, enc Encoder, limit, need, maxBytesPerToken int) ([][]int, int, error) {
	var streams [][]int
	docs, have := 0, 0
	err := Stream(path, func(d Document) error {
		if need > 0 && maxBytesPerToken > 0 {
			if max := (need - have) * maxBytesPerToken; len(d.Text) > max {
				for max > 0 && !utf8.RuneStart(d.Text[max]) {
					max--
				}
				d.Text = d.Text[:max]
			}
		}
		if d.Line == 0 && len(streams) > 0 { // the plain text's next piece
			t := enc(d.Text, false)
			streams[0] = append(streams[0], t...)
			have += len(t)
		} else {
			t := enc(d.Text, true)
			streams = append(streams, t)
			docs++
			have += len(t)
			if limit > 0 && docs == limit && d.Line > 0 {
				return ErrStop // a plain text's one document reads on
			}
		}
		if need > 0 && have >= need {
			return ErrStop
		}
		return nil
	})
	return streams, docs, err
}
