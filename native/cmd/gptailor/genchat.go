package main

import (
	"encoding/json"
	"errors"
)

// renderChat renders messages with the model's chat template (or the
// template file given).
func renderChat(modelDir, template string, messages json.RawMessage) (string, error) {
	return "", errors.New("chat templates are not available in this build yet")
}
