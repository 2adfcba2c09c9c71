package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TokenFromFile is the access token kept in path (serve --token-file), so
// a restarted server accepts the URL and cookie the browser already has.
// A missing file gets a new random token, written with mode 0600; a file
// holding anything but 32 to 128 hex digits is an error naming it.
func TokenFromFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		r := make([]byte, 32)
		if _, err := rand.Read(r); err != nil {
			return "", err
		}
		tok := hex.EncodeToString(r)
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("token file %s: %w", path, err)
		}
		return tok, nil
	}
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if _, err := hex.DecodeString(tok); err != nil || len(tok) < 32 || len(tok) > 128 {
		return "", fmt.Errorf("token file %s: holds %d characters; want 32 to 128 hex digits (delete it to get a new token)", path, len(tok))
	}
	return tok, nil
}
