package session

import (
	"errors"
	"fmt"

	"github.com/gptailor/gptailor/native/prune"
	"github.com/gptailor/gptailor/shared/editor"
)

// Diagnostics are two figures per layer of every member on the
// calibration text — ShortGPT's block influence (1 − the mean cosine
// between the hidden states entering and leaving the layer, every token)
// and the angular distance across the layer (arccos of that cosine / π, at
// the last token, as Gromov et al.) — which layers are cheap to cut.
// Computed once per session.
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
	d = &editor.Diagnostics{Strips: []editor.Strip{
		{Name: "block influence (ShortGPT)", Layers: map[string][]float64{}},
		{Name: "angular distance", Layers: map[string][]float64{}}}}
	for _, m := range s.Family.Names() {
		net, err := s.Family.Net(Target{Model: m})
		if err != nil {
			return nil, err
		}
		for k, method := range []string{"shortgpt", "angular"} {
			r, err := prune.Run(method, net, calib, 1)
			if err != nil {
				return nil, fmt.Errorf("diagnostics of %s: %w", m, err)
			}
			d.Strips[k].Layers[m] = r.Scores
		}
	}
	s.mu.Lock()
	s.diag = d
	s.mu.Unlock()
	return d, nil
}
