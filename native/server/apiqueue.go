package server

import "context"

// apiOwner is an API client in the job queue: its requests count against
// one per-client limit, as a tab's do.
type apiOwner string

// Submit queues fn in the job queue that evaluations and builds go
// through, for an API client (named by the caller, e.g. its address), with
// the same bounds: at most MaxJobsPerClient of its requests queued or
// running and MaxJobs overall; ctx (the HTTP request's) cancelled skips a
// queued job and is what a running one sees. The OpenAI-compatible API
// (package openai) runs its requests through it.
func (s *Server) Submit(ctx context.Context, client, what string, fn func(ctx context.Context)) error {
	return s.jobs.add(apiOwner(client), ctx, "API client "+client, what, fn)
}
