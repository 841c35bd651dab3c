package gcdn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

// putResource creates (or replaces) a resource with these fields (see the control API).
func putResource(t testing.TB, fields map[string]any) {
	t.Helper()
	mustCall(t, "POST", "/__emulator/resources", fields)
}

// purges returns the purge requests the emulator received, as "id body" strings.
func purges(t testing.TB) []recorded {
	t.Helper()
	var out []recorded
	for _, r := range requests(t) {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/purge") {
			out = append(out, r)
		}
	}
	return out
}

// goid is the current goroutine's id, from its stack header ("goroutine 7 [running]:").
func goid() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	return strings.Fields(string(b))[1]
}

func mustJob(t testing.TB, add ...func(*gcdn.Job) error) *gcdn.Job {
	t.Helper()
	j := gcdn.NewJob()
	for _, f := range add {
		if err := f(j); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

// TestJobSeveralHosts: full URLs over several hosts, duplicates, covered items, an unknown
// host, a resource that cannot purge by URL and an inactive one; the report says exactly
// what was sent and what was left out, and why.
func TestJobSeveralHosts(t *testing.T) {
	setup(t)
	putResource(t, map[string]any{"id": 6, "cname": "www.example.org", "secondaryHostnames": []string{"static.example.org"}})
	putResource(t, map[string]any{"id": 7, "can_purge_by_urls": false})
	putResource(t, map[string]any{"id": 8, "active": false})
	c := newClient(t)
	job := mustJob(t,
		func(j *gcdn.Job) error {
			return j.AddFullURLs([]string{
				"https://cdn5.example.com/a.png", "https://CDN5.example.com/a.png",
				"https://static.example.org/b.css?v=2", "https://nohost.example.net/x",
				"https://cdn7.example.com/c", "https://cdn8.example.com/d",
			})
		},
		func(j *gcdn.Job) error { return j.AddPatterns(6, []string{"/img/*"}) },
		func(j *gcdn.Job) error { return j.AddURLs(6, []string{"/img/a.png"}) },
		func(j *gcdn.Job) error { return j.AddAll(9) },
		func(j *gcdn.Job) error { return j.AddURLs(9, []string{"/z"}) },
	)
	if job.Len() != 10 {
		t.Errorf("Len %d, want 10", job.Len())
	}
	report, err := c.Run(withTimeout(t, 30*time.Second), job, gcdn.RunOptions{})
	if report == nil {
		t.Fatalf("no report: %v", err)
	}
	// Items left out as no_resource / inactive / url_purge_disabled fail the run, after
	// everything else was sent.
	var e *gcdn.Error
	if !errors.As(err, &e) || (e.Status != gcdn.StatusNotFound && e.Status != gcdn.StatusRejected) {
		t.Fatalf("Run: %v, want ErrNotFound or ErrRejected", err)
	}
	noSecret(t, err)

	type req struct {
		id      int64
		kind    string
		items   string
		outcome string
	}
	var got []req
	for _, r := range report.Requests {
		got = append(got, req{r.ResourceID, r.Kind, strings.Join(r.Items, ","), r.Outcome})
		if r.Outcome == "purged" && (r.Status != gcdn.StatusOK || r.HTTPStatus != 201 || r.Attempts != 1) {
			t.Errorf("purged request %+v", r)
		}
	}
	sort.Slice(got, func(i, j int) bool { return fmt.Sprint(got[i]) < fmt.Sprint(got[j]) })
	want := []req{
		{5, "urls", "/a.png", "purged"},
		{6, "patterns", "/img/*", "purged"},
		{6, "urls", "/b.css?v=2", "purged"},
		{9, "all", "", "purged"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests\n got %+v\nwant %+v", got, want)
	}
	skipped := map[string]gcdn.SkippedItem{}
	for _, s := range report.Skipped {
		skipped[s.Item] = s
	}
	for item, w := range map[string]gcdn.SkippedItem{
		"https://CDN5.example.com/a.png": {ResourceID: 5, Reason: "duplicate"},
		"/img/a.png":                     {ResourceID: 6, Reason: "covered", By: "/img/*"},
		"/z":                             {ResourceID: 9, Reason: "covered", By: "all"},
		"https://nohost.example.net/x":   {ResourceID: 0, Reason: "no_resource"},
		"https://cdn7.example.com/c":     {ResourceID: 7, Reason: "url_purge_disabled"},
		"https://cdn8.example.com/d":     {ResourceID: 8, Reason: "inactive"},
	} {
		w.Item = item
		if skipped[item] != w {
			t.Errorf("skipped %q: %+v, want %+v", item, skipped[item], w)
		}
	}
	if len(report.Skipped) != 6 {
		t.Errorf("%d skipped, want 6: %+v", len(report.Skipped), report.Skipped)
	}
	tot := report.Totals
	if tot.Requests != 4 || tot.Purged != 4 || tot.Failed != 0 || tot.NotSent != 0 || tot.ItemsPurged != 4 || tot.Skipped != 6 {
		t.Errorf("totals %+v", tot)
	}
	if n := len(purges(t)); n != 4 {
		t.Errorf("the emulator saw %d purges, want 4", n)
	}
	// Nothing failed: the left-out items are not "remaining" work.
	if rest := report.Remaining(); rest != nil {
		t.Errorf("Remaining: %d items, want nil", rest.Len())
	}
	// The JSON form carries the same.
	js, err := report.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version  int               `json:"version"`
		DryRun   bool              `json:"dry_run"`
		Requests []json.RawMessage `json:"requests"`
		Skipped  []json.RawMessage `json:"skipped"`
		Totals   map[string]any    `json:"totals"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("JSON: %v: %s", err, js)
	}
	if doc.Version != 1 || doc.DryRun || len(doc.Requests) != 4 || len(doc.Skipped) != 6 || doc.Totals["purged"] != 4.0 {
		t.Errorf("JSON form: %s", js)
	}
}

// TestJobFailureAndRemaining: a request that fails (503 after its retries) is reported as
// failed; Remaining is the job of it alone, and a second run finishes the work.
func TestJobFailureAndRemaining(t *testing.T) {
	setup(t)
	c := newClient(t, gcdn.WithMaxRetries(0))
	addFault(t, "POST", purgePath(12), 1, map[string]any{"respond": map[string]any{"status": 503, "body": "busy"}})
	job := mustJob(t,
		func(j *gcdn.Job) error { return j.AddURLs(11, []string{"/ok1", "/ok2"}) },
		func(j *gcdn.Job) error { return j.AddURLs(12, []string{"/fails"}) },
	)
	report, err := c.Run(withTimeout(t, 30*time.Second), job, gcdn.RunOptions{})
	wantErr(t, err, gcdn.ErrServer)
	if report == nil {
		t.Fatal("no report with the error")
	}
	var failed, purged int
	for _, r := range report.Requests {
		switch {
		case r.ResourceID == 12 && r.Outcome == "failed" && r.Status == gcdn.StatusServer && r.HTTPStatus == 503:
			failed++
		case r.ResourceID == 11 && r.Outcome == "purged":
			purged++
		default:
			t.Errorf("request %+v", r)
		}
	}
	if failed != 1 || purged != 1 {
		t.Errorf("%d failed, %d purged; want 1 and 1", failed, purged)
	}
	rest := report.Remaining()
	if rest == nil || rest.Len() != 1 {
		t.Fatalf("Remaining: %v", rest)
	}
	mustCall(t, "DELETE", "/__emulator/requests", nil)
	report2, err := c.Run(withTimeout(t, 30*time.Second), rest, gcdn.RunOptions{})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if len(report2.Requests) != 1 || report2.Requests[0].ResourceID != 12 || report2.Requests[0].Outcome != "purged" ||
		!reflect.DeepEqual(report2.Requests[0].Items, []string{"/fails"}) {
		t.Errorf("second run: %+v", report2.Requests)
	}
	if report2.Remaining() != nil {
		t.Error("work left after the second run")
	}
	if p := purges(t); len(p) != 1 || p[0].Path != purgePath(12) {
		t.Errorf("second run sent %+v", p)
	}
	// The same job may be run again (and it is left unchanged by its runs).
	if job.Len() != 3 {
		t.Errorf("job Len %d after its run", job.Len())
	}
}

// TestJobDryRun: the plan and its estimate, without a purge sent.
func TestJobDryRun(t *testing.T) {
	setup(t)
	c := newClient(t, gcdn.WithPurgeIntervals(30*time.Second, 60*time.Second))
	urls := make([]string, 250)
	for i := range urls {
		urls[i] = fmt.Sprintf("/f%d.js", i)
	}
	job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(13, urls) },
		func(j *gcdn.Job) error { return j.AddFullURLs([]string{"https://cdn14.example.com/x"}) })
	start := time.Now()
	report, err := c.Run(ctx, job, gcdn.RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a dry run took %v", d)
	}
	if !report.DryRun || len(report.Requests) != 4 {
		t.Fatalf("dry run report: %+v", report)
	}
	for _, r := range report.Requests {
		if r.Outcome != "planned" {
			t.Errorf("request %+v, want planned", r)
		}
	}
	// 3 requests on resource 13, one request per 30 s: at least a minute.
	if report.Totals.Estimated < 55*time.Second {
		t.Errorf("estimated %v, want about 60 s", report.Totals.Estimated)
	}
	if p := purges(t); len(p) != 0 {
		t.Errorf("a dry run sent %d purges", len(p))
	}
}

// TestJobWaitConfirm: with Wait, the run polls the purge statuses until every purge is
// Successful; a Failed one fails the run with ErrRejected; one that stays in progress
// past the wait is ErrTimeout.
func TestJobWaitConfirm(t *testing.T) {
	setup(t)
	configure(t, map[string]any{"purge_status_delay_ms": 300})
	c := newClient(t)
	job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(15, []string{"/a", "/b"}) },
		func(j *gcdn.Job) error { return j.AddPatterns(16, []string{"/p/*"}) })
	var confirmed int
	report, err := c.Run(withTimeout(t, 60*time.Second), job, gcdn.RunOptions{
		Wait: 20 * time.Second,
		Progress: func(e gcdn.Event) error {
			if e.Kind == gcdn.EventConfirmed {
				confirmed++
				if e.Completion != "successful" || e.Request < 0 {
					t.Errorf("confirmed event %+v", e)
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatalf("Run with Wait: %v", err)
	}
	for _, r := range report.Requests {
		if r.Completion != "successful" {
			t.Errorf("request %+v, want completion successful", r)
		}
	}
	if confirmed != 2 || report.Totals.Confirmed != 2 {
		t.Errorf("%d confirmed events, totals %+v", confirmed, report.Totals)
	}

	t.Run("failed", func(t *testing.T) {
		mustCall(t, "POST", "/__emulator/purge_states", map[string]any{"state": "failed", "resource_id": 17})
		job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(17, []string{"/x"}) })
		report, err := c.Run(withTimeout(t, 60*time.Second), job, gcdn.RunOptions{Wait: 20 * time.Second})
		wantErr(t, err, gcdn.ErrRejected)
		if report == nil || len(report.Requests) != 1 || report.Requests[0].Completion != "failed" {
			t.Fatalf("report %+v", report)
		}
		if rest := report.Remaining(); rest == nil || rest.Len() != 1 {
			t.Errorf("a Failed purge is remaining work: %v", rest)
		}
	})
	t.Run("in progress", func(t *testing.T) {
		mustCall(t, "POST", "/__emulator/purge_states", map[string]any{"state": "in_progress", "resource_id": 18})
		job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(18, []string{"/y"}) })
		start := time.Now()
		report, err := c.Run(withTimeout(t, 60*time.Second), job, gcdn.RunOptions{Wait: 1500 * time.Millisecond})
		wantErr(t, err, gcdn.ErrTimeout)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a 1.5 s wait took %v", d)
		}
		if report == nil || report.Requests[0].Completion != "in_progress" {
			t.Fatalf("report %+v", report)
		}
	})
}

// TestJobProgress: events come in order (a request is sent before it is answered), with
// running totals that end at the report's, on the goroutine that called Run.
func TestJobProgress(t *testing.T) {
	setup(t)
	c := newClient(t)
	urls := make([]string, 230)
	for i := range urls {
		urls[i] = fmt.Sprintf("/e%d", i)
	}
	job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(19, urls) },
		func(j *gcdn.Job) error { return j.AddURLs(20, []string{"/one"}) })
	caller := goid()
	var events []gcdn.Event
	var others int
	report, err := c.Run(withTimeout(t, 30*time.Second), job, gcdn.RunOptions{Progress: func(e gcdn.Event) error {
		if goid() != caller {
			others++
		}
		events = append(events, e)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if others != 0 {
		t.Errorf("%d events on another goroutine than Run's", others)
	}
	sent := map[int]bool{}
	answered := map[int]bool{}
	last := gcdn.Totals{}
	for i, e := range events {
		if e.Totals.Purged < last.Purged || e.Totals.Sent < last.Sent {
			t.Errorf("event %d: totals went back: %+v after %+v", i, e.Totals, last)
		}
		last = e.Totals
		switch e.Kind {
		case gcdn.EventSent:
			if e.Request < 0 || e.Request >= len(report.Requests) || sent[e.Request] {
				t.Errorf("event %d: %+v", i, e)
			}
			sent[e.Request] = true
			if e.ResourceID != report.Requests[e.Request].ResourceID || e.PurgeKind != "urls" || e.Items != len(report.Requests[e.Request].Items) {
				t.Errorf("sent event %+v for request %+v", e, report.Requests[e.Request])
			}
		case gcdn.EventAnswered:
			if !sent[e.Request] || answered[e.Request] || e.HTTPStatus != 201 {
				t.Errorf("event %d: answered %+v before it was sent", i, e)
			}
			answered[e.Request] = true
		}
	}
	if len(sent) != 4 || len(answered) != 4 {
		t.Errorf("%d sent, %d answered events; want 4 each: %+v", len(sent), len(answered), events)
	}
	if last.Purged != report.Totals.Purged || last.ItemsPurged != 231 || report.Totals.Requests != 4 {
		t.Errorf("last totals %+v, report %+v", last, report.Totals)
	}
}

var errStop = errors.New("stop here")

// TestJobProgressStops: an error from Progress stops the run (nothing more is sent) and
// is returned wrapped; a panic in Progress stops the run and comes out of Run, and the
// client stays usable.
func TestJobProgressStops(t *testing.T) {
	setup(t)
	// One URL purge per 300 ms on a resource: the run has to wait between its requests.
	c := newClient(t, gcdn.WithPurgeIntervals(300*time.Millisecond, 300*time.Millisecond))
	five := func(id int64) *gcdn.Job {
		urls := make([]string, 500)
		for i := range urls {
			urls[i] = fmt.Sprintf("/s%d", i)
		}
		return mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(id, urls) })
	}
	job := five(21)
	report, err := c.Run(withTimeout(t, 30*time.Second), job, gcdn.RunOptions{Progress: func(e gcdn.Event) error {
		if e.Kind == gcdn.EventAnswered {
			return errStop
		}
		return nil
	}})
	if !errors.Is(err, errStop) {
		t.Fatalf("Run: %v, want it to wrap errStop", err)
	}
	var pe *gcdn.ProgressError
	if !errors.As(err, &pe) || !errors.Is(pe.Run, gcdn.ErrCancelled) {
		t.Errorf("error %#v", err)
	}
	if report == nil || report.Totals.Purged != 1 || report.Totals.NotSent != 4 {
		t.Fatalf("report after the stop: %+v", report)
	}
	if n := len(purges(t)); n != 1 {
		t.Errorf("%d purges sent, want 1", n)
	}
	if rest := report.Remaining(); rest == nil || rest.Len() != 400 {
		t.Errorf("Remaining after the stop: %v", rest)
	}

	// Adding to a job while it runs is refused; after the run it works again.
	addErr := errors.New("Progress was not called")
	small := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(26, []string{"/small"}) })
	if _, err := c.Run(withTimeout(t, 30*time.Second), small, gcdn.RunOptions{Progress: func(gcdn.Event) error {
		addErr = small.AddURLs(26, []string{"/late"})
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, addErr, gcdn.ErrInvalidArgument)
	if err := small.AddURLs(26, []string{"/later"}); err != nil || small.Len() != 2 {
		t.Errorf("add after the run: %v, Len %d", err, small.Len())
	}

	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the Progress panic", r)
			}
		}()
		_, _ = c.Run(withTimeout(t, 30*time.Second), five(22), gcdn.RunOptions{Progress: func(e gcdn.Event) error {
			panic("boom")
		}})
		t.Error("Run returned after its Progress panicked")
	}()
	if n := len(purges(t)); n > 3 {
		t.Errorf("%d purges after the panic stop, want at most 3", n)
	}
	if err := c.PurgeURLs(withTimeout(t, 10*time.Second), 23, []string{"/after"}); err != nil {
		t.Errorf("the client after a Progress panic: %v", err)
	}
}

// TestJobContext: cancelling the context mid-run (while it waits for the pacer) stops it
// at once with ErrCancelled and context.Canceled; a deadline mid-run gives ErrTimeout and
// context.DeadlineExceeded. The report is there both times.
func TestJobContext(t *testing.T) {
	setup(t)
	c := newClient(t, gcdn.WithPurgeIntervals(time.Minute, time.Minute))
	job := func(id int64) *gcdn.Job {
		urls := make([]string, 300)
		for i := range urls {
			urls[i] = fmt.Sprintf("/c%d", i)
		}
		return mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(id, urls) })
	}
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits int
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	report, err := c.Run(cctx, job(24), gcdn.RunOptions{Progress: func(e gcdn.Event) error {
		if e.Kind == gcdn.EventWait {
			waits++
		}
		return nil
	}})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled run returned after %v", d)
	}
	wantErr(t, err, gcdn.ErrCancelled)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not match context.Canceled", err)
	}
	if report == nil || report.Totals.Purged != 1 || report.Totals.NotSent != 2 {
		t.Fatalf("report: %+v", report)
	}
	if waits == 0 {
		t.Error("no wait event before the cancel")
	}

	dctx, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	start = time.Now()
	report, err = c.Run(dctx, job(25), gcdn.RunOptions{})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run past its deadline returned after %v", d)
	}
	wantErr(t, err, gcdn.ErrTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not match context.DeadlineExceeded", err)
	}
	if report == nil || report.Totals.Purged != 1 || report.Totals.NotSent != 2 {
		t.Fatalf("report: %+v", report)
	}
}

// TestJobInvalid: bad items are refused at once with their index, the job unchanged; an
// empty job is refused and nothing is sent.
func TestJobInvalid(t *testing.T) {
	setup(t)
	c := newClient(t)
	j := gcdn.NewJob()
	if err := j.AddURLs(5, []string{"/ok"}); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"full URL as path": j.AddURLs(5, []string{"/fine", "https://cdn.example.com/a"}),
		"http full URL":    j.AddFullURLs([]string{"http://cdn.example.com/a"}),
		"no path":          j.AddFullURLs([]string{"https://cdn.example.com"}),
		"bad pattern":      j.AddPatterns(5, []string{"/a*b"}),
		"bad resource":     j.AddAll(0),
		"empty list":       j.AddURLs(5, nil),
		"NUL":              j.AddURLs(5, []string{"/a\x00b"}),
	} {
		e := wantErr(t, err, gcdn.ErrInvalidArgument)
		if name == "full URL as path" && !strings.Contains(e.Message, "1") {
			t.Errorf("%s: %q does not name the index", name, e.Message)
		}
	}
	if j.Len() != 1 {
		t.Errorf("Len %d after refused adds, want 1", j.Len())
	}
	report, err := c.Run(ctx, gcdn.NewJob(), gcdn.RunOptions{})
	wantErr(t, err, gcdn.ErrInvalidArgument)
	if report != nil {
		t.Errorf("a report for a refused run: %+v", report)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(ctx, j, gcdn.RunOptions{}); !errors.Is(err, gcdn.ErrInvalidArgument) {
		t.Errorf("run of a closed job: %v", err)
	}
	wantNoRequests(t)
}
