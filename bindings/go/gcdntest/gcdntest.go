// Package gcdntest runs the gcdn emulator (a local Gcore CDN API with rate limits and faults)
// for your tests:
//
//	func TestPurge(t *testing.T) {
//		emu := gcdntest.Start(t, gcdntest.WithResources(5))   // stopped by t.Cleanup
//		c, err := gcdn.NewClient(emu.APIKey(), gcdn.WithBaseURL(emu.URL()))
//		...
//		if err := c.PurgeURLs(ctx, 5, []string{"/index.html"}); err != nil { t.Fatal(err) }
//		if got := emu.Requests(); got[0].Path != "/cdn/resources/5/purge" { ... }
//	}
//
// The emulator is a separate program, gcdn-emulator, looked for in this order: [WithBinary];
// $GCDN_EMULATOR; the build tree of the gcdn checkout this package was compiled from
// (target/release/gcdn-emulator); gcdn-emulator on PATH (`make install` puts it in
// PREFIX/bin). It listens on 127.0.0.1 only, on a free port. Its command line and control
// API are documented in the repository's emulator/README.md.
//
// The package uses only the standard library (no cgo). Methods that talk to the emulator
// fail the test (t.Fatalf) when the emulator refuses or does not answer, so call them from
// the test's goroutine.
package gcdntest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultAPIKey is the API key the emulator accepts unless [WithAPIKey] says otherwise.
const DefaultAPIKey = "test-key"

// Emulator is a running gcdn-emulator process.
type Emulator struct {
	t       testing.TB
	url     string
	edgeURL string
	apiKey  string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	done    chan struct{}
	stop    sync.Once
	control *http.Client
}

type config struct {
	binary    string
	apiKey    string
	resources []int64
	args      []string
	timeout   time.Duration
}

// An Option changes how [Start] starts the emulator.
type Option func(*config)

// WithBinary runs this gcdn-emulator program.
func WithBinary(path string) Option { return func(c *config) { c.binary = path } }

// WithAPIKey sets the API key the emulator accepts (default [DefaultAPIKey]).
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithResources makes these resources exist from the start, and again after every Reset.
func WithResources(ids ...int64) Option {
	return func(c *config) { c.resources = append(c.resources, ids...) }
}

// WithArgs passes more command-line options, e.g. "--url-requests", "1000"
// (see gcdn-emulator --help).
func WithArgs(args ...string) Option { return func(c *config) { c.args = append(c.args, args...) } }

// WithStartTimeout bounds how long Start waits for the emulator to serve (default 10 s).
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// FindBinary returns the path of the gcdn-emulator program ($GCDN_EMULATOR, the checkout's
// build tree, PATH), or an error saying where it looked.
func FindBinary() (string, error) {
	var tried []string
	if env := os.Getenv("GCDN_EMULATOR"); env != "" {
		if isExecutable(env) {
			return env, nil
		}
		return "", fmt.Errorf("gcdntest: GCDN_EMULATOR=%s is not an executable file", env)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		p := filepath.Join(filepath.Dir(file), "..", "..", "..", "target", "release", "gcdn-emulator")
		if isExecutable(p) {
			return filepath.Clean(p), nil
		}
		tried = append(tried, filepath.Clean(p)+" (the checkout's build tree)")
	}
	if p, err := exec.LookPath("gcdn-emulator"); err == nil {
		return p, nil
	}
	tried = append(tried, "gcdn-emulator on PATH")
	return "", fmt.Errorf("gcdntest: cannot find the gcdn-emulator program; looked at %s. "+
		"`make install` (or `cargo build --release --workspace`) in the gcdn repository, "+
		"or set GCDN_EMULATOR to its path", strings.Join(tried, ", "))
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Start starts an emulator for the test and stops it when the test ends (t.Cleanup). It
// fails the test if the program cannot be found or does not start.
func Start(t testing.TB, opts ...Option) *Emulator {
	t.Helper()
	cfg := config{apiKey: DefaultAPIKey, timeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.apiKey == "" {
		t.Fatal("gcdntest: the API key must not be empty")
	}
	bin := cfg.binary
	if bin == "" {
		var err error
		if bin, err = FindBinary(); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--port", "0", "--edge-port", "0", "--quiet", "--exit-on-stdin-eof"}
	if len(cfg.resources) > 0 {
		ids := make([]string, len(cfg.resources))
		for i, id := range cfg.resources {
			ids[i] = strconv.FormatInt(id, 10)
		}
		args = append(args, "--seed", strings.Join(ids, ","))
	}
	args = append(args, cfg.args...)
	cmd := exec.Command(bin, args...)
	// The key goes through the environment, not the command line (visible in ps).
	cmd.Env = append(os.Environ(), "GCDN_EMULATOR_API_KEY="+cfg.apiKey)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("gcdntest: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("gcdntest: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("gcdntest: cannot start %s: %v", bin, err)
	}
	e := &Emulator{
		t: t, apiKey: cfg.apiKey, cmd: cmd, stdin: stdin, done: make(chan struct{}),
		// No proxy: the emulator is on loopback.
		control: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}},
	}
	go func() { cmd.Wait(); close(e.done) }()
	t.Cleanup(e.Stop)

	lines := make(chan [2]string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		first, _ := r.ReadString('\n')
		var edge string
		if strings.HasPrefix(first, "GCDN_EMULATOR_URL=") {
			edge, _ = r.ReadString('\n') // the edge's line follows at once (--edge-port)
		}
		lines <- [2]string{strings.TrimSpace(first), strings.TrimSpace(edge)}
		io.Copy(io.Discard, r)
	}()
	select {
	case s := <-lines:
		url, ok := strings.CutPrefix(s[0], "GCDN_EMULATOR_URL=")
		edge, edgeOK := strings.CutPrefix(s[1], "GCDN_EMULATOR_EDGE_URL=")
		if !ok || !edgeOK {
			e.Stop()
			t.Fatalf("gcdntest: %s did not start: it printed %q", bin, strings.TrimSpace(s[0]+"\n"+s[1]))
		}
		e.url, e.edgeURL = url, edge
	case <-time.After(cfg.timeout):
		e.Stop()
		t.Fatalf("gcdntest: %s printed no URL within %v", bin, cfg.timeout)
	}
	return e
}

// Stop stops the emulator (idempotent; Start registers it with t.Cleanup).
func (e *Emulator) Stop() {
	e.stop.Do(func() {
		e.stdin.Close() // --exit-on-stdin-eof
		select {
		case <-e.done:
		case <-time.After(5 * time.Second):
			e.cmd.Process.Kill()
			<-e.done
		}
	})
}

// URL is the base URL, http://127.0.0.1:PORT: pass it to gcdn.WithBaseURL.
func (e *Emulator) URL() string { return e.url }

// EdgeURL is the emulator's edge, http://127.0.0.1:PORT: give it in the run's Edges (probes go
// there with the URL's host in Host). It serves the resources' paths from a cache keyed as the
// resource's options say, answers Cache, X-Cached-Since and X-ID, and is emptied by purges as
// their items say.
func (e *Emulator) EdgeURL() string { return e.edgeURL }

// APIKey is the key the emulator accepts (any other gets 401).
func (e *Emulator) APIKey() string { return e.apiKey }

// Control sends a request to the control API (/__emulator/<path>) and returns the answer's
// body; it fails the test if the emulator refuses it.
func (e *Emulator) Control(method, path string, body any) []byte {
	e.t.Helper()
	out, err := e.call(method, path, body)
	if err != nil {
		e.t.Fatalf("gcdntest: %v", err)
	}
	return out
}

func (e *Emulator) call(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+"/__emulator/"+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.control.Do(req)
	if err != nil {
		return nil, fmt.Errorf("emulator control %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return out, &ControlError{Method: method, Path: path, Status: resp.StatusCode, Body: string(out)}
	}
	return out, nil
}

// ControlError is a control request the emulator refused.
type ControlError struct {
	Method, Path string
	Status       int
	Body         string
}

func (c *ControlError) Error() string {
	return fmt.Sprintf("emulator control %s %s: HTTP %d: %s", c.Method, c.Path, c.Status, c.Body)
}

// Request is an API request the emulator received.
type Request struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"` // with the query
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Status  int               `json:"status"` // 0 if none was answered (dropped, stalled...)
}

// Requests returns the API requests received since the start or the last Reset, oldest first.
func (e *Emulator) Requests() []Request {
	e.t.Helper()
	var list []Request
	if err := json.Unmarshal(e.Control("GET", "requests", nil), &list); err != nil {
		e.t.Fatalf("gcdntest: requests: %v", err)
	}
	return list
}

// ClearRequests forgets the recorded requests.
func (e *Emulator) ClearRequests() {
	e.t.Helper()
	e.Control("DELETE", "requests", nil)
}

// A ResourceOption describes a resource for AddResource.
type ResourceOption func(map[string]any)

// Inactive makes the resource suspended (active: false).
func Inactive() ResourceOption { return func(m map[string]any) { m["active"] = false } }

// Refusal makes deleting the resource fail as the API does for a "primary", "streaming" or
// "custom" resource.
func Refusal(kind string) ResourceOption { return func(m map[string]any) { m["refusal"] = kind } }

// CNAME sets the resource's CNAME.
func CNAME(name string) ResourceOption { return func(m map[string]any) { m["cname"] = name } }

// SecondaryHostnames sets the resource's secondary host names.
func SecondaryHostnames(names ...string) ResourceOption {
	return func(m map[string]any) { m["secondaryHostnames"] = append([]string{}, names...) }
}

// CannotPurgeByURLs makes the resource refuse purges by URL.
func CannotPurgeByURLs() ResourceOption {
	return func(m map[string]any) { m["can_purge_by_urls"] = false }
}

// AddResource adds (or replaces) a resource, active unless [Inactive], and returns it as the
// emulator holds it; it fails the test if the emulator refuses (see [Emulator.TryAddResource]).
func (e *Emulator) AddResource(id int64, opts ...ResourceOption) map[string]any {
	e.t.Helper()
	r, err := e.TryAddResource(id, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// TryAddResource is AddResource returning an error instead of failing the test. An emulator
// too old to know an option is an error (and the resource is not kept), never ignored.
func (e *Emulator) TryAddResource(id int64, opts ...ResourceOption) (map[string]any, error) {
	want := map[string]any{}
	for _, o := range opts {
		o(want)
	}
	body := map[string]any{"id": id, "active": true}
	for k, v := range want {
		body[k] = v
	}
	out, err := e.call("POST", "resources", body)
	if err != nil {
		return nil, fmt.Errorf("gcdntest: %w", err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, fmt.Errorf("gcdntest: add resource %d: %w", id, err)
	}
	for k, v := range want {
		w, _ := json.Marshal(v)
		g, _ := json.Marshal(got[k])
		if !bytes.Equal(w, g) {
			e.call("DELETE", fmt.Sprintf("resources/%d", id), nil)
			return nil, fmt.Errorf("gcdntest: this gcdn-emulator does not support %q on resources "+
				"(it answered %s); use a newer one", k, out)
		}
	}
	return got, nil
}

// Resource returns the resource as the emulator holds it, and whether it exists.
func (e *Emulator) Resource(id int64) (map[string]any, bool) {
	e.t.Helper()
	out, err := e.call("GET", fmt.Sprintf("resources/%d", id), nil)
	if ce, ok := err.(*ControlError); ok && ce.Status == 404 {
		return nil, false
	} else if err != nil {
		e.t.Fatalf("gcdntest: %v", err)
	}
	var r map[string]any
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatalf("gcdntest: resource %d: %v", id, err)
	}
	return r, true
}

// RemoveResource removes a resource; false if there was none.
func (e *Emulator) RemoveResource(id int64) bool {
	e.t.Helper()
	_, err := e.call("DELETE", fmt.Sprintf("resources/%d", id), nil)
	if ce, ok := err.(*ControlError); ok && ce.Status == 404 {
		return false
	} else if err != nil {
		e.t.Fatalf("gcdntest: %v", err)
	}
	return true
}

// A Fault is queued by SetFault: the next Times (default 1) API requests matching Method and
// PathPrefix (empty: any) get Action instead of the real answer.
type Fault struct {
	Method     string
	PathPrefix string
	Times      int
	Action     Action
}

// An Action is a fault's effect, in the control API's form (emulator/README.md).
type Action map[string]any

// Respond answers with this status, body (a string, or any value sent as JSON) and headers.
func Respond(status int, body any, headers map[string]string) Action {
	return Action{"respond": map[string]any{"status": status, "body": body, "headers": headers}}
}

// Delay sends the real answer d later.
func Delay(d time.Duration) Action { return Action{"delay_ms": d.Milliseconds()} }

// Drop closes the connection without a byte.
func Drop() Action { return Action{"drop": true} }

// Stall never answers.
func Stall() Action { return Action{"stall": true} }

// CloseAfter sends the real answer, then closes the connection unannounced.
func CloseAfter() Action { return Action{"close_after": true} }

// Truncate sends the head with the full Content-Length and only cutAfter body bytes.
func Truncate(status int, body string, cutAfter int) Action {
	return Action{"truncate": map[string]any{"status": status, "body": body, "cut_after": cutAfter}}
}

// Garbage sends these bytes, not HTTP, then closes.
func Garbage(data string) Action { return Action{"garbage": data} }

// SetFault queues a fault; faults are checked in the order queued, before anything else.
func (e *Emulator) SetFault(f Fault) {
	e.t.Helper()
	times := f.Times
	if times == 0 {
		times = 1
	}
	body := map[string]any{"times": times, "action": f.Action}
	if f.Method != "" {
		body["method"] = f.Method
	}
	if f.PathPrefix != "" {
		body["path_prefix"] = f.PathPrefix
	}
	e.Control("POST", "faults", body)
}

// ClearFaults drops the queued faults.
func (e *Emulator) ClearFaults() {
	e.t.Helper()
	e.Control("DELETE", "faults", nil)
}

// Configure changes limits and modes: url_requests, url_window_ms, pattern_requests,
// pattern_window_ms, all_requests, all_window_ms, max_urls, max_patterns, retry_after
// ("none", "seconds", "date"), record.
func (e *Emulator) Configure(settings map[string]any) {
	e.t.Helper()
	e.Control("POST", "config", settings)
}

// Reset goes back to the start: the seeded resources only, no faults, no recorded requests,
// empty rate windows, the start limits, an empty edge.
func (e *Emulator) Reset() {
	e.t.Helper()
	e.Control("POST", "reset", nil)
}

// EdgeIgnorePurges makes the edge keep these paths cached through purges ("/app.js": that path
// with any query; "/static/*": every path starting so): a URL that stays stale.
func (e *Emulator) EdgeIgnorePurges(paths ...string) {
	e.t.Helper()
	e.Control("POST", "edge/ignore", map[string]any{"paths": paths})
}

// EdgeStore caches paths of a resource at the edge as if fetched at cachedSince (the zero
// time: now); it returns the cache keys used.
func (e *Emulator) EdgeStore(resourceID int64, cachedSince time.Time, paths ...string) []string {
	e.t.Helper()
	body := map[string]any{"resource_id": resourceID, "paths": paths}
	if !cachedSince.IsZero() {
		body["cached_since"] = cachedSince.UTC().Format(time.RFC3339Nano)
	}
	var out struct {
		Keys []string `json:"keys"`
	}
	if err := json.Unmarshal(e.Control("POST", "edge/cache", body), &out); err != nil {
		e.t.Fatalf("gcdntest: edge/cache: %v", err)
	}
	return out.Keys
}

// EdgeRequest is a request the emulator's edge received.
type EdgeRequest struct {
	Method  string            `json:"method"`
	Host    string            `json:"host"`
	Path    string            `json:"path"` // with the query
	Headers map[string]string `json:"headers"`
	Status  int               `json:"status"`
	Cache   string            `json:"cache"` // HIT, MISS, BYPASS, or "" when none was answered
}

// EdgeRequests returns the requests the edge received since the start or the last Reset,
// oldest first.
func (e *Emulator) EdgeRequests() []EdgeRequest {
	e.t.Helper()
	var list []EdgeRequest
	if err := json.Unmarshal(e.Control("GET", "edge/requests", nil), &list); err != nil {
		e.t.Fatalf("gcdntest: edge/requests: %v", err)
	}
	return list
}
