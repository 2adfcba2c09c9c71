// Package progress reports long work: a redrawn bar on a terminal, JSON
// lines (one object per update, at most a few per second) otherwise.
package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar reports done/total of one piece of work. A nil *Bar ignores calls.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	label    string
	unit     string
	total    int
	done     int
	start    time.Time
	last     time.Time
	interval time.Duration
}

// New starts a bar on w. It draws when w is a terminal, else writes JSON lines.
func New(w io.Writer, label, unit string, total int) *Bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	iv := time.Second
	if tty {
		iv = 100 * time.Millisecond
	}
	return &Bar{w: w, tty: tty, label: label, unit: unit, total: total, start: time.Now(), interval: iv}
}

// Add records n more units done.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if now := time.Now(); now.Sub(b.last) >= b.interval || b.done >= b.total {
		b.last = now
		b.draw(false)
	}
}

// Finish writes the final state.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
}

func (b *Bar) draw(final bool) {
	el := time.Since(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el
	}
	if !b.tty {
		rec := map[string]any{"event": "progress", "label": b.label, "done": b.done, "total": b.total,
			"unit": b.unit, "elapsed_s": round(el), "rate": round(rate), "final": final}
		line, _ := json.Marshal(rec)
		fmt.Fprintf(b.w, "%s\n", line)
		return
	}
	const width = 30
	frac := 1.0
	if b.total > 0 {
		frac = min(1, float64(b.done)/float64(b.total))
	}
	fill := int(frac * width)
	bar := strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
	fmt.Fprintf(b.w, "\r%s %s %3.0f%% %d/%d %s %.0f %s/s", b.label, bar, frac*100, b.done, b.total, b.unit, rate, b.unit)
	if final {
		fmt.Fprintln(b.w)
	}
}

func round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
