package session

import (
	"errors"
	"fmt"

	"github.com/gptailor/gptailor/native/prune"
	"github.com/gptailor/gptailor/shared/editor"
)

// Diagnostics are ShortGPT's block influence of every layer of every
// member (1 − the mean cosine between the hidden states entering and
// leaving the layer) on the calibration text: which layers are cheap to
// cut. Computed once per session.
func (s *Session) Diagnostics() (*editor.Diagnostics, error) {
	s.mu.Lock()
	d := s.diag
	s.mu.Unlock()
	if d != nil {
		return d, nil
	}
	calib := s.Calibration()
	if len(calib) == 0 {
		return nil, errors.New("layer diagnostics need calibration text: the first task's file gives none")
	}
	d = &editor.Diagnostics{Name: "block influence (ShortGPT) on the first task's text", Layers: map[string][]float64{}}
	for _, m := range s.Family.Names() {
		net, err := s.Family.Net(Target{Model: m})
		if err != nil {
			return nil, err
		}
		r, err := prune.Run("shortgpt", net, calib, 1)
		if err != nil {
			return nil, fmt.Errorf("diagnostics of %s: %w", m, err)
		}
		d.Layers[m] = r.Scores
	}
	s.mu.Lock()
	s.diag = d
	s.mu.Unlock()
	return d, nil
}
