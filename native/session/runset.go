package session

import "path/filepath"

// UniqueDirs is dirs with each directory once, by its canonical path
// (absolute, symbolic links resolved): `compare a a ./a` counts one run.
func UniqueDirs(dirs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range dirs {
		c := AbsPath(d)
		if r, err := filepath.EvalSymlinks(c); err == nil {
			c = r
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, d)
		}
	}
	return out
}

// sameRunSeen says whether r is a run already in runs under another
// directory (a copy: the same run id), so it is not counted twice.
func sameRunSeen(runs []RunResult, r RunResult) bool {
	if r.Spec.RunID == "" {
		return false
	}
	for _, o := range runs {
		if o.Spec.RunID == r.Spec.RunID {
			return true
		}
	}
	return false
}
