package server

import (
	"fmt"
	"math"

	"github.com/gptailor/gptailor/native/session"
)

// nonFinite refuses an evaluation whose objective or a retention is NaN or
// infinite, naming the task and its metric (the app was sent "json:
// unsupported value: NaN" instead): a plan whose merge scale overflows
// the weights gives NaN losses.
func nonFinite(ev *session.Evaluation) error {
	for i, r := range ev.Retention {
		if math.IsNaN(r) || math.IsInf(r, 0) {
			res := ev.Results[i]
			return fmt.Errorf("the plan's %s on task %s is %v (retention %v): its outputs are not finite numbers — a merge scale or λ too large overflows the weights", res.Primary, res.Name, res.Metrics[res.Primary], r)
		}
	}
	if math.IsNaN(ev.Objective) || math.IsInf(ev.Objective, 0) {
		return fmt.Errorf("the plan's objective is %v", ev.Objective)
	}
	return nil
}

// encodeFailure is what a client is told when its reply cannot be
// encoded: the message type and the reason, never a bare encoder error.
func encodeFailure(typ string, err error) error {
	return fmt.Errorf("the %s reply could not be encoded (%v): the server refused to send it", typ, err)
}
