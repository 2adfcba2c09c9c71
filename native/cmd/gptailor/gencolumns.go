package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// printSideBySide prints one column per model when width (a terminal's) is
// known, else one block per model.
func printSideBySide(w io.Writer, names, texts []string, width int) {
	n := len(names)
	col := 0
	if width > 0 {
		col = (width - 3*(n-1)) / n
	}
	if col < 12 {
		for m, name := range names {
			fmt.Fprintf(w, "--- %s ---\n%s\n", name, texts[m])
		}
		return
	}
	cols := make([][]string, n)
	rows := 0
	for m := range names {
		cols[m] = append([]string{names[m], strings.Repeat("-", col)}, wrap(texts[m], col)...)
		rows = max(rows, len(cols[m]))
	}
	for r := 0; r < rows; r++ {
		var line strings.Builder
		for m := range cols {
			cell := ""
			if r < len(cols[m]) {
				cell = cols[m][r]
			}
			if m > 0 {
				line.WriteString(" | ")
			}
			line.WriteString(cell)
			if m < n-1 {
				line.WriteString(strings.Repeat(" ", col-utf8.RuneCountInString(cell)))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
	}
}

// wrap cuts text into lines of at most width characters, at spaces where
// it can; tabs become spaces and control characters are dropped.
func wrap(text string, width int) []string {
	var out []string
	for _, para := range strings.Split(strings.ReplaceAll(text, "\t", " "), "\n") {
		para = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return -1
			}
			return r
		}, para)
		rs := []rune(para)
		if len(rs) == 0 {
			out = append(out, "")
		}
		for len(rs) > 0 {
			if len(rs) <= width {
				out = append(out, string(rs))
				break
			}
			cut := width
			for k := width; k > width/2; k-- {
				if rs[k] == ' ' {
					cut = k
					break
				}
			}
			out = append(out, strings.TrimRight(string(rs[:cut]), " "))
			rs = rs[cut:]
			for len(rs) > 0 && rs[0] == ' ' {
				rs = rs[1:]
			}
		}
	}
	return out
}
