package gcdn

/*
#include <stdlib.h>
#include "gcdn.h"
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Version is the version of this Go binding, sent in the User-Agent header as
// gcdn-go/<Version>.
const Version = "0.1.0"

// LibraryVersion returns the version of the C library the binding is linked with.
func LibraryVersion() string {
	return C.GoString(C.gcdn_version())
}

// Client calls the Gcore CDN API. It is safe for concurrent use by many goroutines, which
// share its pool of keep-alive connections. Close it when done; a Client that becomes
// unreachable without Close is closed by a finalizer.
type Client struct {
	// mu guards h, calls and logger. It is held only to count a call in or out, never
	// across a library call (so never across network I/O, a log record or a progress
	// event): Close waits on idle for the calls in flight instead.
	mu     sync.Mutex
	idle   sync.Cond // signalled when calls drops to 0
	h      *C.gcdn_client
	calls  int         // library calls in flight
	closed atomic.Bool // set first by Close: new calls fail at once, not behind its wait
	logger *logSink    // the WithLogger sink, released after the handle is freed
	slots  []runSlot   // idle run slots for single calls with a context
}

// finalized counts the clients closed by their finalizer (for the tests).
var finalized atomic.Int64

// settings collects what the Options ask for.
type settings struct {
	baseURL     *string
	timeout     *time.Duration
	maxRetries  *int
	rateWait    *time.Duration
	urlInterval time.Duration
	patInterval time.Duration
	intervals   bool
	caFile      *string
	userAgent   string
	logger      *slog.Logger
	rateStore   *string
	failClosed  bool
	noCoalesce  bool
}

// An Option changes a setting of NewClient.
type Option func(*settings)

// WithBaseURL sets the API's base URL (default: $GCORE_BASE_URL, else
// https://api.gcore.com). Plain http:// is accepted only for loopback hosts.
func WithBaseURL(url string) Option { return func(s *settings) { s.baseURL = &url } }

// WithTimeout sets the timeout of one HTTP attempt: connecting, sending and reading the
// whole response (default 30 s). It must be positive; it is rounded up to milliseconds.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = &d } }

// WithMaxRetries sets how many times a request is retried after a 408, a 5xx, a
// connection failure or a timeout, with exponential backoff (default 2, at most 100;
// 0 disables retries).
func WithMaxRetries(n int) Option { return func(s *settings) { s.maxRetries = &n } }

// WithMaxRateLimitWait sets the most one request may wait in total on rate limits: its
// pacer slot, HTTP 429s and Retry-After (default 150 s). A wait that would go past it is
// refused at once with ErrRateLimited, saying how long it would have been. 0 means never
// wait: a 429 fails at once with ErrRateLimited. A long list paces itself to the rate limit beyond that: bound a whole
// call with its context.
func WithMaxRateLimitWait(d time.Duration) Option {
	return func(s *settings) { s.rateWait = &d }
}

// WithPurgeIntervals sets how long to wait after a 429 without Retry-After: for purges by
// URL and for purges by pattern and purge-all. Both must be positive. Unset, the client
// reads the account's own limits at the first such 429, else uses the documented 30 s and
// 60 s.
func WithPurgeIntervals(url, pattern time.Duration) Option {
	return func(s *settings) {
		s.urlInterval, s.patInterval, s.intervals = url, pattern, true
	}
}

// WithCAFile trusts the CA certificates of the PEM file at path instead of the bundled
// root certificates (e.g. for a corporate TLS proxy). Verification stays on.
func WithCAFile(path string) Option { return func(s *settings) { s.caFile = &path } }

// WithUserAgent appends token (printable ASCII, e.g. "myapp/2.1") to the User-Agent
// header, after gcdn/<library version> gcdn-go/<Version> go/<Go version>.
func WithUserAgent(token string) Option { return func(s *settings) { s.userAgent = token } }

// WithRateStore shares pacing through the Redis server at url with every client, in any
// process or on any host, that uses the same store and the same API key:
// redis://[[user]:password@]host[:port][/db] (port 6379 and db 0 by default, %XX escapes in
// the user and password), or rediss://... for TLS (the server's certificate verified
// against the bundled roots, or the WithCAFile file). The URL is checked by NewClient: a
// malformed one, or a library built without shared pacing, is ErrInvalidArgument, and no
// message ever shows the password. Unset: the GCDN_RATE_STORE environment variable;
// neither: each client paces on its own. A store that cannot be used (unreachable,
// refused password, no answer in time, garbage) leaves that call to the client's own
// pacing, said once by the log (store_fallback, warn), unless WithRateStoreFailClosed.
func WithRateStore(url string) Option { return func(s *settings) { s.rateStore = &url } }

// WithRateStoreFailClosed makes a call whose rate store cannot be used fail with
// ErrNetwork (the message names the store, never its password) instead of pacing on its
// own (the default, fail-open). It applies to the store of WithRateStore or of
// GCDN_RATE_STORE.
func WithRateStoreFailClosed() Option { return func(s *settings) { s.failClosed = true } }

// WithCoalesce(false) gives each call's items requests of their own, as gcdn 0.2 did. By
// default (true) calls of a client that wait for a purge slot on the same resource and kind
// share requests: when the slot opens one request carries the waiting items of every such
// call, de-duplicated, up to the per-request limit; a call returns nil only when the request
// that carried its items succeeded, else that request's error (the message says it was
// shared, by how many calls). The first call in a free window goes at once, alone.
func WithCoalesce(on bool) Option { return func(s *settings) { s.noCoalesce = !on } }

// millis converts a duration to whole milliseconds, rounding up; min is the least allowed
// duration (0 or 1 ns).
func millis(name string, d, min time.Duration) (C.uint64_t, error) {
	if d < min {
		if min > 0 {
			return 0, invalid(fmt.Sprintf("%s must be positive, got %v", name, d))
		}
		return 0, invalid(fmt.Sprintf("%s must not be negative, got %v", name, d))
	}
	return ceilMillis(d), nil
}

// ceilMillis is d (not negative) in milliseconds, rounded up.
func ceilMillis(d time.Duration) C.uint64_t {
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	return C.uint64_t(ms)
}

// cstring is C.CString for a string that must not contain a NUL byte.
func cstring(name, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalid(name + " contains a NUL byte")
	}
	return C.CString(s), nil
}

// goToken is runtime.Version() as a User-Agent product version, e.g. "1.22.3".
func goToken() string {
	v := strings.TrimPrefix(runtime.Version(), "devel ")
	if f := strings.Fields(v); len(f) > 0 {
		v = f[0]
	}
	v = strings.TrimPrefix(v, "go")
	v = strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return r
		}
		return '_'
	}, v)
	if len(v) > 40 {
		v = v[:40]
	}
	if v == "" {
		v = "unknown"
	}
	return v
}

// userAgentSuffix is what the binding appends to the library's User-Agent.
func userAgentSuffix(token string) string {
	s := "gcdn-go/" + Version + " go/" + goToken()
	if token != "" {
		s += " " + token
	}
	return s
}

// NewClient creates a client that authenticates with apiKey. An empty apiKey means the
// GCORE_API_KEY environment variable, as in the C library. No request is sent here.
//
// The key is never put in an error message.
func NewClient(apiKey string, opts ...Option) (*Client, error) {
	var s settings
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}

	o := C.gcdn_options_new()
	if o == nil {
		return nil, &Error{Status: StatusInternal, Message: "out of memory"}
	}
	defer C.gcdn_options_free(o)

	var cerr *C.char
	// check reads cerr after the call that set it (in takeError(C.f(&cerr), cerr) the
	// order in which the call and the read happen is unspecified).
	check := func(status C.int32_t) error { return takeError(status, cerr) }
	setString := func(name string, v string, set func(*C.char) C.int32_t) error {
		cs, err := cstring(name, v)
		if err != nil {
			return err
		}
		defer C.free(unsafe.Pointer(cs))
		return check(set(cs))
	}

	if s.baseURL != nil {
		err := setString("base URL", *s.baseURL, func(cs *C.char) C.int32_t {
			return C.gcdn_options_set_base_url(o, cs, &cerr)
		})
		if err != nil {
			return nil, err
		}
	}
	if s.timeout != nil {
		ms, err := millis("timeout", *s.timeout, 1)
		if err != nil {
			return nil, err
		}
		if err := check(C.gcdn_options_set_timeout_ms(o, ms, &cerr)); err != nil {
			return nil, err
		}
	}
	if s.maxRetries != nil {
		n := *s.maxRetries
		if n < 0 || int64(n) > 1<<32-1 {
			return nil, invalid(fmt.Sprintf("max retries must be 0 to 100, got %d", n))
		}
		if err := check(C.gcdn_options_set_max_retries(o, C.uint32_t(n), &cerr)); err != nil {
			return nil, err
		}
	}
	if s.rateWait != nil {
		ms, err := millis("rate-limit wait", *s.rateWait, 0)
		if err != nil {
			return nil, err
		}
		if err := check(C.gcdn_options_set_max_rate_limit_wait_ms(o, ms, &cerr)); err != nil {
			return nil, err
		}
	}
	if s.intervals {
		u, err := millis("URL purge interval", s.urlInterval, 1)
		if err != nil {
			return nil, err
		}
		p, err := millis("pattern purge interval", s.patInterval, 1)
		if err != nil {
			return nil, err
		}
		if err := check(C.gcdn_options_set_purge_intervals_ms(o, u, p, &cerr)); err != nil {
			return nil, err
		}
	}
	if s.caFile != nil {
		err := setString("CA file path", *s.caFile, func(cs *C.char) C.int32_t {
			return C.gcdn_options_set_ca_file(o, cs, &cerr)
		})
		if err != nil {
			return nil, err
		}
	}
	if s.rateStore != nil {
		err := setString("rate store URL", *s.rateStore, func(cs *C.char) C.int32_t {
			return C.gcdn_options_set_rate_store(o, cs, &cerr)
		})
		if err != nil {
			return nil, err
		}
	}
	if s.failClosed {
		if err := check(C.gcdn_options_set_rate_store_fail_closed(o, 1, &cerr)); err != nil {
			return nil, err
		}
	}
	if s.noCoalesce {
		if err := check(C.gcdn_options_set_coalesce(o, 0, &cerr)); err != nil {
			return nil, err
		}
	}
	err := setString("User-Agent token", userAgentSuffix(s.userAgent), func(cs *C.char) C.int32_t {
		return C.gcdn_options_set_user_agent_suffix(o, cs, &cerr)
	})
	if err != nil {
		return nil, err
	}

	var key *C.char // NULL: the library reads GCORE_API_KEY
	if apiKey != "" {
		if strings.IndexByte(apiKey, 0) >= 0 {
			return nil, invalid("the API key contains a NUL byte")
		}
		key = C.CString(apiKey)
		defer func() {
			// Wipe our copy of the key before freeing it.
			b := unsafe.Slice((*byte)(unsafe.Pointer(key)), len(apiKey))
			for i := range b {
				b[i] = 0
			}
			C.free(unsafe.Pointer(key))
		}()
	}
	var sink *logSink
	if s.logger != nil {
		sink = newLogSink(s.logger)
		if err := sink.install(o); err != nil {
			sink.release()
			return nil, err
		}
	}

	var h *C.gcdn_client
	if err := check(C.gcdn_client_new(key, o, &h, &cerr)); err != nil {
		sink.release()
		return nil, err
	}
	c := &Client{h: h, logger: sink}
	c.idle.L = &c.mu
	runtime.SetFinalizer(c, (*Client).finalize)
	return c, nil
}

func (c *Client) finalize() {
	if c.free() {
		finalized.Add(1)
	}
}

// free frees the handle once no call is in flight; it reports whether there was one.
func (c *Client) free() bool {
	c.closed.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.calls > 0 {
		c.idle.Wait()
	}
	if c.h == nil {
		return false
	}
	C.gcdn_client_free(c.h)
	c.h = nil
	for _, slot := range c.slots {
		slot.free()
	}
	c.slots = nil
	c.logger.release()
	c.logger = nil
	return true
}

// enter counts a call in and returns the handle it may use until leave, with an idle run
// slot if there is one; ErrClosed once Close has begun.
func (c *Client) enter() (*C.gcdn_client, runSlot, error) {
	if c == nil || c.closed.Load() {
		return nil, runSlot{}, ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h == nil || c.closed.Load() {
		return nil, runSlot{}, ErrClosed
	}
	c.calls++
	var slot runSlot
	if n := len(c.slots); n > 0 {
		slot = c.slots[n-1]
		c.slots = c.slots[:n-1]
	}
	return c.h, slot, nil
}

// leave counts a call out and keeps its slot (if any) for the next call.
func (c *Client) leave(slot runSlot) {
	c.mu.Lock()
	c.calls--
	if slot.run != nil && len(c.slots) < maxIdleSlots {
		c.slots = append(c.slots, slot)
		slot = runSlot{}
	}
	if c.calls == 0 {
		c.idle.Broadcast()
	}
	c.mu.Unlock()
	slot.free()
}

// Close frees the client: its key is wiped and its idle connections closed. It waits for
// the calls in progress on other goroutines to return; calls made after it return
// ErrClosed. Close is idempotent and always returns nil. Do not call it from a Progress
// function or a logger's handler of this client's own call: it would wait for that call.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	c.free()
	runtime.SetFinalizer(c, nil)
	return nil
}

// do runs one library call, bounded by ctx's deadline and stopped by ctx's cancellation
// (see callRun): no derived client and no goroutine per call.
func (c *Client) do(ctx context.Context, call func(h *C.gcdn_client, run *C.gcdn_run, errOut **C.char) C.int32_t) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h, slot, err := c.enter()
	if err != nil {
		return err
	}
	if slot.run == nil {
		if slot, err = newRunSlot(); err != nil {
			c.leave(runSlot{})
			return err
		}
	}
	var cr callRun
	if err := cr.start(ctx, slot); err != nil {
		c.leave(cr.end())
		return err
	}
	var cerr *C.char
	status := call(h, cr.run, &cerr)
	runtime.KeepAlive(c)
	err = takeError(status, cerr)
	if e, ok := err.(*Error); ok {
		e.HTTPStatus = int(C.gcdn_run_http_status(cr.run))
	}
	c.leave(cr.end())
	return contextError(ctx, err)
}

// runSlot is a gcdn_run with a cancel token set on it. Every single call runs with one
// (which also tells the HTTP status of a failure, gcdn_run_http_status); the client keeps
// a few idle ones (a slot goes back only if its token never fired), so that a call costs
// one native call (its timeout, or none) to set one up, whatever its context.
type runSlot struct {
	run   *C.gcdn_run
	token *C.gcdn_cancel
}

// maxIdleSlots is how many idle slots a client keeps.
const maxIdleSlots = 16

func newRunSlot() (runSlot, error) {
	s := runSlot{run: C.gcdn_run_new(), token: C.gcdn_cancel_new()}
	if s.run == nil || s.token == nil {
		s.free()
		return runSlot{}, &Error{Status: StatusInternal, Message: "out of memory"}
	}
	var cerr *C.char
	if err := takeError(C.gcdn_run_set_cancel(s.run, s.token, &cerr), cerr); err != nil {
		s.free()
		return runSlot{}, err
	}
	return s, nil
}

func (s runSlot) free() {
	if s.token != nil {
		C.gcdn_cancel_free(s.token)
	}
	if s.run != nil {
		C.gcdn_run_free(s.run)
	}
}

// callRun passes a context to the library through a run slot: its deadline as the run's
// timeout, its cancellation through the slot's cancel token, which context.AfterFunc fires
// (no goroutine unless the context ends during the call; none at all for a context that
// cannot be cancelled, such as context.Background()).
type callRun struct {
	runSlot
	stop  func() bool
	fired sync.WaitGroup // done when the AfterFunc, once started, has fired the token
}

// start sets the slot (if any) up for ctx; call end afterwards in any case.
func (cr *callRun) start(ctx context.Context, slot runSlot) error {
	cr.runSlot = slot
	if slot.run == nil {
		return nil
	}
	var ms C.uint64_t // 0: no bound (a slot may come with a past call's)
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return context.DeadlineExceeded
		}
		ms = ceilMillis(left)
	}
	var cerr *C.char
	if err := takeError(C.gcdn_run_set_timeout_ms(slot.run, ms, &cerr), cerr); err != nil {
		return err
	}
	if ctx.Done() != nil {
		token := slot.token
		cr.fired.Add(1)
		cr.stop = context.AfterFunc(ctx, func() {
			defer cr.fired.Done()
			C.gcdn_cancel_fire(token)
		})
	}
	return nil
}

// end stops watching the context (waiting for a fire in progress) and returns the slot for
// reuse, or frees it and returns none if its token fired.
func (cr *callRun) end() runSlot {
	slot := cr.runSlot
	cr.runSlot = runSlot{}
	if cr.stop != nil && !cr.stop() {
		cr.fired.Wait() // the AfterFunc started: let it finish with the token
		slot.free()     // a fired token stays fired
		slot = runSlot{}
	}
	cr.stop = nil
	return slot
}

// contextError makes the error of a call that ctx's deadline stopped match
// context.DeadlineExceeded (and ErrTimeout). The library reports such a call as
// GCDN_ERR_TIMEOUT, except when the context's own timer fired the cancel token first
// (GCDN_ERR_CANCELLED), or when a rate-limit wait was refused just before the deadline
// (GCDN_ERR_RATE_LIMITED); both become StatusTimeout here once ctx.Err() says the deadline
// passed. A cancelled ctx already gives StatusCancelled, which matches context.Canceled.
func contextError(ctx context.Context, err error) error {
	e, ok := err.(*Error)
	if !ok || (e.Status != StatusCancelled && e.Status != StatusRateLimited) {
		return err
	}
	if ctx.Err() != context.DeadlineExceeded {
		return err
	}
	return &Error{Status: StatusTimeout, Message: "the context's deadline passed: " + e.Message, HTTPStatus: e.HTTPStatus}
}

// cstrings copies items into a C array of C strings, which free releases.
func cstrings(noun string, items []string) (arr **C.char, free func(), err error) {
	if len(items) == 0 {
		return nil, nil, invalid(fmt.Sprintf("no %ss given", noun))
	}
	if len(items) > MaxItems {
		return nil, nil, invalid(fmt.Sprintf("%d %ss given; one call takes at most %d", len(items), noun, MaxItems))
	}
	for i, s := range items {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, nil, invalid(fmt.Sprintf("%s %d contains a NUL byte", noun, i))
		}
	}
	p := C.malloc(C.size_t(len(items)) * C.size_t(unsafe.Sizeof((*C.char)(nil))))
	if p == nil {
		return nil, nil, &Error{Status: StatusInternal, Message: "out of memory"}
	}
	list := unsafe.Slice((**C.char)(p), len(items))
	for i, s := range items {
		list[i] = C.CString(s)
	}
	return (**C.char)(p), func() {
		for _, cs := range list {
			C.free(unsafe.Pointer(cs))
		}
		C.free(p)
	}, nil
}

// PurgeURLs purges the cached copies of urls of resource resourceID. Each URL is a path
// with its query string, such as "/img/a.jpg?v=2". Repeated URLs are sent once, 100 per
// request; 429 answers are waited out within the rate-limit wait budget. All URLs are
// checked first: on ErrInvalidArgument nothing was sent. An empty list is
// ErrInvalidArgument, never a purge of everything (see PurgeAll).
func (c *Client) PurgeURLs(ctx context.Context, resourceID int64, urls []string) error {
	return c.purge(ctx, resourceID, "URL", urls, false)
}

// PurgePatterns purges everything matching any of patterns of resource resourceID. A
// pattern starts with "/" and may end with "*"; it is recursive and ignores query strings.
// Checked, de-duplicated and sent like PurgeURLs, 10 per request.
func (c *Client) PurgePatterns(ctx context.Context, resourceID int64, patterns []string) error {
	return c.purge(ctx, resourceID, "pattern", patterns, true)
}

func (c *Client) purge(ctx context.Context, id int64, noun string, items []string, patterns bool) error {
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	arr, free, err := cstrings(noun, items)
	if err != nil {
		return err
	}
	defer free()
	n := C.size_t(len(items))
	return c.do(ctx, func(h *C.gcdn_client, run *C.gcdn_run, errOut **C.char) C.int32_t {
		if patterns {
			return C.gcdn_purge_patterns_with(h, run, C.int64_t(id), arr, n, errOut)
		}
		return C.gcdn_purge_urls_with(h, run, C.int64_t(id), arr, n, errOut)
	})
}

// PurgeAll purges the whole cache of resource resourceID, so that the CDN fetches
// everything from the origin again. Prefer PurgeURLs where you can.
func (c *Client) PurgeAll(ctx context.Context, resourceID int64) error {
	return c.do(ctx, func(h *C.gcdn_client, run *C.gcdn_run, errOut **C.char) C.int32_t {
		return C.gcdn_purge_all_with(h, run, C.int64_t(resourceID), errOut)
	})
}

// DeactivateResource deactivates resource resourceID (PATCH {"active": false}): it stops
// serving content and may be deleted.
func (c *Client) DeactivateResource(ctx context.Context, resourceID int64) error {
	return c.do(ctx, func(h *C.gcdn_client, run *C.gcdn_run, errOut **C.char) C.int32_t {
		return C.gcdn_deactivate_resource_with(h, run, C.int64_t(resourceID), errOut)
	})
}

// A DeleteOption changes what DeleteResource does.
type DeleteOption struct{ flag C.uint32_t }

// DeactivateFirst makes DeleteResource deactivate the resource before deleting it (the
// API refuses to delete an active resource).
func DeactivateFirst() DeleteOption { return DeleteOption{C.GCDN_DELETE_DEACTIVATE_FIRST} }

// MissingOK makes DeleteResource count a resource that does not exist as deleted.
func MissingOK() DeleteOption { return DeleteOption{C.GCDN_DELETE_MISSING_OK} }

// DeleteResource deletes resource resourceID, permanently. Without DeactivateFirst the API
// refuses to delete an active resource (ErrRejected); without MissingOK a resource that
// does not exist is ErrNotFound. Other refusals (primary for shared cache, used by
// Streaming, custom configuration) are ErrRejected with the API's words.
func (c *Client) DeleteResource(ctx context.Context, resourceID int64, opts ...DeleteOption) error {
	var flags C.uint32_t
	for _, o := range opts {
		flags |= o.flag
	}
	return c.do(ctx, func(h *C.gcdn_client, run *C.gcdn_run, errOut **C.char) C.int32_t {
		return C.gcdn_delete_resource_with(h, run, C.int64_t(resourceID), flags, errOut)
	})
}

// debugPanic calls gcdn_debug_panic, which panics inside the library's panic boundary on
// purpose: it returns an error with StatusInternal. For the tests.
func debugPanic() error {
	var cerr *C.char
	status := C.gcdn_debug_panic(&cerr)
	return takeError(status, cerr)
}
