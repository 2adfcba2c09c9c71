package dist

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/task"
)

// jobMsg is a job on the work queue.
type jobMsg struct {
	Run         string      `json:"run"`
	Fingerprint string      `json:"fingerprint"` // the coordinator's family
	Job         session.Job `json:"job"`
}

// resultMsg is a job's outcome in the results bucket (gob: task results
// hold NaN standard errors, which JSON cannot carry).
type resultMsg struct {
	Job       string
	Trial     int
	Worker    string
	Results   []*task.Result
	Error     string // the evaluation failed (not retried: it would fail again)
	Seconds   float64
	Delivered int // deliveries it took

	checked bool // checkResult passed (the coordinator's)
	notice  bool // made from a worker's notice, not stored
}

func (r *resultMsg) encode() ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decodeResult(b []byte) (*resultMsg, error) {
	if len(b) > MaxResultBytes {
		return nil, fmt.Errorf("a result of %d bytes (at most %d)", len(b), MaxResultBytes)
	}
	var r resultMsg
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&r); err != nil {
		return nil, fmt.Errorf("a result that does not decode: %w", err)
	}
	return &r, nil
}

// Subject is where a run's jobs go: under its family's fingerprint, so a
// worker's consumer (ConsumerFor) only ever sees its own family's jobs.
func Subject(fingerprint, run string) string { return JobsSubject + "." + fingerprint + "." + run }

// ConsumerFor is the durable consumer the workers of a family share.
func ConsumerFor(fingerprint string) string { return Consumer + "-" + fingerprint }

// Manifest is what a worker needs to evaluate a run's jobs besides its
// family: the tasks, whose files are in the object store by content hash.
type Manifest struct {
	Run         string      `json:"run"`
	Fingerprint string      `json:"fingerprint"`
	Tasks       []task.Spec `json:"tasks"` // Path: the file's object name
	Created     time.Time   `json:"created"`
}

// Heartbeat is what a worker says every few seconds.
type Heartbeat struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Busy        bool      `json:"busy"`
	Run         string    `json:"run,omitempty"`
	Trial       int       `json:"trial"`
	Threads     int       `json:"threads"`
	Done        int       `json:"done"` // jobs finished since it started
	At          time.Time `json:"at"`
}

// Notice is a worker's word to a run's coordinator (a refusal).
type Notice struct {
	Worker string `json:"worker"`
	Job    string `json:"job"`
	Trial  int    `json:"trial"`
	Reason string `json:"reason"`
	// Fail: the job was dropped (malformed, or its run has no manifest):
	// it will never have a result, and the coordinator fails it.
	Fail bool `json:"fail,omitempty"`
}
