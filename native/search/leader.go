package search

// Leader keeps Best's answer over trials seen one at a time, so a journal
// can be summarised as a stream.
type Leader struct {
	top   int
	best  Trial
	found bool
}

// Add considers one trial.
func (l *Leader) Add(t Trial) {
	if t.Error != "" {
		return
	}
	switch {
	case t.Budget > l.top:
		l.top, l.best, l.found = t.Budget, t, true
	case t.Budget == l.top && (!l.found || t.Objective > l.best.Objective):
		l.best, l.found = t, true
	}
}

// Best is the winner so far (see Best).
func (l *Leader) Best() (Trial, bool) { return l.best, l.found }
