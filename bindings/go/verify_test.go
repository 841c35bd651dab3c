package gcdn_test

// Cache-key rewriting, Exact, verification at the edge and prefetch through Client.Run,
// against the real library, the emulator's API and a real HTTP server on loopback as the edge.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
	"github.com/gcdn-project/gcdn/bindings/go/gcdntest"
)

var ignoreQuery = map[string]any{"ignoreQueryString": map[string]any{"enabled": true, "value": true}}

const staleSince = "2000-01-01T00:00:00+00:00"

// edgeHit is one request the test edge received.
type edgeHit struct {
	Method, Path, Host string
	Header             http.Header
}

// testEdge starts a CDN edge on loopback that answers by path: /stale* a HIT cached in 2000
// (before any purge), /garbage* bytes that are not HTTP, anything else a MISS. It returns
// its URL and the requests it received.
func testEdge(t *testing.T) (string, func() []edgeHit) {
	t.Helper()
	var mu sync.Mutex
	var hits []edgeHit
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, edgeHit{r.Method, r.URL.RequestURI(), r.Host, r.Header.Clone()})
		mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/garbage"):
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Write([]byte("\x00\x01 not http at all\r\n\r\n"))
				conn.Close()
			}
			return
		case strings.HasPrefix(r.URL.Path, "/stale"):
			w.Header().Set("Cache", "HIT")
			w.Header().Set("X-Cached-Since", staleSince)
		default:
			w.Header().Set("Cache", "MISS")
		}
		w.Header().Set("X-ID", "ed-7")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []edgeHit {
		mu.Lock()
		defer mu.Unlock()
		return append([]edgeHit(nil), hits...)
	}
}

// sentPurges returns the URL purges the emulator received, as "path urls..." strings, sorted.
func sentPurges(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range purges(t) {
		var body struct{ URLs []string }
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Path+" "+strings.Join(body.URLs, " "))
	}
	sort.Strings(out)
	return out
}

// TestRunCacheKeyForm: by default URL items go in their resource's cache-key form (query
// dropped where ignored, kept to the whitelist, sorted), each rewrite and the slice warning
// reported; Exact sends them as given.
func TestRunCacheKeyForm(t *testing.T) {
	setup(t)
	putResource(t, map[string]any{"id": 5, "cname": "cdn5.example.com", "options": ignoreQuery})
	putResource(t, map[string]any{"id": 6, "cname": "cdn6.example.com", "options": map[string]any{
		"query_params_whitelist": map[string]any{"enabled": true, "value": []string{"lang"}},
		"slice":                  map[string]any{"enabled": true, "value": true},
	}})
	c := newClient(t)
	job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(5, []string{"/app.js?v=2"}) },
		func(j *gcdn.Job) error {
			return j.AddFullURLs([]string{"https://cdn6.example.com/page?utm_source=x&lang=de"})
		})
	report, err := c.Run(ctx, job, gcdn.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/cdn/resources/5/purge /app.js", "/cdn/resources/6/purge /page?lang=de"}
	if got := sentPurges(t); !reflect.DeepEqual(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	wantRewritten := []gcdn.RewrittenItem{
		{Item: "/app.js?v=2", As: "/app.js", ResourceID: 5, By: "ignoreQueryString"},
		{Item: "https://cdn6.example.com/page?utm_source=x&lang=de", As: "/page?lang=de", ResourceID: 6, By: "query_params_whitelist"},
	}
	if !reflect.DeepEqual(report.Rewritten, wantRewritten) {
		t.Errorf("Rewritten %+v, want %+v", report.Rewritten, wantRewritten)
	}
	if len(report.Warnings) != 1 || report.Warnings[0].ResourceID != 6 || report.Warnings[0].Code != "slice" ||
		!strings.Contains(report.Warnings[0].Message, "slice") {
		t.Errorf("Warnings %+v", report.Warnings)
	}

	setup(t) // forget the requests (and the rate windows); the resources again
	putResource(t, map[string]any{"id": 5, "cname": "cdn5.example.com", "options": ignoreQuery})
	report, err = c.Run(ctx, mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(5, []string{"/app.js?v=2"}) }),
		gcdn.RunOptions{Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := sentPurges(t); !reflect.DeepEqual(got, []string{"/cdn/resources/5/purge /app.js?v=2"}) {
		t.Errorf("Exact sent %q", got)
	}
	if len(report.Rewritten) != 0 {
		t.Errorf("Exact: Rewritten %+v", report.Rewritten)
	}
}

// TestRunVerifyFresh: fresh URLs pass; each probe is a HEAD to the edge given, with the
// URL's host in Host and no API key.
func TestRunVerifyFresh(t *testing.T) {
	setup(t)
	edge, hits := testEdge(t)
	c := newClient(t)
	job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(5, []string{"/a.js", "/b.js"}) })
	report, err := c.Run(withTimeout(t, 60*time.Second), job, gcdn.RunOptions{
		Verify: true, Wait: 20 * time.Second, Edges: []string{edge},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var got []string
	for _, v := range report.Verified {
		got = append(got, strings.Join([]string{v.URL, v.Result, v.Cache, v.Edge}, " "))
		if v.ResourceID != 5 {
			t.Errorf("%+v", v)
		}
	}
	sort.Strings(got)
	want := []string{"https://cdn5.example.com/a.js fresh MISS ed-7", "https://cdn5.example.com/b.js fresh MISS ed-7"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Verified %q, want %q", got, want)
	}
	if tt := report.Totals; tt.VerifiedFresh != 2 || tt.VerifiedStale != 0 || tt.VerifiedError != 0 || tt.Confirmed != 1 {
		t.Errorf("totals %+v", tt)
	}
	h := hits()
	if len(h) != 2 {
		t.Fatalf("the edge got %d requests, want 2: %+v", len(h), h)
	}
	for _, hit := range h {
		if hit.Method != "HEAD" || hit.Host != "cdn5.example.com" || hit.Header.Get("Authorization") != "" {
			t.Errorf("probe %+v", hit)
		}
		for _, vs := range hit.Header {
			for _, v := range vs {
				if strings.Contains(v, emulatorKey) {
					t.Errorf("the probe carries the API key: %+v", hit)
				}
			}
		}
	}
}

// TestRunVerifyStale: a URL the edge serves from a copy cached before its purge fails the
// run with ErrStale and its report; a garbage answer is an error probe; VerifyLimit bounds
// the probes.
func TestRunVerifyStale(t *testing.T) {
	setup(t)
	edge, hits := testEdge(t)
	c := newClient(t)
	job := mustJob(t, func(j *gcdn.Job) error {
		return j.AddURLs(6, []string{"/stale.css", "/fresh.css", "/garbage.css"})
	})
	report, err := c.Run(withTimeout(t, 60*time.Second), job, gcdn.RunOptions{
		Verify: true, Wait: 20 * time.Second, Edges: []string{edge},
	})
	e := wantErr(t, err, gcdn.ErrStale)
	if !strings.Contains(e.Message, "stale") {
		t.Errorf("message %q", e.Message)
	}
	if report == nil || report.Status != gcdn.StatusStale {
		t.Fatalf("report %+v", report)
	}
	by := map[string]gcdn.VerifiedURL{}
	for _, v := range report.Verified {
		by[v.URL] = v
	}
	stale := by["https://cdn6.example.com/stale.css"]
	if stale.Result != "stale" || stale.Cache != "HIT" || stale.CachedSince != staleSince || stale.Edge != "ed-7" {
		t.Errorf("stale %+v", stale)
	}
	if by["https://cdn6.example.com/fresh.css"].Result != "fresh" {
		t.Errorf("fresh %+v", by["https://cdn6.example.com/fresh.css"])
	}
	if g := by["https://cdn6.example.com/garbage.css"]; g.Result != "error" || g.Cache != "" || !strings.Contains(g.Message, "not HTTP") {
		t.Errorf("garbage %+v", g)
	}
	if tt := report.Totals; tt.VerifiedFresh != 1 || tt.VerifiedStale != 1 || tt.VerifiedError != 1 {
		t.Errorf("totals %+v", tt)
	}
	if len(report.Requests) != 1 || report.Requests[0].Outcome != "purged" {
		t.Errorf("requests %+v", report.Requests)
	}

	t.Run("limit", func(t *testing.T) {
		before := len(hits())
		urls := make([]string, 10)
		for i := range urls {
			urls[i] = "/f" + string(rune('a'+i)) + ".js"
		}
		report, err := c.Run(withTimeout(t, 60*time.Second), mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(7, urls) }),
			gcdn.RunOptions{Verify: true, VerifyLimit: 3, Wait: 20 * time.Second, Edges: []string{edge}})
		if err != nil {
			t.Fatal(err)
		}
		if len(report.Verified) != 3 || len(hits())-before != 3 || report.Totals.VerifiedFresh != 3 {
			t.Errorf("%d verified, %d probes, totals %+v", len(report.Verified), len(hits())-before, report.Totals)
		}
	})
}

// TestRunPrefetch: the purged paths (in their cache-key form) go to the resource's
// prefetch, reported per request; the report's JSON carries the same entries.
func TestRunPrefetch(t *testing.T) {
	setup(t)
	putResource(t, map[string]any{"id": 5, "cname": "cdn5.example.com", "options": ignoreQuery})
	c := newClient(t)
	report, err := c.Run(ctx, mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(5, []string{"/big.iso?v=9", "/big2.iso"}) }),
		gcdn.RunOptions{Prefetch: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Prefetched) != 1 || report.Prefetched[0].ResourceID != 5 {
		t.Fatalf("Prefetched %+v", report.Prefetched)
	}
	if p := report.Prefetched[0]; p.Outcome != "purged" || p.Status != gcdn.StatusOK || p.HTTPStatus/100 != 2 || p.Message != "" {
		t.Errorf("prefetch %+v, want accepted", p)
	}
	paths := append([]string(nil), report.Prefetched[0].Items...)
	sort.Strings(paths)
	if !reflect.DeepEqual(paths, []string{"/big.iso", "/big2.iso"}) {
		t.Errorf("prefetched paths %q", paths)
	}
	var posted []string
	for _, r := range requests(t) {
		if r.Path == "/cdn/resources/5/prefetch" {
			var body struct{ Paths []string }
			if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
				t.Fatal(err)
			}
			sort.Strings(body.Paths)
			posted = append(posted, r.Method+" "+strings.Join(body.Paths, " "))
			if r.Status != report.Prefetched[0].HTTPStatus {
				t.Errorf("the emulator answered %d, the report says %d", r.Status, report.Prefetched[0].HTTPStatus)
			}
		}
	}
	if !reflect.DeepEqual(posted, []string{"POST /big.iso /big2.iso"}) {
		t.Errorf("the emulator got prefetches %q", posted)
	}
	checkJSONMirrors(t, report)
}

// checkJSONMirrors checks that the report's typed entries say what its JSON says, key by key.
func checkJSONMirrors(t *testing.T, report *gcdn.Report) {
	t.Helper()
	js, err := report.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	str := func(x any) string { s, _ := x.(string); return s }
	num := func(x any) int64 { f, _ := x.(float64); return int64(f) }
	list := func(key string) []map[string]any {
		raw, ok := v[key].([]any)
		if !ok {
			t.Fatalf("JSON has no list %q: %s", key, js)
		}
		out := make([]map[string]any, len(raw))
		for i, x := range raw {
			out[i] = x.(map[string]any)
		}
		return out
	}
	var fromJSON, typed []any
	for _, m := range list("rewritten") {
		fromJSON = append(fromJSON, gcdn.RewrittenItem{Item: str(m["item"]), As: str(m["as"]), ResourceID: num(m["resource_id"]),
			By: str(m["by"]), RuleID: num(m["rule_id"])})
	}
	for _, x := range report.Rewritten {
		typed = append(typed, x)
	}
	for _, m := range list("warnings") {
		fromJSON = append(fromJSON, gcdn.PlanWarning{ResourceID: num(m["resource_id"]), Code: str(m["code"]), Message: str(m["message"])})
	}
	for _, x := range report.Warnings {
		typed = append(typed, x)
	}
	for _, m := range list("verified") {
		fromJSON = append(fromJSON, gcdn.VerifiedURL{URL: str(m["url"]), ResourceID: num(m["resource_id"]), Result: str(m["result"]),
			Cache: str(m["cache"]), CachedSince: str(m["cached_since"]), Edge: str(m["edge"]), Message: str(m["message"])})
	}
	for _, x := range report.Verified {
		typed = append(typed, x)
	}
	for _, m := range list("prefetched") {
		var items []string
		for _, it := range m["items"].([]any) {
			items = append(items, str(it))
		}
		fromJSON = append(fromJSON, gcdn.PrefetchRequest{ResourceID: num(m["resource_id"]), Items: items, Outcome: str(m["outcome"]),
			Status: int(num(m["status"])), HTTPStatus: int(num(m["http_status"])), Message: str(m["message"])})
	}
	for _, x := range report.Prefetched {
		typed = append(typed, x)
	}
	if !reflect.DeepEqual(fromJSON, typed) {
		t.Errorf("typed entries %+v\nJSON says %+v", typed, fromJSON)
	}
	totals := v["totals"].(map[string]any)
	tt := report.Totals
	if num(totals["verified_fresh"]) != int64(tt.VerifiedFresh) || num(totals["verified_stale"]) != int64(tt.VerifiedStale) ||
		num(totals["verified_error"]) != int64(tt.VerifiedError) {
		t.Errorf("totals %+v, JSON %v", tt, totals)
	}
}

// TestRunOptionsRefused: a bad edge or VerifyLimit fails Run before anything is sent.
func TestRunOptionsRefused(t *testing.T) {
	setup(t)
	c := newClient(t)
	job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(5, []string{"/a.js"}) })
	for _, tc := range []struct {
		opts gcdn.RunOptions
		word string
	}{
		{gcdn.RunOptions{Verify: true, Edges: []string{"http://example.com"}}, "loopback"},
		{gcdn.RunOptions{Verify: true, Edges: []string{"https://127.0.0.1", "ftp://127.0.0.1"}}, ""},
		{gcdn.RunOptions{Verify: true, Edges: []string{"https://127.0.0.1\x00x"}}, "NUL"},
		{gcdn.RunOptions{Verify: true, VerifyLimit: -1}, "VerifyLimit"},
		{gcdn.RunOptions{Verify: true, VerifyLimit: 1 << 40}, "VerifyLimit"},
	} {
		report, err := c.Run(ctx, job, tc.opts)
		e := wantErr(t, err, gcdn.ErrInvalidArgument)
		if !strings.Contains(e.Message, tc.word) || report != nil {
			t.Errorf("%+v: %v, report %v", tc.opts, err, report)
		}
	}
	wantNoRequests(t)
}

// TestHeaderTotals: every GCDN_TOTAL_* of gcdn.h has its field in Totals, and is a key of the
// report JSON's totals.
func TestHeaderTotals(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "include", "gcdn.h"))
	if err != nil {
		t.Skipf("no header in the repository: %v", err)
	}
	defs := regexp.MustCompile(`(?m)^#define GCDN_TOTAL_(\w+) \d+$`).FindAllStringSubmatch(string(src), -1)
	fields := map[string]bool{}
	tt := reflect.TypeOf(gcdn.Totals{})
	for i := 0; i < tt.NumField(); i++ {
		fields[tt.Field(i).Name] = true
	}
	if len(defs) != len(fields) {
		t.Errorf("gcdn.h has %d totals, Totals %d fields", len(defs), len(fields))
	}
	setup(t)
	c := newClient(t)
	report, err := c.Run(ctx, mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(5, []string{"/a"}) }), gcdn.RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := report.JSON()
	var v struct{ Totals map[string]any }
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		name := strings.TrimSuffix(d[1], "_MS") // ELAPSED_MS is Totals.Elapsed, a Duration
		var goName string
		for _, w := range strings.Split(name, "_") {
			goName += w[:1] + strings.ToLower(w[1:])
		}
		if !fields[goName] {
			t.Errorf("GCDN_TOTAL_%s: Totals has no field %s", d[1], goName)
		}
		if _, ok := v.Totals[strings.ToLower(d[1])]; !ok {
			t.Errorf("GCDN_TOTAL_%s: the report JSON's totals have no %q", d[1], strings.ToLower(d[1]))
		}
	}
}

// edgeEmulator starts an emulator with its edge, resource 5 ignoring query strings and 6
// plain, and a client of it.
func edgeEmulator(t *testing.T) (*gcdntest.Emulator, *gcdn.Client) {
	t.Helper()
	e := gcdntest.Start(t)
	e.Control("POST", "resources", map[string]any{"id": 5, "cname": "cdn5.example.com", "options": ignoreQuery})
	e.Control("POST", "resources", map[string]any{"id": 6, "cname": "cdn6.example.com"})
	c, err := gcdn.NewClient(e.APIKey(), gcdn.WithBaseURL(e.URL()), gcdn.WithTimeout(5*time.Second),
		gcdn.WithPurgeIntervals(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return e, c
}

// TestRunExactStaleAtTheEmulatorsEdge: on a resource that ignores query strings, /app.js?v=2
// sent as given (Exact) purges nothing, and the emulator's edge still serves its copy of
// /app.js from 2000: ErrStale. In its cache-key form the same item is purged: fresh.
func TestRunExactStaleAtTheEmulatorsEdge(t *testing.T) {
	e, c := edgeEmulator(t)
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	e.EdgeStore(5, old, "/app.js")
	job := mustJob(t, func(j *gcdn.Job) error { return j.AddURLs(5, []string{"/app.js?v=2"}) })
	opts := gcdn.RunOptions{Exact: true, Verify: true, Wait: 20 * time.Second, Edges: []string{e.EdgeURL()}}
	report, err := c.Run(withTimeout(t, 60*time.Second), job, opts)
	wantErr(t, err, gcdn.ErrStale)
	if report == nil || len(report.Verified) != 1 || len(report.Rewritten) != 0 {
		t.Fatalf("report %+v", report)
	}
	v := report.Verified[0]
	if v.URL != "https://cdn5.example.com/app.js?v=2" || v.Result != "stale" || v.Cache != "HIT" ||
		v.Edge != "emu-edge-1" || !strings.HasPrefix(v.CachedSince, "2000-01-01") {
		t.Errorf("verified %+v", v)
	}
	var sent []string
	for _, r := range e.Requests() {
		if strings.HasSuffix(r.Path, "/purge") {
			sent = append(sent, r.Body)
		}
	}
	if !reflect.DeepEqual(sent, []string{`{"urls":["/app.js?v=2"]}`}) {
		t.Errorf("purges %q", sent)
	}
	probes := e.EdgeRequests()
	if len(probes) != 1 || probes[0].Method != "HEAD" || probes[0].Host != "cdn5.example.com" ||
		probes[0].Path != "/app.js?v=2" || probes[0].Cache != "HIT" {
		t.Errorf("edge requests %+v", probes)
	}
	for _, p := range probes {
		for k, v := range p.Headers {
			if strings.EqualFold(k, "authorization") || strings.Contains(v, e.APIKey()) {
				t.Errorf("a probe carries the key: %+v", p)
			}
		}
	}

	opts.Exact = false
	report, err = c.Run(withTimeout(t, 60*time.Second), job, opts)
	if err != nil {
		t.Fatalf("cache-key form: %v", err)
	}
	if len(report.Rewritten) != 1 || report.Rewritten[0].As != "/app.js" || len(report.Verified) != 1 ||
		report.Verified[0].Result != "fresh" || report.Verified[0].Cache != "MISS" {
		t.Errorf("rewritten %+v, verified %+v", report.Rewritten, report.Verified)
	}
	checkJSONMirrors(t, report)
}

// TestRunEdgeIgnoresAPurge: a path the emulator's edge keeps through purges is stale, the
// other fresh.
func TestRunEdgeIgnoresAPurge(t *testing.T) {
	e, c := edgeEmulator(t)
	e.EdgeStore(6, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), "/keep.css", "/go.css")
	e.EdgeIgnorePurges("/keep.css")
	job := mustJob(t, func(j *gcdn.Job) error {
		return j.AddFullURLs([]string{"https://cdn6.example.com/keep.css", "https://cdn6.example.com/go.css"})
	})
	report, err := c.Run(withTimeout(t, 60*time.Second), job, gcdn.RunOptions{
		Verify: true, Wait: 20 * time.Second, Edges: []string{e.EdgeURL()}, Prefetch: true,
	})
	wantErr(t, err, gcdn.ErrStale)
	var got []string
	for _, v := range report.Verified {
		got = append(got, v.URL+" "+v.Result+" "+v.Cache)
	}
	sort.Strings(got)
	want := []string{"https://cdn6.example.com/go.css fresh MISS", "https://cdn6.example.com/keep.css stale HIT"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("verified %q, want %q", got, want)
	}
	if tt := report.Totals; tt.VerifiedFresh != 1 || tt.VerifiedStale != 1 {
		t.Errorf("totals %+v", tt)
	}
	// The prefetch went too: a stale URL does not change it.
	if len(report.Prefetched) != 1 || report.Prefetched[0].Outcome != "purged" {
		t.Errorf("prefetched %+v", report.Prefetched)
	}
	checkJSONMirrors(t, report)
}
