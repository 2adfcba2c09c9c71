package openai

import (
	"encoding/json"
	"net/http"
	"time"
)

// streamWait is how long a streamed event may take to be written: a
// client that stops reading is dropped after it, and its decoding stops.
const streamWait = 30 * time.Second

// sse writes server-sent events; the first failed write (a client gone or
// not reading) cancels the request's work and ends the stream.
type sse struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	cancel func()
	failed bool
	begun  bool
}

func newSSE(w http.ResponseWriter, cancel func()) *sse {
	return &sse{w: w, rc: http.NewResponseController(w), cancel: cancel}
}

func (s *sse) begin() {
	if s.begun {
		return
	}
	s.begun = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

func (s *sse) raw(data []byte) {
	if s.failed {
		return
	}
	s.begin()
	s.rc.SetWriteDeadline(time.Now().Add(streamWait))
	_, err := s.w.Write(append(append([]byte("data: "), data...), '\n', '\n'))
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil {
		s.failed = true
		s.cancel()
	}
}

// event writes one JSON event.
func (s *sse) event(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(struct {
			Error *apiError `json:"error"`
		}{internal(err)})
	}
	s.raw(b)
}

// fail ends a stream with an error event (before any event: an ordinary
// error response).
func (s *sse) fail(err error) {
	if !s.begun {
		writeError(s.w, err)
		s.failed = true
		return
	}
	s.event(struct {
		Error *apiError `json:"error"`
	}{asAPIError(err)})
	s.done()
}

func (s *sse) done() { s.raw([]byte("[DONE]")) }

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, internal(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}
