package main

import (
	"os"

	"github.com/gptailor/gptailor/native/chattemplate"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// renderChat renders a conversation with the model's chat template, or
// the template file given (bos_token and eos_token: the tokenizer's),
// adding the generation prompt.
func renderChat(tok *tokenizer.Tokenizer, modelDir, templateFile string, conv chattemplate.Conversation) (string, error) {
	var t *chattemplate.Template
	if templateFile != "" {
		src, err := os.ReadFile(templateFile)
		if err != nil {
			return "", err
		}
		if t, err = chattemplate.Parse(templateFile, string(src)); err != nil {
			return "", err
		}
		t.BOSToken, _ = tok.Token(tok.BOS)
		t.EOSToken, _ = tok.Token(tok.EOS)
	} else {
		var err error
		if t, err = chattemplate.Load(modelDir); err != nil {
			return "", err
		}
	}
	return t.Apply(conv, true, nil)
}
