package protocol

import (
	"encoding/json"

	"github.com/gptailor/gptailor/shared/plan"
)

// EvaluateRequest is evaluate's payload: a plan and the samples per task
// (0: the search's full budget).
type EvaluateRequest struct {
	Plan    json.RawMessage `json:"plan"`
	Samples int             `json:"samples"`
}

// EvaluateResult is evaluate.result: per task the figures, and the
// objective a search judges by (its value and what it is).
type EvaluateResult struct {
	Tasks         []TaskResult `json:"tasks"`
	Objective     float64      `json:"objective"`      // the objective's value: what a search with the defaults maximises
	ObjectiveName string       `json:"objective_name"` // e.g. "min retention vs the dense base"
	Score         *float64     `json:"score,omitempty"`
	ScoreErr      string       `json:"score_error,omitempty"`
	Samples       int          `json:"samples"`
	Params        int64        `json:"params"`
	Removed       float64      `json:"fraction_removed"`
}

// TaskResult is one task's figures in an evaluate.result.
type TaskResult struct {
	Name      string             `json:"name"`
	Primary   string             `json:"primary"`
	Metrics   map[string]float64 `json:"metrics"`
	Reference map[string]float64 `json:"reference"`
	Retention float64            `json:"retention"`
	Weight    float64            `json:"weight"`
}

// BuildRequest is build's payload: a plan written as a model directory
// named Name under the server's build directory (DType: f32, bf16, f16 or
// "" for the sources').
type BuildRequest struct {
	Plan  json.RawMessage `json:"plan"`
	Name  string          `json:"name"`
	DType string          `json:"dtype,omitempty"`
}

// BuildResult is build.result: where the model went.
type BuildResult struct {
	Dir      string `json:"dir"`
	Tensors  int    `json:"tensors"`
	Bytes    int64  `json:"bytes"`
	Mergekit bool   `json:"mergekit"`
}

// RunOpenRequest is runs.open's payload.
type RunOpenRequest struct {
	Run string `json:"run"`
}

// SelectScorerRequest is scorer.select's payload ("" for none).
type SelectScorerRequest struct {
	Name string `json:"name"`
}

// PlanReply is the plan reply: the server's current plan (null: none).
type PlanReply struct {
	Plan *plan.Plan `json:"plan"`
}

// UploadHeader is the JSON line before a scorer module's bytes in a
// binary frame (Type is "scorer.upload").
type UploadHeader struct {
	V    int    `json:"v"`
	ID   string `json:"id"`
	Type string `json:"type"`
	Name string `json:"name"`
}

// ScorerUpload is the upload header's type.
const ScorerUpload = "scorer.upload"
