package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
)

// Files named by clients (a search's repair calibration, a plan's
// repair.calibration) are read on the server's machine, so they must be
// regular files under a directory the server was given (serve --files),
// at most MaxClientFile bytes. Anything else — a path outside, a missing
// file, /dev/zero, a FIFO (whose open blocked the job worker for good), a
// symbolic link out — gets one answer that says nothing about the file.

// DefaultMaxClientFile bounds a client-named file's size.
const DefaultMaxClientFile = 256 << 20

// clientFile resolves a client-named file (absolute, or relative to the
// first --files directory) to its canonical path, or refuses it.
func (s *Server) clientFile(field, name string) (string, error) {
	refuse := fmt.Errorf("%s %q: not a regular file of at most %d MiB in the directories this server reads client files from (serve --files: %s)", field, name, s.cfg.MaxClientFile>>20, s.filesDirsText())
	if name == "" || len(s.cfg.FileDirs) == 0 {
		return "", refuse
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.cfg.FileDirs[0], p)
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(p))
	if err != nil {
		return "", refuse
	}
	inside := false
	for _, d := range s.cfg.FileDirs {
		if rel, err := filepath.Rel(d, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			inside = true
			break
		}
	}
	if !inside {
		return "", refuse
	}
	st, err := os.Lstat(real)
	if err != nil || !st.Mode().IsRegular() || st.Size() > s.cfg.MaxClientFile {
		return "", refuse
	}
	return real, nil
}

func (s *Server) filesDirsText() string {
	if len(s.cfg.FileDirs) == 0 {
		return "none given"
	}
	return strings.Join(s.cfg.FileDirs, ", ")
}

// planFiles checks the files a client's plan names and points the plan at
// their canonical paths.
func (s *Server) planFiles(p *plan.Plan) error {
	if p == nil || p.Repair == nil {
		return nil
	}
	real, err := s.clientFile("repair.calibration", p.Repair.Calibration)
	if err != nil {
		return err
	}
	p.Repair.Calibration = real
	return nil
}

// canonicalDirs resolves the --files directories once (symbolic links
// too), so containment is checked on real paths.
func canonicalDirs(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("--files %s: %w", d, err)
		}
		if st, err := os.Stat(real); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--files %s: not a directory", d)
		}
		out = append(out, real)
	}
	return out, nil
}
