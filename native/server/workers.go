package server

import (
	"encoding/json"
	"time"

	"github.com/gptailor/gptailor/shared/protocol"
)

// workers are the NATS workers heard from in the last minute (nil when
// the server evaluates in its own process).
func (s *Server) workers() []protocol.Worker {
	if s.cfg.Cluster == nil {
		return nil
	}
	var out []protocol.Worker
	for _, h := range s.cfg.Cluster.Workers(time.Minute) {
		out = append(out, protocol.Worker{Name: h.Name, Busy: h.Busy, Trial: h.Trial, Threads: h.Threads, Done: h.Done,
			AgoMS: time.Since(h.At).Milliseconds(), Foreign: h.Fingerprint != s.ses.Family.Fingerprint})
	}
	return out
}

// announceWorkers tells every tab about the workers every 2 s, while
// they change or are busy.
func (s *Server) announceWorkers() {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	var last []byte
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ws := s.workers()
		key, _ := json.Marshal(stripAgo(ws))
		if string(key) == string(last) && !anyBusy(ws) {
			continue
		}
		last = key
		s.broadcast(protocol.EventWorkers, ws)
	}
}

func stripAgo(ws []protocol.Worker) []protocol.Worker {
	out := append([]protocol.Worker(nil), ws...)
	for i := range out {
		out[i].AgoMS = 0
	}
	return out
}

func anyBusy(ws []protocol.Worker) bool {
	for _, w := range ws {
		if w.Busy {
			return true
		}
	}
	return false
}
