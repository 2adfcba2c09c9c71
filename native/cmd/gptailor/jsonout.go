package main

import (
	"encoding/json"
	"errors"
	"fmt"
)

// finiteJSON encodes a --json result, or says why it cannot: a NaN or
// infinite metric (a model whose outputs overflow) made `eval --json`
// print an empty line and exit 0.
func finiteJSON(v any, indent bool) ([]byte, error) {
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	var uv *json.UnsupportedValueError
	if errors.As(err, &uv) {
		return nil, fmt.Errorf("--json: the result holds %s, which JSON cannot carry: the model's outputs are not finite numbers (a merge scale or λ too large?)", uv.Str)
	}
	if err != nil {
		return nil, fmt.Errorf("--json: %w", err)
	}
	return b, nil
}
