// Package protocol is the versioned wire protocol between the browser app
// and the server: every message is a JSON envelope {v, id, type, payload}
// over one websocket. Requests carry an id; every request gets exactly one
// reply with the same id (the reply type, or "error" with a reason);
// events (progress, trials, state) carry no id. It compiles into both the
// server and the wasm app. docs/protocol.md describes every message.
package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/gptailor/gptailor/shared/plan"
)

// Version is the protocol version; a peer speaking another is refused.
const Version = 1

// MaxMessage bounds one text message (binary scorer uploads have their own limit).
const MaxMessage = 4 << 20

// Message types. Requests (client → server) and their replies.
const (
	Hello         = "hello"              // → state
	GetFamily     = "family.get"         // → family
	ValidatePlan  = "plan.validate"      // → plan.report
	PutPlan       = "plan.put"           // → plan.report (and the plan becomes the session's current one)
	GetPlan       = "plan.get"           // → plan
	ExportPlan    = "plan.export"        // → export
	Evaluate      = "evaluate"           // → evaluate.result, with progress events before it
	SearchStart   = "search.start"       // → search.status, then trial events
	SearchStop    = "search.stop"        // → search.status
	SearchStatus  = "search.status"      // → search.status
	ListScorers   = "scorer.list"        // → scorer.list
	SelectScorer  = "scorer.select"      // → scorer.list
	BuildPlan     = "build"              // → build.result, with progress events before it
	Diagnostics   = "layers.diagnostics" // → layers.diagnostics: per model and layer, how much the layer changes (editor.Diagnostics)
	RunsList      = "runs.list"          // → runs.list: []RunInfo, the run directories
	RunOpen       = "runs.open"          // {"run": NAME} → runs.open: RunData, a run's trials and result table
	ReplyError    = "error"              // a request failed: payload Error
	ReplyState    = "state"              //
	ReplyFamily   = "family"             //
	ReplyReport   = "plan.report"        //
	ReplyPlan     = "plan"               //
	ReplyExport   = "export"             //
	ReplyEvaluate = "evaluate.result"
	ReplyBuild    = "build.result"
	EventProgress = "progress" // no id
	EventTrial    = "trial"    // no id
	EventNotice   = "notice"   // no id; payload Error: something every tab should know (e.g. a scorer evicted)
	EventWorkers  = "workers"  // no id; payload []Worker, every few seconds while workers are attached
)

// Envelope is one message.
type Envelope struct {
	V       int             `json:"v"`
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Error is the payload of an error reply.
type Error struct {
	Reason string `json:"reason"`
}

// State is the reply to hello: what a (re)connecting tab needs.
type State struct {
	Version int        `json:"version"`
	Family  FamilyInfo `json:"family"`
	Plan    *plan.Plan `json:"plan,omitempty"`
	Search  *Status    `json:"search,omitempty"`
	Scorers []string   `json:"scorers"`
	Scorer  string     `json:"scorer,omitempty"`
	// Trials are the trial events of the current (or last) search, so a
	// reconnecting tab redraws the search it missed (the last 2,000).
	Trials []TrialEvent `json:"trials,omitempty"`
	// Workers are the evaluation workers heard from in the last minute
	// (when the server evaluates on NATS workers: serve --workers/--nats).
	Workers []Worker `json:"workers,omitempty"`
}

// Worker is an evaluation worker as its heartbeats describe it.
type Worker struct {
	Name    string `json:"name"`
	Busy    bool   `json:"busy"`
	Trial   int    `json:"trial"` // the trial it evaluates (-1: none)
	Threads int    `json:"threads"`
	Done    int    `json:"done"`    // jobs finished
	AgoMS   int64  `json:"ago_ms"`  // since its last heartbeat
	Foreign bool   `json:"foreign"` // its family differs from the server's: it refuses this server's jobs
}

// FamilyInfo describes the family being tailored.
type FamilyInfo struct {
	TaskWeights []float64 `json:"task_weights,omitempty"` // per task of Tasks (1 where the list gives none)
	Models      []string  `json:"models"`                 // aliases, base first
	Layers      int       `json:"layers"`
	LayerParams int64     `json:"layer_params"`
	AttnParams  int64     `json:"attn_params,omitempty"` // one layer's attention sub-block
	MLPParams   int64     `json:"mlp_params,omitempty"`  // one layer's MLP sub-block
	OuterParams int64     `json:"outer_params"`
	Tasks       []string  `json:"tasks"`
}

// PlanReport is the reply to plan.validate and plan.put.
type PlanReport struct {
	Valid           bool           `json:"valid"`
	Problems        []plan.Problem `json:"problems,omitempty"`
	Params          int64          `json:"params"`
	FractionRemoved float64        `json:"fraction_removed"`
}

// PlanPayload carries a plan (plan.put, plan.validate, plan reply).
type PlanPayload struct {
	Plan json.RawMessage `json:"plan"`
}

// ExportRequest asks for a plan in a format.
type ExportRequest struct {
	Format string          `json:"format"` // "json" or "mergekit"
	Plan   json.RawMessage `json:"plan,omitempty"`
}

// ExportReply is the exported text.
type ExportReply struct {
	Format string `json:"format"`
	Text   string `json:"text"`
}

// Progress is an event of long work.
type Progress struct {
	Op    string `json:"op"` // evaluate, build, search
	Done  int    `json:"done"`
	Total int    `json:"total"`
}

// Status is a search's state.
type Status struct {
	Running bool        `json:"running"`
	Run     string      `json:"run,omitempty"` // the run directory's name under the server's runs directory
	Trials  int         `json:"trials"`
	Best    float64     `json:"best"`
	Error   string      `json:"error,omitempty"`
	Rows    []ResultRow `json:"rows,omitempty"` // when a search ends: the winner, then the baselines
	// Warnings, when a search on workers ends: each final-table row whose
	// workers' numbers differ from this server's re-evaluation (the rows
	// show the server's), naming the workers.
	Warnings []string `json:"warnings,omitempty"`
}

// RunInfo describes a run directory.
type RunInfo struct {
	Name      string  `json:"name"`
	Trials    int     `json:"trials"`    // journaled
	Target    int     `json:"target"`    // the trial budget (0: none)
	Best      float64 `json:"best"`      // the winner's objective so far (NaN-free: 0 with no finished trial)
	Objective string  `json:"objective"` // what it maximises
	Space     string  `json:"space"`     // full, selection or removal
	Running   bool    `json:"running"`   // the server's current search
	Finished  bool    `json:"finished"`  // a report was written
	Error     string  `json:"error,omitempty"`
}

// RunData is a run's trials (as trial events) and its result table.
type RunData struct {
	Run    string       `json:"run"`
	Trials []TrialEvent `json:"trials"`
	Rows   []ResultRow  `json:"rows,omitempty"`
}

// ResultRow is a row of a finished search's table: the winner (kind
// "search") or a baseline (shortgpt, laco, best-drop, dense).
type ResultRow struct {
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Retention []float64 `json:"retention"` // per task, in FamilyInfo.Tasks order
	Objective float64   `json:"objective"` // the tasks' weighted mean
}

// Decode parses an envelope strictly: known version, a type, no unknown
// fields, and an id on requests.
func Decode(b []byte) (*Envelope, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("message of %d bytes exceeds %d", len(b), MaxMessage)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var e Envelope
	if err := d.Decode(&e); err != nil {
		return nil, fmt.Errorf("not a protocol message: %v", err)
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after the message")
	}
	if e.V != Version {
		return nil, fmt.Errorf("protocol version %d is not spoken here (version %d)", e.V, Version)
	}
	if e.Type == "" {
		return nil, fmt.Errorf("message has no type")
	}
	return &e, nil
}

// Encode builds an envelope with a payload.
func Encode(id, typ string, payload any) ([]byte, error) {
	var raw json.RawMessage
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	return json.Marshal(Envelope{V: Version, ID: id, Type: typ, Payload: raw})
}

// Into decodes a payload strictly into v.
func (e *Envelope) Into(v any) error {
	if len(e.Payload) == 0 {
		return fmt.Errorf("%s: payload is missing", e.Type)
	}
	d := json.NewDecoder(bytes.NewReader(e.Payload))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s: payload: %v", e.Type, err)
	}
	return nil
}
