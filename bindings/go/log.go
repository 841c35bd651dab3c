package gcdn

/*
#include <stdint.h>
#include "gcdn.h"

// Declared by the //export in callbacks.go.
extern void gcdnGoLog(gcdn_log_record *record, void *user_data);

// gcdn_go_ptr turns a cgo.Handle into the void * user_data the library passes back.
static inline void *gcdn_go_ptr(uintptr_t handle) { return (void *)handle; }
*/
import "C"

import (
	"context"
	"log/slog"
	"runtime/cgo"
	"time"
	"unsafe"
)

// LevelTrace is the slog level of the library's trace records (each pacer decision),
// below slog.LevelDebug.
const LevelTrace = slog.Level(-8)

// WithLogger sends the library's log records to logger, as slog records:
//
//   - "request" (one per HTTP attempt) at slog.LevelDebug, with the attributes method,
//     path (below the base URL), status (the HTTP status; absent when no answer came),
//     attempt (from 1) and elapsed (a time.Duration);
//   - "retry", "wait" (with resource_id, kind, wait and reason: pacer, 429, retry-after,
//     backoff) and "limits" at slog.LevelInfo;
//   - "rate_limited" (a 429; resource_id, kind, wait = Retry-After) and "store_fallback" at
//     slog.LevelWarn;
//   - "pacer" (each pacer decision) at LevelTrace.
//
// Every record also has the attribute event (the names above). No record holds the API
// key, the Authorization header or a URL password.
//
// Records are handled on the goroutine (or, for a job's concurrent requests, the library
// thread) that makes the request, while no lock of gcdn's, Go's or the library's, is held,
// and the call waits for the handler: keep it short. Which levels reach the handler is
// decided from logger's Enabled when NewClient runs (later changes of a slog.LevelVar do
// not let lower records in), and each record is checked with Enabled again before Handle.
// A handler that panics loses its record; the panic does not reach the library.
func WithLogger(logger *slog.Logger) Option { return func(s *settings) { s.logger = logger } }

// logSink is the state of one client's logger, reached from C through its handle.
type logSink struct {
	logger *slog.Logger
	handle cgo.Handle
}

func newLogSink(l *slog.Logger) *logSink {
	s := &logSink{logger: l}
	s.handle = cgo.NewHandle(s)
	return s
}

// release deletes the handle; the client's handle must be freed first.
func (s *logSink) release() {
	if s != nil {
		s.handle.Delete()
	}
}

// levels maps the library's GCDN_LOG_ERROR (1) .. GCDN_LOG_TRACE (5) to slog.
var levels = [...]slog.Level{slog.LevelError, slog.LevelError, slog.LevelWarn, slog.LevelInfo, slog.LevelDebug, LevelTrace}

func slogLevel(l C.int32_t) slog.Level {
	if l < 1 || int(l) >= len(levels) {
		return slog.LevelError
	}
	return levels[l]
}

// maxLevel is the highest library level the logger is enabled for (at least
// GCDN_LOG_ERROR).
func (s *logSink) maxLevel() C.int32_t {
	for l := C.int32_t(C.GCDN_LOG_TRACE); l > C.GCDN_LOG_ERROR; l-- {
		if s.logger.Enabled(context.Background(), slogLevel(l)) {
			return l
		}
	}
	return C.GCDN_LOG_ERROR
}

// install sets the sink as the log function of the options.
func (s *logSink) install(o *C.gcdn_options) error {
	var cerr *C.char
	status := C.gcdn_options_set_log(o, C.gcdn_log_fn(C.gcdnGoLog),
		C.gcdn_go_ptr(C.uintptr_t(s.handle)), s.maxLevel(), &cerr)
	return takeError(status, cerr)
}

// goString is C.GoString, with "" for NULL.
func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// handle makes the slog record of a library record and hands it to the logger.
func (s *logSink) emit(rec *C.gcdn_log_record) {
	level := slogLevel(rec.level)
	ctx := context.Background()
	if !s.logger.Enabled(ctx, level) {
		return
	}
	event := goString(rec.event)
	r := slog.NewRecord(time.Now(), level, goString(rec.message), 0)
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("event", event))
	if rec.method != nil {
		attrs = append(attrs, slog.String("method", C.GoString(rec.method)))
	}
	if rec.path != nil {
		attrs = append(attrs, slog.String("path", C.GoString(rec.path)))
	}
	if rec.http_status != 0 {
		attrs = append(attrs, slog.Int("status", int(rec.http_status)))
	}
	if rec.attempt != 0 {
		attrs = append(attrs, slog.Int("attempt", int(rec.attempt)))
	}
	if event == "request" {
		attrs = append(attrs, slog.Duration("elapsed", time.Duration(rec.elapsed_ms)*time.Millisecond))
	}
	if rec.resource_id != 0 {
		attrs = append(attrs, slog.Int64("resource_id", int64(rec.resource_id)))
	}
	if rec.kind != nil {
		attrs = append(attrs, slog.String("kind", C.GoString(rec.kind)))
	}
	if rec.wait_ms != 0 {
		attrs = append(attrs, slog.Duration("wait", time.Duration(rec.wait_ms)*time.Millisecond))
	}
	if rec.reason != nil {
		attrs = append(attrs, slog.String("reason", C.GoString(rec.reason)))
	}
	r.AddAttrs(attrs...)
	_ = s.logger.Handler().Handle(ctx, r)
}

// logFromC is the body of the exported gcdnGoLog.
func logFromC(rec *C.gcdn_log_record, user unsafe.Pointer) {
	defer func() { _ = recover() }() // a handler's panic must not unwind into the library
	if rec == nil || user == nil {
		return
	}
	if s, ok := cgo.Handle(uintptr(user)).Value().(*logSink); ok {
		s.emit(rec)
	}
}
