package gcdn

/*
#include <stdint.h>
#include <stdlib.h>
#include "gcdn.h"

// Declared by the //export in callbacks.go.
extern int32_t gcdnGoProgress(gcdn_event *event, void *user_data);

static inline void *gcdn_go_run_ptr(uintptr_t handle) { return (void *)handle; }
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Job is a purge job: purges across any number of resources (URLs, patterns, purge-all)
// and full URLs https://host/path?query, which a run maps to their resource by its cname
// or secondary hostnames. Build it with the Add methods, run it with Client.Run as often
// as you like (the same job from many goroutines at once, too). Adding while a run of the
// job is in progress fails with ErrInvalidArgument. A Job holds native memory, freed by a
// finalizer (or at once by Close).
type Job struct {
	mu   sync.Mutex // guards h and runs; never held across a run
	h    *C.gcdn_job
	runs int // runs in progress
}

// NewJob returns an empty job.
func NewJob() *Job {
	j := &Job{h: C.gcdn_job_new()}
	if j.h == nil {
		panic("gcdn: out of memory")
	}
	runtime.SetFinalizer(j, (*Job).Close)
	return j
}

// wrapJob owns h (not NULL).
func wrapJob(h *C.gcdn_job) *Job {
	j := &Job{h: h}
	runtime.SetFinalizer(j, (*Job).Close)
	return j
}

// Close frees the job's memory now (else its finalizer does). While a run of the job is in
// progress it frees nothing and returns ErrInvalidArgument. A closed job cannot be added
// to or run; Close again does nothing.
func (j *Job) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.runs > 0 {
		return invalid("the job is running")
	}
	if j.h != nil {
		C.gcdn_job_free(j.h)
		j.h = nil
	}
	runtime.SetFinalizer(j, nil)
	return nil
}

// Len returns how many items were added (repeats included).
func (j *Job) Len() int {
	if j == nil {
		return 0
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.h == nil {
		return 0
	}
	return int(C.gcdn_job_item_count(j.h))
}

// add calls f on the handle unless the job is running or closed.
func (j *Job) add(f func(h *C.gcdn_job, errOut **C.char) C.int32_t) error {
	if j == nil {
		return invalid("the job is nil")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.h == nil {
		return invalid("the job is closed")
	}
	if j.runs > 0 {
		return invalid("the job is running: add to it after Run returns")
	}
	var cerr *C.char
	status := f(j.h, &cerr)
	return takeError(status, cerr)
}

// addList adds items with f.
func (j *Job) addList(noun string, items []string, f func(h *C.gcdn_job, arr **C.char, n C.size_t, errOut **C.char) C.int32_t) error {
	arr, free, err := cstrings(noun, items)
	if err != nil {
		return err
	}
	defer free()
	return j.add(func(h *C.gcdn_job, errOut **C.char) C.int32_t {
		return f(h, arr, C.size_t(len(items)), errOut)
	})
}

// AddURLs adds URLs of resource resourceID: paths with their query string, as for
// Client.PurgeURLs. Every URL is checked first: on error the job is unchanged and the
// message names the first bad URL by its index.
func (j *Job) AddURLs(resourceID int64, urls []string) error {
	return j.addList("URL", urls, func(h *C.gcdn_job, arr **C.char, n C.size_t, errOut **C.char) C.int32_t {
		return C.gcdn_job_add_urls(h, C.int64_t(resourceID), arr, n, errOut)
	})
}

// AddPatterns adds patterns of resource resourceID, as for Client.PurgePatterns; checked
// like AddURLs.
func (j *Job) AddPatterns(resourceID int64, patterns []string) error {
	return j.addList("pattern", patterns, func(h *C.gcdn_job, arr **C.char, n C.size_t, errOut **C.char) C.int32_t {
		return C.gcdn_job_add_patterns(h, C.int64_t(resourceID), arr, n, errOut)
	})
}

// AddAll adds a purge of everything of resource resourceID: the run leaves out every other
// item of that resource as covered by it.
func (j *Job) AddAll(resourceID int64) error {
	return j.add(func(h *C.gcdn_job, errOut **C.char) C.int32_t {
		return C.gcdn_job_add_all(h, C.int64_t(resourceID), errOut)
	})
}

// AddFullURLs adds full URLs, https://host/path?query. The run lists the account's
// resources and sends each URL's path and query to the resource whose cname or one of
// whose secondary hostnames is its host (ignoring case); URLs of a host no resource has are
// left out and reported (SkippedItem.Reason "no_resource"). Checked like AddURLs.
func (j *Job) AddFullURLs(urls []string) error {
	return j.addList("full URL", urls, func(h *C.gcdn_job, arr **C.char, n C.size_t, errOut **C.char) C.int32_t {
		return C.gcdn_job_add_full_urls(h, arr, n, errOut)
	})
}

// begin counts a run in and returns the handle it may read until end.
func (j *Job) begin() (*C.gcdn_job, error) {
	if j == nil {
		return nil, invalid("the job is nil")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.h == nil {
		return nil, invalid("the job is closed")
	}
	j.runs++
	return j.h, nil
}

func (j *Job) end() {
	j.mu.Lock()
	j.runs--
	j.mu.Unlock()
}

// RunOptions are the settings of one Client.Run.
type RunOptions struct {
	// DryRun plans and reports (every request "planned", with the estimated duration)
	// without sending a purge; the resources listing may be read.
	DryRun bool
	// Wait, when positive, waits up to this long after the last request for every purge
	// to be confirmed by the API's purge statuses (RequestReport.Completion). A purge whose
	// status is Failed fails the run with ErrRejected; one still in progress after the last
	// poll, with ErrTimeout. The last poll is at the end of the wait and may take up to 2 s
	// more, never past the context's deadline, which bounds the wait too.
	Wait time.Duration
	// Progress, when set, is called with every event of the run (a request sent, answered
	// or failed, a wait, a retry, a confirmation poll or result), one at a time, on the
	// goroutine that called Run, while the run waits for it (no lock of gcdn is held: it
	// may call other methods of the client, but not Close). A non-nil error stops the run
	// (nothing more is sent; the report is still written) and Run returns an error that
	// wraps it. A panic stops the run too, and Run panics with the same value once the
	// library has returned. Progress must not call runtime.Goexit (t.FailNow, t.Fatal):
	// that would unwind through the library; return an error instead.
	Progress func(Event) error
	// Exact sends every URL item as given. Without it, each URL item of a resource the
	// listing knows goes in its cache-key form: the query parameters the resource's options
	// (or the rule matching its path) leave out of the cache key are dropped and the rest
	// sorted (Report.Rewritten says which); a purge of /app.js?v=2 on a resource that ignores
	// query strings would remove nothing.
	Exact bool
	// Verify, after the purges are confirmed (it implies Wait: 300 s unless Wait is set),
	// probes each URL purged by URL at the edge with a HEAD of https://<host>/<path> (the
	// host given with the item; for items by resource id, the resource's cname), without
	// the API key, and lists it in Report.Verified as "fresh", "stale" or "error". A URL
	// the edge still serves from a copy cached before its purge makes an otherwise
	// successful run return an error matching ErrStale (with the report); error probes
	// change nothing. Each probe takes at most 10 s and none outlives ctx.
	Verify bool
	// VerifyLimit, when positive, probes at most this many URLs of each resource (evenly
	// chosen); 0 means the default, 100.
	VerifyLimit int
	// Edges sends the probes to these addresses instead of each URL's own host, with the
	// URL's host in Host and as the TLS name: "https://host[:port]", or "http://" to a
	// loopback address (a bad one fails Run with ErrInvalidArgument before anything is
	// sent). Each URL is probed at every edge. "https://<X-ID>.fe.gc.onl" names one edge.
	Edges []string
	// Prefetch, after the purges (and their confirmation, when waiting), sends the paths
	// purged by URL to the API's prefetch (100 a request, 1 request a minute per resource,
	// paced by the client), reported in Report.Prefetched. A failed prefetch does not fail
	// the run.
	Prefetch bool
}

// EventKind says what an Event is about.
type EventKind int

// The kinds of events.
const (
	EventSent        = EventKind(C.GCDN_EVENT_SENT)         // a request begins (Request, ResourceID, PurgeKind, Items)
	EventAnswered    = EventKind(C.GCDN_EVENT_ANSWERED)     // the API accepted it (HTTPStatus, Attempt)
	EventFailed      = EventKind(C.GCDN_EVENT_FAILED)       // it failed for good (Status, HTTPStatus, Message)
	EventWait        = EventKind(C.GCDN_EVENT_WAIT)         // the run waits (Wait, WaitReason, ResourceID)
	EventRetry       = EventKind(C.GCDN_EVENT_RETRY)        // an attempt failed and is tried again (Message)
	EventConfirmPoll = EventKind(C.GCDN_EVENT_CONFIRM_POLL) // purge statuses read (Items: requests still to confirm)
	EventConfirmed   = EventKind(C.GCDN_EVENT_CONFIRMED)    // a request's completion is known (Completion)
)

// String returns sent, answered, failed, wait, retry, confirm_poll or confirmed.
func (k EventKind) String() string {
	switch k {
	case EventSent:
		return "sent"
	case EventAnswered:
		return "answered"
	case EventFailed:
		return "failed"
	case EventWait:
		return "wait"
	case EventRetry:
		return "retry"
	case EventConfirmPoll:
		return "confirm_poll"
	case EventConfirmed:
		return "confirmed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one step of a run, passed to RunOptions.Progress. Fields that do not apply to
// the kind are zero.
type Event struct {
	Kind EventKind
	// Request is the index of the event's request in Report.Requests; -1 when the event is
	// not about one request.
	Request    int
	ResourceID int64
	PurgeKind  string // "urls", "patterns" or "all"
	Items      int    // items of the request; for EventConfirmPoll, requests still to confirm
	Attempt    int    // from 1
	HTTPStatus int
	Status     int           // for EventFailed: the Status constant of the failure
	Wait       time.Duration // for EventWait
	WaitReason string        // for EventWait: "pacer", "429", "retry-after", "backoff" or "confirm"
	Completion string        // for EventConfirmed: "successful", "failed" or "in_progress"
	Message    string
	Totals     Totals // the run's totals as of this event
}

// Totals are a run's counts.
type Totals struct {
	Requests    int           // requests planned
	Purged      int           // requests the API accepted
	Failed      int           // requests that failed
	NotSent     int           // requests not sent
	ItemsPurged int           // items of the purged requests (a purge-all counts 1)
	RateLimited int           // HTTP 429 answers met
	Elapsed     time.Duration // since the run began
	Estimated   time.Duration // the least the rate limits allow the plan to take
	Sent        int           // requests that began (answered or not)
	Skipped     int           // items left out (Report.Skipped)
	Confirmed   int           // requests whose purge status is Successful
	// VerifiedFresh, VerifiedStale and VerifiedError count the URLs RunOptions.Verify
	// probed: served fresh after their purge, still served from a copy cached before it,
	// and with no usable answer.
	VerifiedFresh int
	VerifiedStale int
	VerifiedError int
	// CarriedForOthers: items the purged requests carried for other calls of the client
	// (coalescing, WithCoalesce), besides the run's own.
	CarriedForOthers int
}

// RequestReport is one planned request of a run.
type RequestReport struct {
	ResourceID int64
	Kind       string   // "urls", "patterns" or "all"
	Items      []string // what was (or would be) sent: paths, for full URLs too
	Outcome    string   // "purged", "failed", "not_sent" or "planned" (dry run)
	Status     int      // the Status constant of the request (StatusOK when purged; 0 when not sent)
	HTTPStatus int      // 0: no answer
	Message    string
	Attempts   int
	PurgeID    int64  // 0 when unknown
	Completion string // with RunOptions.Wait: "successful", "failed" or "in_progress"; else ""
	// CarriedForOthers: items the request carried for other calls of the client besides
	// the run's own (coalescing, WithCoalesce); 0 when it carried the run's alone.
	CarriedForOthers int
}

// SkippedItem is an item a run left out.
type SkippedItem struct {
	Item       string // as it was given
	ResourceID int64  // 0 when the item's host matches no resource
	// Reason is "duplicate", "covered" (by a pattern or purge-all of the same job, named in
	// By: the pattern, or "all"), "no_resource" (the host matches no resource), "inactive"
	// (deleted or inactive resource) or "url_purge_disabled".
	Reason string
	By     string
}

// RewrittenItem is a URL item a run sent in its cache-key form rather than as given (see
// RunOptions.Exact).
type RewrittenItem struct {
	Item       string // as it was given (a path or a full URL)
	As         string // what was sent: the path and the query parameters of its cache key, sorted
	ResourceID int64
	// By is the option that decided: "ignoreQueryString", "query_params_whitelist" or
	// "query_params_blacklist"; "" when none is enabled (only the order changed).
	By     string
	RuleID int64 // the resource rule that decided; 0 when the resource's own options did
}

// PlanWarning is a purge of the plan that may not reach everything.
type PlanWarning struct {
	ResourceID int64 // 0 for "no_listing"
	// Code is "slice" (a URL purge removes only the first slice), "custom_cache_key"
	// (pattern purges and purge-all do not work), "invalid_rule" (a rule gcdn cannot use)
	// or "no_listing" (the resources could not be read: every item goes as given).
	Code    string
	Message string
}

// VerifiedURL is what the edge answered for one URL purged by URL (RunOptions.Verify).
type VerifiedURL struct {
	URL        string // as probed: https://host/path?query
	ResourceID int64
	// Result is "fresh" (a MISS or BYPASS, or a copy cached after the purge), "stale" (a
	// HIT cached before the purge) or "error" (no usable answer).
	Result      string
	Cache       string // the edge's Cache header (HIT, MISS, BYPASS); "" if none came
	CachedSince string // the edge's X-Cached-Since header, as sent
	Edge        string // the edge that answered (X-ID; <Edge>.fe.gc.onl reaches it again)
	Message     string // why stale or error (and the address probed, with RunOptions.Edges)
}

// PrefetchRequest is one prefetch request of a run (RunOptions.Prefetch).
type PrefetchRequest struct {
	ResourceID int64
	Items      []string // the paths it carried
	Outcome    string   // "purged" (accepted), "failed" or "not_sent"
	Status     int      // the Status constant (StatusOK when accepted; 0 when not known)
	HTTPStatus int      // 0: no answer
	Message    string   // why it failed or was not sent
}

// Report is what a run did, request by request. It is immutable and safe for concurrent
// use; it holds native memory (for Remaining), freed by a finalizer.
type Report struct {
	DryRun   bool
	Requests []RequestReport
	Skipped  []SkippedItem
	// Rewritten lists the URL items sent in their cache-key form; Warnings, the purges that
	// may not reach everything; Verified, the edge's answers (RunOptions.Verify); Prefetched,
	// the prefetch requests (RunOptions.Prefetch).
	Rewritten  []RewrittenItem
	Warnings   []PlanWarning
	Verified   []VerifiedURL
	Prefetched []PrefetchRequest
	Totals     Totals
	// Status and Message are the run's outcome, as its error says (StatusOK, "").
	Status  int
	Message string

	json []byte
	h    *C.gcdn_report
}

// JSON returns the report in its stable JSON form (version 1; see the repository's README).
func (r *Report) JSON() ([]byte, error) {
	if r == nil {
		return nil, invalid("the report is nil")
	}
	return append([]byte(nil), r.json...), nil
}

// Remaining returns a new job of what the run did not purge (requests that failed, were
// not sent, or whose purge status is Failed), by resource id; nil when nothing is left.
// Items the run left out on purpose (Skipped) are not in it.
func (r *Report) Remaining() *Job {
	if r == nil || r.h == nil {
		return nil
	}
	h := C.gcdn_report_remaining(r.h)
	runtime.KeepAlive(r)
	if h == nil {
		return nil
	}
	return wrapJob(h)
}

func (r *Report) free() {
	C.gcdn_report_free(r.h)
	r.h = nil
}

type reportJSON struct {
	DryRun   bool `json:"dry_run"`
	Requests []struct {
		ResourceID int64    `json:"resource_id"`
		Kind       string   `json:"kind"`
		Items      []string `json:"items"`
		Outcome    string   `json:"outcome"`
		Status     *int     `json:"status"`
		HTTPStatus *int     `json:"http_status"`
		Message    *string  `json:"message"`
		Attempts   int      `json:"attempts"`
		PurgeID    *int64   `json:"purge_id"`
		Completion *string  `json:"completion"`
		Carried    int      `json:"carried_for_others"`
	} `json:"requests"`
	Skipped []struct {
		Item       string  `json:"item"`
		ResourceID *int64  `json:"resource_id"`
		Reason     string  `json:"reason"`
		By         *string `json:"by"`
	} `json:"skipped"`
	Totals struct {
		Requests    int   `json:"requests"`
		Purged      int   `json:"purged"`
		Failed      int   `json:"failed"`
		NotSent     int   `json:"not_sent"`
		ItemsPurged int   `json:"items_purged"`
		RateLimited int   `json:"rate_limited"`
		ElapsedMS   int64 `json:"elapsed_ms"`
		EstimatedMS int64 `json:"estimated_ms"`
		Sent        int   `json:"sent"`
		Skipped     int   `json:"skipped"`
		Confirmed   int   `json:"confirmed"`
		Fresh       int   `json:"verified_fresh"`
		Stale       int   `json:"verified_stale"`
		VerifyError int   `json:"verified_error"`
		Carried     int   `json:"carried_for_others"`
	} `json:"totals"`
	Rewritten []struct {
		Item       string  `json:"item"`
		As         string  `json:"as"`
		ResourceID int64   `json:"resource_id"`
		By         *string `json:"by"`
		RuleID     *int64  `json:"rule_id"`
	} `json:"rewritten"`
	Warnings []struct {
		ResourceID *int64 `json:"resource_id"`
		Code       string `json:"code"`
		Message    string `json:"message"`
	} `json:"warnings"`
	Verified []struct {
		URL         string  `json:"url"`
		ResourceID  int64   `json:"resource_id"`
		Result      string  `json:"result"`
		Cache       *string `json:"cache"`
		CachedSince *string `json:"cached_since"`
		Edge        *string `json:"edge"`
		Message     *string `json:"message"`
	} `json:"verified"`
	Prefetched []struct {
		ResourceID int64    `json:"resource_id"`
		Items      []string `json:"items"`
		Outcome    string   `json:"outcome"`
		Status     *int     `json:"status"`
		HTTPStatus *int     `json:"http_status"`
		Message    *string  `json:"message"`
	} `json:"prefetched"`
	Status  int     `json:"status"`
	Message *string `json:"message"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// newReport takes h (not NULL): it reads the report through its JSON form.
func newReport(h *C.gcdn_report) (*Report, error) {
	r := &Report{h: h}
	runtime.SetFinalizer(r, (*Report).free)
	var js, cerr *C.char
	status := C.gcdn_report_json(h, &js, &cerr)
	if err := takeError(status, cerr); err != nil {
		return nil, err
	}
	r.json = []byte(C.GoString(js))
	C.gcdn_string_free(js)
	var v reportJSON
	if err := json.Unmarshal(r.json, &v); err != nil {
		return nil, &Error{Status: StatusInternal, Message: "the library's report is not valid JSON: " + err.Error()}
	}
	r.DryRun, r.Status, r.Message = v.DryRun, v.Status, deref(v.Message)
	r.Requests = make([]RequestReport, len(v.Requests))
	for i, q := range v.Requests {
		r.Requests[i] = RequestReport{
			ResourceID: q.ResourceID, Kind: q.Kind, Items: q.Items, Outcome: q.Outcome,
			Status: deref(q.Status), HTTPStatus: deref(q.HTTPStatus), Message: deref(q.Message),
			Attempts: q.Attempts, PurgeID: deref(q.PurgeID), Completion: deref(q.Completion),
			CarriedForOthers: q.Carried,
		}
	}
	r.Skipped = make([]SkippedItem, len(v.Skipped))
	for i, s := range v.Skipped {
		r.Skipped[i] = SkippedItem{Item: s.Item, ResourceID: deref(s.ResourceID), Reason: s.Reason, By: deref(s.By)}
	}
	r.Rewritten = make([]RewrittenItem, len(v.Rewritten))
	for i, w := range v.Rewritten {
		r.Rewritten[i] = RewrittenItem{Item: w.Item, As: w.As, ResourceID: w.ResourceID, By: deref(w.By), RuleID: deref(w.RuleID)}
	}
	r.Warnings = make([]PlanWarning, len(v.Warnings))
	for i, w := range v.Warnings {
		r.Warnings[i] = PlanWarning{ResourceID: deref(w.ResourceID), Code: w.Code, Message: w.Message}
	}
	r.Verified = make([]VerifiedURL, len(v.Verified))
	for i, u := range v.Verified {
		r.Verified[i] = VerifiedURL{
			URL: u.URL, ResourceID: u.ResourceID, Result: u.Result, Cache: deref(u.Cache),
			CachedSince: deref(u.CachedSince), Edge: deref(u.Edge), Message: deref(u.Message),
		}
	}
	r.Prefetched = make([]PrefetchRequest, len(v.Prefetched))
	for i, p := range v.Prefetched {
		r.Prefetched[i] = PrefetchRequest{
			ResourceID: p.ResourceID, Items: p.Items, Outcome: p.Outcome, Status: deref(p.Status),
			HTTPStatus: deref(p.HTTPStatus), Message: deref(p.Message),
		}
	}
	t := v.Totals
	r.Totals = Totals{
		Requests: t.Requests, Purged: t.Purged, Failed: t.Failed, NotSent: t.NotSent,
		ItemsPurged: t.ItemsPurged, RateLimited: t.RateLimited,
		Elapsed:   time.Duration(t.ElapsedMS) * time.Millisecond,
		Estimated: time.Duration(t.EstimatedMS) * time.Millisecond,
		Sent:      t.Sent, Skipped: t.Skipped, Confirmed: t.Confirmed,
		VerifiedFresh: t.Fresh, VerifiedStale: t.Stale, VerifiedError: t.VerifyError,
		CarriedForOthers: t.Carried,
	}
	return r, nil
}

// progressState is a run's Progress function and what became of it, reached from C through
// a cgo.Handle.
type progressState struct {
	fn       func(Event) error
	err      error // the error that stopped the run
	panicked bool
	panicVal any
}

var kindNames = map[C.int32_t]string{C.GCDN_KIND_URLS: "urls", C.GCDN_KIND_PATTERNS: "patterns", C.GCDN_KIND_ALL: "all"}

var waitNames = map[C.int32_t]string{
	C.GCDN_WAIT_PACER: "pacer", C.GCDN_WAIT_RATE_LIMITED: "429", C.GCDN_WAIT_RETRY_AFTER: "retry-after",
	C.GCDN_WAIT_BACKOFF: "backoff", C.GCDN_WAIT_CONFIRM: "confirm",
}

var completionNames = map[C.int32_t]string{
	C.GCDN_COMPLETION_SUCCESSFUL: "successful", C.GCDN_COMPLETION_FAILED: "failed",
	C.GCDN_COMPLETION_IN_PROGRESS: "in_progress",
}

// eventOf copies a library event into an Event.
func eventOf(e *C.gcdn_event) Event {
	total := func(which C.int32_t) int { return int(C.gcdn_event_total(e, which)) }
	ms := func(which C.int32_t) time.Duration {
		return time.Duration(C.gcdn_event_total(e, which)) * time.Millisecond
	}
	return Event{
		Kind:       EventKind(C.gcdn_event_kind(e)),
		Request:    int(C.gcdn_event_request(e)),
		ResourceID: int64(C.gcdn_event_resource_id(e)),
		PurgeKind:  kindNames[C.gcdn_event_purge_kind(e)],
		Items:      int(C.gcdn_event_item_count(e)),
		Attempt:    int(C.gcdn_event_attempt(e)),
		HTTPStatus: int(C.gcdn_event_http_status(e)),
		Status:     int(C.gcdn_event_status(e)),
		Wait:       time.Duration(C.gcdn_event_wait_ms(e)) * time.Millisecond,
		WaitReason: waitNames[C.gcdn_event_wait_reason(e)],
		Completion: completionNames[C.gcdn_event_completion(e)],
		Message:    goString(C.gcdn_event_message(e)),
		Totals: Totals{
			Requests: total(C.GCDN_TOTAL_REQUESTS), Purged: total(C.GCDN_TOTAL_PURGED),
			Failed: total(C.GCDN_TOTAL_FAILED), NotSent: total(C.GCDN_TOTAL_NOT_SENT),
			ItemsPurged: total(C.GCDN_TOTAL_ITEMS_PURGED), RateLimited: total(C.GCDN_TOTAL_RATE_LIMITED),
			Elapsed: ms(C.GCDN_TOTAL_ELAPSED_MS), Estimated: ms(C.GCDN_TOTAL_ESTIMATED_MS),
			Sent: total(C.GCDN_TOTAL_SENT), Skipped: total(C.GCDN_TOTAL_SKIPPED),
			Confirmed:        total(C.GCDN_TOTAL_CONFIRMED),
			VerifiedFresh:    total(C.GCDN_TOTAL_VERIFIED_FRESH),
			VerifiedStale:    total(C.GCDN_TOTAL_VERIFIED_STALE),
			VerifiedError:    total(C.GCDN_TOTAL_VERIFIED_ERROR),
			CarriedForOthers: total(C.GCDN_TOTAL_CARRIED_FOR_OTHERS),
		},
	}
}

// progressFromC is the body of the exported gcdnGoProgress: it calls the Progress function
// and never lets a panic unwind into the library. Non-zero stops the run.
func progressFromC(e *C.gcdn_event, user unsafe.Pointer) (stop C.int32_t) {
	ps, ok := cgo.Handle(uintptr(user)).Value().(*progressState)
	if !ok || ps.panicked || ps.err != nil {
		return 1
	}
	if C.gcdn_event_kind(e) == C.GCDN_EVENT_TICK {
		return 0 // the library's heartbeat (for bindings without AfterFunc): not for Progress
	}
	defer func() {
		if r := recover(); r != nil {
			ps.panicked, ps.panicVal = true, r
			stop = 1
		}
	}()
	if err := ps.fn(eventOf(e)); err != nil {
		ps.err = err
		return 1
	}
	return 0
}

// Run runs job: it plans it (de-duplicates, drops what a pattern or purge-all of the same
// resource covers, leaves out items of unknown hosts, inactive resources and URL purges of
// resources that cannot purge by URL, chunks by the account's limits), then sends every
// request through the client's pacer (resources at once over a few connections), and
// confirms completion when opts.Wait is set. A failed request does not stop the others.
//
// It returns a nil error only if every planned request was purged (and confirmed, when
// waiting) and no item was left out as no_resource, inactive or url_purge_disabled; with
// opts.Verify, a URL the edge still serves from a copy cached before its purge makes an
// otherwise successful run return an error matching ErrStale (Report.Verified says which).
// The report is returned whenever the run got past validation, also with an error: see what
// was done in it, and run report.Remaining() to finish the work. A bug in gcdn that panics
// in one of the run's threads fails the request it struck with ErrInternal; the run still
// writes its report and the program lives on.
//
// ctx bounds the whole run, confirmation included: stopped by its deadline, the error
// matches context.DeadlineExceeded and ErrTimeout; cancelled, context.Canceled and
// ErrCancelled (requests not sent are reported as not sent). Like every call, Run makes no
// derived client and starts no goroutine for ctx.
func (c *Client) Run(ctx context.Context, job *Job, opts RunOptions) (*Report, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Wait < 0 {
		return nil, invalid(fmt.Sprintf("the confirmation wait must not be negative, got %v", opts.Wait))
	}
	if opts.VerifyLimit < 0 || uint64(opts.VerifyLimit) > math.MaxUint32 {
		return nil, invalid(fmt.Sprintf("VerifyLimit must be from 0 (the default) to %d, got %d", uint32(math.MaxUint32), opts.VerifyLimit))
	}
	jh, err := job.begin()
	if err != nil {
		return nil, err
	}
	defer job.end()
	h, idle, err := c.enter()
	if err != nil {
		return nil, err
	}
	defer c.leave(idle) // not used: a run sets more on its own

	// A run of its own (not an idle slot of the client's): dry run, wait and progress are
	// set on it.
	slot, err := newRunSlot()
	if err != nil {
		return nil, err
	}
	var cr callRun
	defer func() { cr.end().free() }() // also on a re-panic below
	if err := cr.start(ctx, slot); err != nil {
		return nil, err
	}
	var cerr *C.char
	set := func(status C.int32_t) error { return takeError(status, cerr) }
	if opts.DryRun {
		if err := set(C.gcdn_run_set_dry_run(cr.run, 1, &cerr)); err != nil {
			return nil, err
		}
	}
	if opts.Wait > 0 {
		if err := set(C.gcdn_run_set_wait_ms(cr.run, ceilMillis(opts.Wait), &cerr)); err != nil {
			return nil, err
		}
	}
	if opts.Exact {
		if err := set(C.gcdn_run_set_exact(cr.run, 1, &cerr)); err != nil {
			return nil, err
		}
	}
	if opts.Verify {
		if err := set(C.gcdn_run_set_verify(cr.run, 1, &cerr)); err != nil {
			return nil, err
		}
	}
	if opts.Prefetch {
		if err := set(C.gcdn_run_set_prefetch(cr.run, 1, &cerr)); err != nil {
			return nil, err
		}
	}
	if opts.VerifyLimit > 0 {
		if err := set(C.gcdn_run_set_verify_limit(cr.run, C.uint32_t(opts.VerifyLimit), &cerr)); err != nil {
			return nil, err
		}
	}
	for i, edge := range opts.Edges {
		if err := addEdge(cr.run, i, edge); err != nil {
			return nil, err
		}
	}
	var ps *progressState
	if opts.Progress != nil {
		ps = &progressState{fn: opts.Progress}
		handle := cgo.NewHandle(ps)
		defer handle.Delete()
		err := set(C.gcdn_run_set_progress(cr.run, C.gcdn_progress_fn(C.gcdnGoProgress),
			C.gcdn_go_run_ptr(C.uintptr_t(handle)), &cerr))
		if err != nil {
			return nil, err
		}
	}

	var rep *C.gcdn_report
	status := C.gcdn_job_run(h, jh, cr.run, &rep, &cerr)
	runtime.KeepAlive(c)
	runtime.KeepAlive(job)
	cr.end().free()
	runErr := takeError(status, cerr)

	var report *Report
	if rep != nil {
		var err error
		if report, err = newReport(rep); err != nil && runErr == nil {
			runErr = err
		}
	}
	if ps != nil && ps.panicked {
		panic(ps.panicVal)
	}
	if e, ok := runErr.(*Error); ok && report != nil {
		for _, r := range report.Requests {
			if r.Outcome == "failed" && r.HTTPStatus != 0 {
				e.HTTPStatus = r.HTTPStatus // the first failed request's
				break
			}
		}
	}
	if ps != nil && ps.err != nil {
		return report, &ProgressError{Err: ps.err, Run: runErr}
	}
	return report, contextError(ctx, runErr)
}

// addEdge adds edge i of RunOptions.Edges to run; the library checks it.
func addEdge(run *C.gcdn_run, i int, edge string) error {
	if strings.IndexByte(edge, 0) >= 0 {
		return invalid(fmt.Sprintf("edge %d contains a NUL byte", i))
	}
	cs := C.CString(edge)
	defer C.free(unsafe.Pointer(cs))
	var cerr *C.char
	return takeError(C.gcdn_run_add_edge(run, cs, &cerr), cerr)
}

// ProgressError is the error of a run that its Progress function stopped: errors.Is and
// errors.As look into Err, the function's error.
type ProgressError struct {
	Err error // what Progress returned
	Run error // the run's own error (ErrCancelled), with the counts of what was done
}

func (e *ProgressError) Error() string {
	msg := "gcdn: the run was stopped by its Progress function: " + e.Err.Error()
	if e.Run != nil {
		msg += " (" + e.Run.Error() + ")"
	}
	return msg
}

func (e *ProgressError) Unwrap() error { return e.Err }
