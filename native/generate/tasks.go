package generate

import (
	"context"
	"fmt"
	"sync"

	"github.com/gptailor/gptailor/native/chattemplate"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// TaskGenerator runs generate_until tasks on a net (task.Generator):
// greedy, the batch of prompts decoded together, EOS ids of the model,
// prompts longer than the context cut from the left as lm-eval cuts them,
// chat prompts rendered with the model's chat template (read once, when a
// chat prompt first comes).
type TaskGenerator struct {
	gen      Generator
	dir      string
	eos      []int
	once     sync.Once
	template *chattemplate.Template
	tplErr   error
}

// ForTasks returns the generator of generate_until tasks for net, whose
// tokenizer and chat template are those of the model in dir.
func ForTasks(net *engine.Net, tok *tokenizer.Tokenizer, dir string) (*TaskGenerator, error) {
	eos, err := EOSIDs(dir, net.Cfg, tok)
	if err != nil {
		return nil, err
	}
	return &TaskGenerator{gen: Generator{Net: net, Tok: tok}, dir: dir, eos: eos}, nil
}

var _ task.Generator = (*TaskGenerator)(nil)

// GenerateUntil continues each prompt greedily and returns the text before
// the first stop string, at most maxTokens tokens.
func (t *TaskGenerator) GenerateUntil(ctx context.Context, prompts []task.GenPrompt, until []string, maxTokens int) ([]string, error) {
	ids := make([][]int, len(prompts))
	for i, p := range prompts {
		if p.Messages.Messages == nil {
			ids[i] = t.gen.Tok.Encode(p.Text, true)
			continue
		}
		t.once.Do(func() { t.template, t.tplErr = chattemplate.Load(t.dir) })
		if t.tplErr != nil {
			return nil, t.tplErr
		}
		text, err := t.template.Apply(p.Messages, true, nil)
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
		ids[i] = t.gen.Tok.Encode(text, false) // the template writes its own BOS
	}
	res, err := t.gen.Run(ctx, ids, Options{MaxTokens: maxTokens, Stop: until, EOS: t.eos, TruncateLeft: true}, nil)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.Text
	}
	return out, nil
}
