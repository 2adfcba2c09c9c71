package session

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/gptailor/gptailor/native/task"
)

// ErrStoppedEarly is a search stopped (by its user) before any trial
// finished: not a failure of the candidates.
var ErrStoppedEarly = errors.New("the search was stopped before any trial finished; resume the run to continue it")

// RunTasks are the tasks a run is judged on: its own stored list, never
// the caller's (a resumed run continued on `serve --tasks` instead, its
// report's columns renamed). current are the tasks already read from
// currentPath, reused when the run names that file.
func RunTasks(spec RunSpec, currentPath string, current []task.Spec) ([]task.Spec, error) {
	if spec.Tasks == "" {
		return nil, errors.New("the run names no task list (search.json has no tasks)")
	}
	if !filepath.IsAbs(spec.Tasks) {
		return nil, fmt.Errorf("the run stored its task list as the relative path %q: it would be read from this process's directory, not the run's; edit search.json to give the absolute path", spec.Tasks)
	}
	if currentPath != "" && AbsPath(currentPath) == spec.Tasks {
		return current, nil
	}
	list, err := task.ReadList(spec.Tasks)
	if err != nil {
		return nil, fmt.Errorf("the run's task list: %w", err)
	}
	return list.Tasks, nil
}
