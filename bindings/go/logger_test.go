package gcdn_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

// logged is one slog record a client produced, with its attributes.
type logged struct {
	Level   slog.Level
	Message string
	Attrs   map[string]slog.Value
}

// recorder is a slog.Handler that keeps every record (safe for concurrent use).
type recorder struct {
	min   slog.Level
	mu    sync.Mutex
	recs  []logged
	panic bool // Handle panics, after recording
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.min }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *recorder) WithGroup(string) slog.Handler                { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	l := logged{Level: rec.Level, Message: rec.Message, Attrs: map[string]slog.Value{}}
	rec.Attrs(func(a slog.Attr) bool { l.Attrs[a.Key] = a.Value; return true })
	r.mu.Lock()
	r.recs = append(r.recs, l)
	r.mu.Unlock()
	if r.panic {
		panic("handler panics on purpose")
	}
	return nil
}

func (r *recorder) records() []logged {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logged(nil), r.recs...)
}

// events returns the records of one event.
func (r *recorder) events(event string) []logged {
	var out []logged
	for _, l := range r.records() {
		if l.Attrs["event"].String() == event {
			out = append(out, l)
		}
	}
	return out
}

// TestWithLogger: each HTTP attempt is a debug record with method, path, status, attempt
// and elapsed; a retry is an info record; the key is in none of them.
func TestWithLogger(t *testing.T) {
	setup(t)
	addFault(t, "POST", purgePath(5), 1, map[string]any{"respond": map[string]any{"status": 503, "body": "busy"}})
	rec := &recorder{min: slog.LevelDebug}
	c := newClient(t, gcdn.WithLogger(slog.New(rec)))
	if err := c.PurgeURLs(ctx, 5, []string{"/logged.png"}); err != nil {
		t.Fatal(err)
	}
	reqs := rec.events("request")
	if len(reqs) != 2 {
		t.Fatalf("%d request records, want 2 (503, then 201): %+v", len(reqs), rec.records())
	}
	for i, l := range reqs {
		wantStatus := []int64{503, 201}[i]
		if l.Level != slog.LevelDebug {
			t.Errorf("request record at %v, want debug", l.Level)
		}
		if got := l.Attrs["method"].String(); got != "POST" {
			t.Errorf("method %q", got)
		}
		if got := l.Attrs["path"].String(); got != purgePath(5) {
			t.Errorf("path %q, want %q", got, purgePath(5))
		}
		if got := l.Attrs["status"]; got.Kind() != slog.KindInt64 || got.Int64() != wantStatus {
			t.Errorf("status %v, want %d", got, wantStatus)
		}
		if got := l.Attrs["attempt"]; got.Kind() != slog.KindInt64 || got.Int64() != int64(i+1) {
			t.Errorf("attempt %v, want %d", got, i+1)
		}
		if got := l.Attrs["elapsed"]; got.Kind() != slog.KindDuration || got.Duration() < 0 || got.Duration() > 5*time.Second {
			t.Errorf("elapsed %v", got)
		}
		if !strings.Contains(l.Message, "POST") {
			t.Errorf("message %q", l.Message)
		}
	}
	retries := rec.events("retry")
	if len(retries) != 1 || retries[0].Level != slog.LevelInfo {
		t.Errorf("retry records: %+v, want one at info", retries)
	}
	for _, l := range rec.records() {
		text := l.Message
		for k, v := range l.Attrs {
			text += " " + k + "=" + v.String()
		}
		for _, k := range secrets {
			if strings.Contains(text, k) {
				t.Fatalf("a log record holds the API key: %s", text)
			}
		}
	}
}

// TestWithLoggerLevelsAndWaits: a logger at info gets no per-attempt records but does get
// the rate-limit wait, with its resource, duration and reason.
func TestWithLoggerLevelsAndWaits(t *testing.T) {
	setup(t)
	configure(t, map[string]any{"url_requests": 1, "url_window_ms": 300})
	rec := &recorder{min: slog.LevelInfo}
	// Paced by the account's limits (one URL purge per 300 ms): the second purge waits.
	c := newClient(t, gcdn.WithLogger(slog.New(rec)))
	for i := 0; i < 2; i++ {
		if err := c.PurgeURLs(ctx, 7, []string{fmt.Sprintf("/w%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range rec.records() {
		if l.Level < slog.LevelInfo {
			t.Errorf("record below the logger's level: %+v", l)
		}
	}
	if n := len(rec.events("request")); n != 0 {
		t.Errorf("%d request records at info, want none", n)
	}
	waits := rec.events("wait")
	if len(waits) == 0 {
		t.Fatalf("no wait record: %+v", rec.records())
	}
	w := waits[0]
	if w.Attrs["resource_id"].Int64() != 7 || w.Attrs["wait"].Duration() <= 0 || w.Attrs["reason"].String() == "" {
		t.Errorf("wait record %+v", w)
	}
}

// TestWithLoggerTraceAndPanic: LevelTrace lets the pacer's records through; a handler
// that panics loses its records but the call succeeds and the process lives.
func TestWithLoggerTraceAndPanic(t *testing.T) {
	setup(t)
	rec := &recorder{min: gcdn.LevelTrace, panic: true}
	c := newClient(t, gcdn.WithLogger(slog.New(rec)))
	for i := 0; i < 3; i++ {
		if err := c.PurgeURLs(ctx, 8, []string{"/p"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.events("request")) != 3 {
		t.Errorf("request records: %d, want 3", len(rec.events("request")))
	}
	if len(rec.events("pacer")) == 0 {
		t.Errorf("no pacer record at LevelTrace: %+v", rec.records())
	}
	for _, l := range rec.events("pacer") {
		if l.Level != gcdn.LevelTrace {
			t.Errorf("pacer record at %v", l.Level)
		}
	}
}

// TestWithLoggerConcurrent: many goroutines log through one client at once (run with
// -race); every attempt is recorded.
func TestWithLoggerConcurrent(t *testing.T) {
	setup(t)
	rec := &recorder{min: slog.LevelDebug}
	c := newClient(t, gcdn.WithLogger(slog.New(rec)))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := c.PurgeURLs(withTimeout(t, 10*time.Second), int64(20+g), []string{"/c"}); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	if n := len(rec.events("request")); n != 80 {
		t.Errorf("%d request records, want 80", n)
	}
}

// TestWithLoggerDuringRun: a job's requests run on the library's worker threads, whose
// records reach the logger too (cgo callbacks from threads Go did not start), one per
// request, alongside the Progress events on the caller's goroutine.
func TestWithLoggerDuringRun(t *testing.T) {
	setup(t)
	rec := &recorder{min: slog.LevelDebug}
	c := newClient(t, gcdn.WithLogger(slog.New(rec)))
	job := gcdn.NewJob()
	for id := int64(50); id < 56; id++ {
		if err := job.AddURLs(id, []string{"/a", "/b"}); err != nil {
			t.Fatal(err)
		}
	}
	events := 0
	report, err := c.Run(withTimeout(t, 30*time.Second), job, gcdn.RunOptions{Progress: func(gcdn.Event) error {
		events++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, l := range rec.events("request") {
		if l.Attrs["method"].String() == "POST" && l.Attrs["status"].Int64() == 201 {
			paths[l.Attrs["path"].String()] = true
		}
	}
	if len(paths) != 6 || report.Totals.Purged != 6 || events == 0 {
		t.Errorf("request records for %d resources (%v), %d purged, %d events", len(paths), paths, report.Totals.Purged, events)
	}
}
