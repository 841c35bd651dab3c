package gcdn

/*
#include <stdlib.h>
#include "gcdn.h"
*/
import "C"

import (
	"context"
	"errors"
)

// Status codes, as returned by the C library. They are taken from gcdn.h at build time,
// so they cannot drift from it.
const (
	StatusOK              = int(C.GCDN_OK)                   // success
	StatusInvalidArgument = int(C.GCDN_ERR_INVALID_ARGUMENT) // input refused before any request
	StatusUnauthorized    = int(C.GCDN_ERR_UNAUTHORIZED)     // HTTP 401 or 403
	StatusNotFound        = int(C.GCDN_ERR_NOT_FOUND)        // HTTP 404
	StatusRateLimited     = int(C.GCDN_ERR_RATE_LIMITED)     // HTTP 429 beyond the wait budget
	StatusRejected        = int(C.GCDN_ERR_REJECTED)         // any other 4xx
	StatusServer          = int(C.GCDN_ERR_SERVER)           // HTTP 5xx, after retries
	StatusNetwork         = int(C.GCDN_ERR_NETWORK)          // DNS, connect, TLS, reset
	StatusTimeout         = int(C.GCDN_ERR_TIMEOUT)          // an attempt or the call timed out
	StatusProtocol        = int(C.GCDN_ERR_PROTOCOL)         // a response that makes no sense
	StatusInternal        = int(C.GCDN_ERR_PANIC)            // a bug in gcdn, caught
	StatusCancelled       = int(C.GCDN_ERR_CANCELLED)        // the call's context was cancelled
	StatusStale           = int(C.GCDN_ERR_STALE)            // verified: an edge still serves a copy cached before the purge
)

// MaxItems is the most URLs or patterns one purge call accepts.
const MaxItems = int(C.GCDN_MAX_ITEMS)

// Error is an error reported by the library: a status code (one of the Status constants)
// and a message. The message never contains the API key.
//
// Compare with the sentinel values using errors.Is, which matches by status:
//
//	if errors.Is(err, gcdn.ErrNotFound) { ... }
//
// and get the details with errors.As:
//
//	var e *gcdn.Error
//	if errors.As(err, &e) { log.Print(e.Status, e.Message) }
type Error struct {
	Status  int
	Message string
	// HTTPStatus is the HTTP status of the API's answer that failed the call (404, 429,
	// 503, ...): for Client.Run, the first failed request's. 0 when no answer was the cause
	// (input refused, network failure, timeout, cancel, a wait the pacer refused).
	HTTPStatus int
}

// Error returns "gcdn: " followed by the message.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = StatusText(e.Status)
	}
	return "gcdn: " + msg
}

// Is reports whether target is an *Error with the same status, so that
// errors.Is(err, gcdn.ErrNotFound) works. An error with status StatusTimeout also
// matches context.DeadlineExceeded (a time limit ran out), and one with status
// StatusCancelled matches context.Canceled (the call's context was cancelled mid-call).
func (e *Error) Is(target error) bool {
	if t, ok := target.(*Error); ok {
		return e != nil && t != nil && t.Status == e.Status
	}
	if e == nil {
		return false
	}
	return (target == context.DeadlineExceeded && e.Status == StatusTimeout) ||
		(target == context.Canceled && e.Status == StatusCancelled)
}

func sentinel(status int) *Error {
	return &Error{Status: status, Message: StatusText(status)}
}

// Sentinel errors, one per status: test with errors.Is.
var (
	ErrInvalidArgument = sentinel(StatusInvalidArgument)
	ErrUnauthorized    = sentinel(StatusUnauthorized)
	ErrNotFound        = sentinel(StatusNotFound)
	ErrRateLimited     = sentinel(StatusRateLimited)
	ErrRejected        = sentinel(StatusRejected)
	ErrServer          = sentinel(StatusServer)
	ErrNetwork         = sentinel(StatusNetwork)
	ErrTimeout         = sentinel(StatusTimeout)
	ErrProtocol        = sentinel(StatusProtocol)
	ErrInternal        = sentinel(StatusInternal)
	ErrCancelled       = sentinel(StatusCancelled)
	ErrStale           = sentinel(StatusStale)
)

// ErrClosed is returned by calls on a Client after Close.
var ErrClosed = errors.New("gcdn: the client is closed")

// StatusText returns the library's short description of a status code, such as
// "not found"; "unknown status" for a code it does not know.
func StatusText(status int) string {
	if status < -1<<31 || status > 1<<31-1 {
		return C.GoString(C.gcdn_status_str(-1))
	}
	return C.GoString(C.gcdn_status_str(C.int32_t(status)))
}

// takeError turns a status and a message from the library into an error (nil for
// StatusOK) and frees the message.
func takeError(status C.int32_t, msg *C.char) error {
	var text string
	if msg != nil {
		text = C.GoString(msg)
		C.gcdn_string_free(msg)
	}
	if status == C.GCDN_OK {
		return nil
	}
	return &Error{Status: int(status), Message: text}
}

// invalid is an ErrInvalidArgument detected on the Go side, before calling the library.
func invalid(message string) error {
	return &Error{Status: StatusInvalidArgument, Message: message}
}
