// Package server is `gptailor serve`: it serves the browser app (ui/) and
// one websocket speaking shared/protocol. It binds to loopback by default,
// requires a random access token on every request (a cookie set from the
// printed URL, or ?token= on the websocket), checks Origin, bounds message
// sizes, and never lets a slow or vanished client block the backend: each
// client has a bounded send queue and is dropped when it overflows.
package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gptailor/gptailor/native/build"
	"github.com/gptailor/gptailor/native/dist"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/scorer"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/mergekit"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// Config sets up a server.
type Config struct {
	UIDir string // static files (index.html, app.wasm, wasm_exec.js)
	Token string // "" draws a random one
	// Session is the family being tailored and the tasks evaluate and
	// search use (none: those requests are refused with the reason).
	Session *session.Session
	// TasksPath is the task list's file, written into the search runs'
	// search.json so a run started here resumes from the CLI too.
	TasksPath string
	// RunsDir holds the search runs, one directory each (default "runs").
	RunsDir string
	// Cluster, when set, evaluates searches on NATS workers (shown to the
	// app); nil: in this process.
	Cluster   *dist.Cluster
	MaxUpload int    // scorer upload limit (default 32 MiB)
	BuildDir  string // where build requests write models (default "builds")
	SendQueue int    // messages queued per client before it is dropped (default 256)
	// Heavy requests (evaluate, build) queued or running: per client
	// (default 4) and overall (default 32); more are refused with the reason.
	MaxJobsPerClient int
	MaxJobs          int
	// Uploaded scorers kept (default 8) and their bytes (default 64 MiB);
	// past either the least recently used are evicted.
	MaxScorers     int
	MaxScorerBytes int
	// FileDirs are the directories whose regular files clients may name
	// (a repair's calibration text); none: every client-named file is
	// refused. MaxClientFile bounds such a file (default 256 MiB).
	FileDirs      []string
	MaxClientFile int64
	// Log receives what the server says outside the app (a distributed
	// search's re-check of its final table); nil: nowhere.
	Log io.Writer
}

// Server holds the shared state every tab sees.
type Server struct {
	cfg  Config
	info protocol.FamilyInfo
	ses  *session.Session
	host *scorer.Host

	mu       sync.Mutex
	clients  map[*client]bool
	current  *plan.Plan
	scorers  *scorerStore
	jobs     *jobQueue
	selected string
	status   protocol.Status
	cancel   context.CancelFunc
	trials   []protocol.TrialEvent // of the current search

	stop      chan struct{}
	closeOnce sync.Once
}

const keepTrials = 2000

// New prepares a server over a family.
func New(cfg Config) (*Server, error) {
	if cfg.Session == nil {
		return nil, errors.New("server: no family")
	}
	if cfg.Token == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		cfg.Token = hex.EncodeToString(b)
	}
	if cfg.MaxUpload == 0 {
		cfg.MaxUpload = 32 << 20
	}
	if cfg.SendQueue == 0 {
		cfg.SendQueue = 256
	}
	if cfg.BuildDir == "" {
		cfg.BuildDir = "builds"
	}
	if cfg.RunsDir == "" {
		cfg.RunsDir = "runs"
	}
	if cfg.Session.Objective == (session.Objective{}) {
		// Evaluations in the app are judged as a default search judges them.
		cfg.Session.Objective = session.DefaultObjective
	}
	if cfg.TasksPath != "" { // runs' search.json must resume from any directory
		abs, err := filepath.Abs(cfg.TasksPath)
		if err != nil {
			return nil, err
		}
		cfg.TasksPath = abs
	}
	if cfg.MaxClientFile == 0 {
		cfg.MaxClientFile = DefaultMaxClientFile
	}
	dirs, err := canonicalDirs(cfg.FileDirs)
	if err != nil {
		return nil, err
	}
	cfg.FileDirs = dirs
	if cfg.MaxJobsPerClient == 0 {
		cfg.MaxJobsPerClient = 4
	}
	if cfg.MaxJobs == 0 {
		cfg.MaxJobs = 32
	}
	if cfg.MaxScorers == 0 {
		cfg.MaxScorers = 8
	}
	if cfg.MaxScorerBytes == 0 {
		cfg.MaxScorerBytes = 64 << 20
	}
	host, err := scorer.NewHost(context.Background(), scorer.Limits{ModuleBytes: cfg.MaxUpload})
	if err != nil {
		return nil, err
	}
	fi := cfg.Session.Family.Info()
	s := &Server{cfg: cfg, ses: cfg.Session, host: host,
		clients: map[*client]bool{}, scorers: newScorerStore(cfg.MaxScorers, cfg.MaxScorerBytes), jobs: newJobQueue(cfg.MaxJobs, cfg.MaxJobsPerClient),
		info: protocol.FamilyInfo{Models: fi.Models, Layers: fi.Layers, LayerParams: fi.LayerParams, OuterParams: fi.OuterParams, AttnParams: fi.AttnParams, MLPParams: fi.MLPParams, Tasks: cfg.Session.Tasks(), TaskWeights: cfg.Session.Weights()},
		stop: make(chan struct{})}
	if cfg.Cluster != nil {
		go s.announceWorkers()
	}
	return s, nil
}

// Token is the access token.
func (s *Server) Token() string { return s.cfg.Token }

// Close stops a running search, the job queue and the scorer sandbox.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	for c := range s.clients {
		c.close()
	}
	s.mu.Unlock()
	s.jobs.stop()
	s.host.Close(context.Background())
}

const cookieName = "gptailor_token"

func (s *Server) authorized(r *http.Request) bool {
	tok := r.URL.Query().Get("token")
	if c, err := r.Cookie(cookieName); err == nil && tok == "" {
		tok = c.Value
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
}

// sameOrigin accepts a missing Origin (non-browser clients, which still
// need the token) or one whose host is the request's host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// Handler serves the UI at / and the websocket at /ws.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	files := http.FileServer(http.Dir(s.cfg.UIDir))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			http.Error(w, "gptailor: open the URL with the access token that `gptailor serve` printed", http.StatusUnauthorized)
			return
		}
		if q := r.URL.Query(); q.Get("token") != "" {
			// The cookie carries the token from now on: redirect to the
			// page without it, so it leaves the address bar and history.
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.cfg.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("/ws", s.serveWS)
	return mux
}

var upgrader = websocket.Upgrader{ReadBufferSize: 1 << 16, WriteBufferSize: 1 << 16}

type client struct {
	conn   *websocket.Conn
	send   chan []byte
	once   sync.Once
	done   chan struct{}
	ctx    context.Context // cancelled when the client goes: its jobs stop
	cancel context.CancelFunc
}

func (c *client) close() {
	c.once.Do(func() {
		c.cancel()
		close(c.done)
		c.conn.Close()
	})
}

const (
	pingEvery = 20 * time.Second
	pongWait  = 60 * time.Second
	writeWait = 10 * time.Second
)

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		http.Error(w, "gptailor: missing or wrong access token", http.StatusUnauthorized)
		return
	}
	if !sameOrigin(r) {
		http.Error(w, "gptailor: foreign Origin refused", http.StatusForbidden)
		return
	}
	up := upgrader
	up.CheckOrigin = sameOrigin
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered
	}
	c := &client{conn: conn, send: make(chan []byte, s.cfg.SendQueue), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	conn.SetReadLimit(int64(max(protocol.MaxMessage, s.cfg.MaxUpload+4096)))
	s.mu.Lock()
	s.clients[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		c.close()
	}()
	go s.writer(c)
	conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(pongWait))
		if kind == websocket.BinaryMessage {
			s.upload(c, data)
			continue
		}
		if len(data) > protocol.MaxMessage {
			s.reply(c, "", protocol.ReplyError, protocol.Error{Reason: fmt.Sprintf("message of %d bytes exceeds %d", len(data), protocol.MaxMessage)})
			continue
		}
		env, err := protocol.Decode(data)
		if err != nil {
			s.reply(c, "", protocol.ReplyError, protocol.Error{Reason: err.Error()})
			continue
		}
		s.dispatch(c, env)
	}
}

// writer drains a client's queue and pings it.
func (s *Server) writer(c *client) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.TextMessage, m); err != nil {
				c.close()
				return
			}
		case <-t.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				c.close()
				return
			}
		}
	}
}

// enqueue never blocks: a client whose queue is full is dropped.
func (s *Server) enqueue(c *client, m []byte) {
	select {
	case <-c.done:
	case c.send <- m:
	default:
		c.close()
	}
}

func (s *Server) reply(c *client, id, typ string, payload any) {
	b, err := protocol.Encode(id, typ, payload)
	if err != nil {
		b, _ = protocol.Encode(id, protocol.ReplyError, protocol.Error{Reason: encodeFailure(typ, err).Error()})
	}
	s.enqueue(c, b)
}

func (s *Server) broadcast(typ string, payload any) {
	b, err := protocol.Encode("", typ, payload)
	if err != nil {
		return
	}
	s.mu.Lock()
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		s.enqueue(c, b)
	}
}

func (s *Server) state() protocol.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := protocol.State{Version: protocol.Version, Family: s.info, Plan: s.current, Scorer: s.selected, Scorers: []string{}}
	st.Scorers = append(st.Scorers, s.scorers.names()...)
	status := s.status
	st.Search = &status
	st.Trials = append([]protocol.TrialEvent(nil), s.trials...)
	st.Workers = s.workers()
	return st
}

func (s *Server) fail(c *client, id string, err error) {
	s.reply(c, id, protocol.ReplyError, protocol.Error{Reason: err.Error()})
}

func (s *Server) dispatch(c *client, e *protocol.Envelope) {
	if e.ID == "" {
		s.fail(c, "", fmt.Errorf("%s: requests need an id", e.Type))
		return
	}
	switch e.Type {
	case protocol.Hello:
		s.reply(c, e.ID, protocol.ReplyState, s.state())
	case protocol.GetFamily:
		s.reply(c, e.ID, protocol.ReplyFamily, s.info)
	case protocol.ValidatePlan, protocol.PutPlan:
		p, rep, err := s.readPlan(e)
		if err != nil {
			s.fail(c, e.ID, err)
			return
		}
		if e.Type == protocol.PutPlan && rep.Valid {
			s.mu.Lock()
			s.current = p
			s.mu.Unlock()
		}
		s.reply(c, e.ID, protocol.ReplyReport, rep)
	case protocol.GetPlan:
		s.mu.Lock()
		p := s.current
		s.mu.Unlock()
		s.reply(c, e.ID, protocol.ReplyPlan, protocol.PlanReply{Plan: p})
	case protocol.ExportPlan:
		s.export(c, e)
	case protocol.Evaluate:
		s.evaluate(c, e)
	case protocol.SearchStart:
		s.startSearch(c, e)
	case protocol.SearchStop:
		s.mu.Lock()
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		s.reply(c, e.ID, protocol.SearchStatus, s.state().Search)
	case protocol.SearchStatus:
		s.reply(c, e.ID, protocol.SearchStatus, s.state().Search)
	case protocol.BuildPlan:
		s.build(c, e)
	case protocol.RunsList:
		s.reply(c, e.ID, protocol.RunsList, s.runs())
	case protocol.RunOpen:
		var req protocol.RunOpenRequest
		if err := e.Into(&req); err != nil {
			s.fail(c, e.ID, err)
			return
		}
		d, err := s.openRun(req.Run)
		if err != nil {
			s.fail(c, e.ID, err)
			return
		}
		s.reply(c, e.ID, protocol.RunOpen, d)
	case protocol.Diagnostics:
		if !s.haveTasks(c, e.ID) {
			return
		}
		id := e.ID
		if err := s.jobs.submit(c, "diagnostics", func(context.Context) {
			d, err := s.ses.Diagnostics()
			if err != nil {
				s.fail(c, id, err)
				return
			}
			s.reply(c, id, protocol.Diagnostics, d)
		}); err != nil {
			s.fail(c, e.ID, err)
		}
	case protocol.ListScorers:
		s.reply(c, e.ID, protocol.ListScorers, s.state())
	case protocol.SelectScorer:
		var req protocol.SelectScorerRequest
		if err := e.Into(&req); err != nil {
			s.fail(c, e.ID, err)
			return
		}
		s.mu.Lock()
		ok := s.scorers.get(req.Name) != nil
		if ok || req.Name == "" {
			s.selected = req.Name
		}
		s.mu.Unlock()
		if !ok && req.Name != "" {
			s.fail(c, e.ID, fmt.Errorf("no scorer %q has been uploaded", req.Name))
			return
		}
		s.reply(c, e.ID, protocol.ListScorers, s.state())
	default:
		s.fail(c, e.ID, fmt.Errorf("unknown message type %q", e.Type))
	}
}

// readPlan parses and checks the plan of a request against the family.
func (s *Server) readPlan(e *protocol.Envelope) (*plan.Plan, protocol.PlanReport, error) {
	var req protocol.PlanPayload
	if err := e.Into(&req); err != nil {
		return nil, protocol.PlanReport{}, err
	}
	fi := s.ses.Family.Info()
	p, err := plan.ParseFor(req.Plan, fi)
	var ps plan.Problems
	if errors.As(err, &ps) {
		return nil, protocol.PlanReport{Valid: false, Problems: ps}, nil
	}
	if err == nil {
		err = s.planFiles(p)
	}
	if err != nil {
		return nil, protocol.PlanReport{}, err
	}
	return p, protocol.PlanReport{Valid: true, Params: p.ParamCount(fi), FractionRemoved: p.FractionRemoved(fi)}, nil
}

func (s *Server) export(c *client, e *protocol.Envelope) {
	var req protocol.ExportRequest
	if err := e.Into(&req); err != nil {
		s.fail(c, e.ID, err)
		return
	}
	var p *plan.Plan
	if len(req.Plan) > 0 {
		var err error
		if p, err = plan.ParseFor(req.Plan, s.ses.Family.Info()); err != nil {
			s.fail(c, e.ID, err)
			return
		}
	} else {
		s.mu.Lock()
		p = s.current
		s.mu.Unlock()
		if p == nil {
			s.fail(c, e.ID, errors.New("no current plan: send one or plan.put it first"))
			return
		}
	}
	q := *p
	q.Models = map[string]string{}
	for a, d := range s.ses.Family.Dirs {
		q.Models[a] = d
	}
	switch req.Format {
	case "json":
		b, _ := plan.Marshal(&q)
		s.reply(c, e.ID, protocol.ReplyExport, protocol.ExportReply{Format: "json", Text: string(b)})
	case "mergekit":
		y, err := mergekit.Export(&q)
		if err != nil {
			s.fail(c, e.ID, err)
			return
		}
		s.reply(c, e.ID, protocol.ReplyExport, protocol.ExportReply{Format: "mergekit", Text: string(y)})
	default:
		s.fail(c, e.ID, fmt.Errorf("export format %q: json or mergekit", req.Format))
	}
}

func finite(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

func (s *Server) evaluate(c *client, e *protocol.Envelope) {
	var req protocol.EvaluateRequest
	if err := e.Into(&req); err != nil {
		s.fail(c, e.ID, err)
		return
	}
	if !s.haveTasks(c, e.ID) {
		return
	}
	fi := s.ses.Family.Info()
	p, err := plan.ParseFor(req.Plan, fi)
	if err == nil {
		err = s.planFiles(p)
	}
	if err != nil {
		s.fail(c, e.ID, err)
		return
	}
	if req.Samples < 0 || req.Samples > maxSamples {
		s.fail(c, e.ID, fmt.Errorf("samples %d: between 1 and %d (0: the search's full budget, %d)", req.Samples, maxSamples, session.DefaultSettings().MaxBudget))
		return
	}
	if req.Samples == 0 {
		req.Samples = session.DefaultSettings().MaxBudget // what a search's winner is judged on
	}
	if err := s.jobs.submit(c, "evaluate", func(ctx context.Context) { s.runEvaluate(ctx, c, e.ID, p, req.Samples) }); err != nil {
		s.fail(c, e.ID, err)
	}
}

// maxSamples bounds the samples per task one evaluate request may ask for.
const maxSamples = 10000

func (s *Server) runEvaluate(ctx context.Context, c *client, id string, p *plan.Plan, samples int) {
	fi := s.ses.Family.Info()
	s.reply(c, "", protocol.EventProgress, protocol.Progress{Op: "evaluate", Done: 0, Total: len(s.ses.Specs)})
	ev, err := s.ses.Evaluate(ctx, session.Target{Plan: p}, samples, -1)
	if err == nil {
		err = nonFinite(ev)
	}
	if err != nil {
		s.fail(c, id, err)
		return
	}
	out := protocol.EvaluateResult{Samples: samples, Params: p.ParamCount(fi), Removed: p.FractionRemoved(fi), Objective: ev.Objective, ObjectiveName: s.ses.Objective.String()}
	for i, r := range ev.Results {
		ref := ev.Reference[i]
		out.Tasks = append(out.Tasks, protocol.TaskResult{Name: r.Name, Primary: r.Primary, Metrics: finite(r.Metrics), Reference: finite(ref.Metrics), Retention: ev.Retention[i], Weight: r.Weight})
	}
	s.reply(c, "", protocol.EventProgress, protocol.Progress{Op: "evaluate", Done: len(ev.Results), Total: len(ev.Results)})
	s.mu.Lock()
	mod := s.scorers.get(s.selected)
	s.mu.Unlock()
	if mod != nil {
		doc, err := scorer.NewDocument("plan", p, ev.Results, ev.Reference)
		if err == nil {
			var v float64
			if v, err = s.host.Score(ctx, mod, doc); err == nil {
				out.Score = &v
			}
		}
		if err != nil {
			out.ScoreErr = err.Error()
		}
	}
	s.reply(c, id, protocol.ReplyEvaluate, out)
}

// upload takes a scorer module sent as a binary frame: one line of JSON
// {"v":1,"id":"..","type":"scorer.upload","name":"x.wasm"}, then the bytes.
func (s *Server) upload(c *client, data []byte) {
	nl := -1
	for i, b := range data {
		if b == '\n' {
			nl = i
			break
		}
		if i > 4096 {
			break
		}
	}
	if nl < 0 {
		s.fail(c, "", errors.New("binary frames are scorer uploads: a JSON header line, then the module"))
		return
	}
	var hdr protocol.UploadHeader
	if err := json.Unmarshal(data[:nl], &hdr); err != nil || hdr.Type != protocol.ScorerUpload || hdr.V != protocol.Version || hdr.Name == "" {
		s.fail(c, hdr.ID, errors.New(`upload header must be {"v":1,"id":..,"type":"scorer.upload","name":..}`))
		return
	}
	m, err := s.host.Load(context.Background(), hdr.Name, data[nl+1:])
	if err != nil {
		s.fail(c, hdr.ID, err)
		return
	}
	s.mu.Lock()
	evicted, err := s.scorers.put(s.host, m, s.selected)
	s.mu.Unlock()
	if err != nil {
		s.fail(c, hdr.ID, err)
		return
	}
	if len(evicted) > 0 {
		s.broadcast(protocol.EventNotice, protocol.Error{Reason: fmt.Sprintf("scorer store full: removed %s (least recently used)", strings.Join(evicted, ", "))})
	}
	s.reply(c, hdr.ID, protocol.ListScorers, s.state())
}

var buildName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// build writes a plan as a model directory under the build directory,
// with progress events, and replies where it went.
func (s *Server) build(c *client, e *protocol.Envelope) {
	var req protocol.BuildRequest
	if err := e.Into(&req); err != nil {
		s.fail(c, e.ID, err)
		return
	}
	if !buildName.MatchString(req.Name) || strings.HasPrefix(req.Name, ".") {
		s.fail(c, e.ID, fmt.Errorf("build name %q: 1-64 letters, digits, '.', '_' or '-', not starting with '.'", req.Name))
		return
	}
	p, err := plan.ParseFor(req.Plan, s.ses.Family.Info())
	if err == nil {
		err = s.planFiles(p)
	}
	if err != nil {
		s.fail(c, e.ID, err)
		return
	}
	dt := map[string]safetensors.DType{"": "", "f32": safetensors.F32, "bf16": safetensors.BF16, "f16": safetensors.F16}[req.DType]
	if dt == "" && req.DType != "" {
		s.fail(c, e.ID, fmt.Errorf("dtype %q: f32, bf16 or f16", req.DType))
		return
	}
	out := filepath.Join(s.cfg.BuildDir, req.Name)
	err = s.jobs.submit(c, "build", func(context.Context) {
		res, err := build.Build(s.ses.Family.Builder, p, build.Options{Out: out, DType: dt, Force: true, Progress: func(done, total int) {
			if done == total || done%16 == 0 {
				s.reply(c, "", protocol.EventProgress, protocol.Progress{Op: "build", Done: done, Total: total})
			}
		}})
		if err != nil {
			s.fail(c, e.ID, err)
			return
		}
		abs, _ := filepath.Abs(res.Dir)
		s.reply(c, e.ID, protocol.ReplyBuild, protocol.BuildResult{Dir: abs, Tensors: res.Tensors, Bytes: res.Bytes, Mergekit: res.Mergekit})
	})
	if err != nil {
		s.fail(c, e.ID, err)
	}
}

// haveTasks fails a request that needs tasks when the server has none.
func (s *Server) haveTasks(c *client, id string) bool {
	if len(s.ses.Specs) == 0 {
		s.fail(c, id, errors.New("the server was started without --tasks"))
		return false
	}
	return true
}
