package session

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/gptailor/gptailor/native/task"
)

// TaskHashes are the SHA-256 of a task list file and of every data file
// its tasks name, by absolute path: what a run stores when it starts so
// that a resume can tell its tasks changed (the journal's trials were
// scored on the old ones and would no longer replay).
func TaskHashes(listPath string) (map[string]string, error) {
	list, err := task.ReadList(listPath)
	if err != nil {
		return nil, err
	}
	files := []string{AbsPath(listPath)}
	for _, s := range list.Tasks {
		if p := AbsPath(s.Path); !slices.Contains(files, p) {
			files = append(files, p)
		}
	}
	out := map[string]string{}
	for _, p := range files {
		h, err := fileSHA256(p)
		if err != nil {
			return nil, err
		}
		out[p] = h
	}
	return out, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkTaskHashes refuses to resume a run whose task files changed since
// it started, naming each one; a run that stored no hashes (started
// before runs did) is resumed with a note saying its tasks are unchecked.
func checkTaskHashes(spec RunSpec) (note string, err error) {
	if len(spec.TaskHashes) == 0 {
		return fmt.Sprintf("the run stored no hashes of its tasks (it was started by an older gptailor): %s and its data files are used as they are now, unchecked", spec.Tasks), nil
	}
	var changed []string
	paths := make([]string, 0, len(spec.TaskHashes))
	for p := range spec.TaskHashes {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		h, err := fileSHA256(p)
		switch {
		case err != nil:
			changed = append(changed, fmt.Sprintf("%s can no longer be read (%v)", p, err))
		case h != spec.TaskHashes[p]:
			changed = append(changed, fmt.Sprintf("%s changed since the run started (sha256 %.12s…, was %.12s…)", p, h, spec.TaskHashes[p]))
		}
	}
	if len(changed) > 0 {
		return "", fmt.Errorf("the run's tasks are not the ones its trials were scored on: %s; restore them, or start another run", strings.Join(changed, "; "))
	}
	return "", nil
}
