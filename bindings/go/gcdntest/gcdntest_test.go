package gcdntest_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
	"github.com/gcdn-project/gcdn/bindings/go/gcdntest"
)

func client(t *testing.T, emu *gcdntest.Emulator) *gcdn.Client {
	t.Helper()
	c, err := gcdn.NewClient(emu.APIKey(), gcdn.WithBaseURL(emu.URL()), gcdn.WithMaxRetries(0),
		gcdn.WithMaxRateLimitWait(0), gcdn.WithTimeout(5*time.Second),
		// The client paces itself to the documented limits (2 URL purges a minute) unless
		// told otherwise: 1 ms keeps its pacer out of the way of these tests.
		gcdn.WithPurgeIntervals(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStartRecordsRequests(t *testing.T) {
	emu := gcdntest.Start(t, gcdntest.WithAPIKey("go-key-R2d9"), gcdntest.WithResources(5))
	u, err := url.Parse(emu.URL())
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" {
		t.Fatalf("URL %q", emu.URL())
	}
	c := client(t, emu)
	ctx := context.Background()
	if err := c.PurgeURLs(ctx, 5, []string{"/a.html"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PurgeAll(ctx, 6); !errors.Is(err, gcdn.ErrNotFound) {
		t.Fatalf("purge 6: %v", err)
	}
	got := emu.Requests()
	if len(got) != 2 || got[0].Method != "POST" || got[0].Path != "/cdn/resources/5/purge" || got[0].Status != 201 ||
		!strings.Contains(got[0].Body, `"/a.html"`) || got[1].Status != 404 {
		t.Fatalf("requests: %+v", got)
	}
	if got[0].Headers["authorization"] != "APIKey go-key-R2d9" && !strings.EqualFold(got[0].Headers["authorization"], "apikey go-key-R2d9") {
		t.Fatalf("authorization header %q", got[0].Headers["authorization"])
	}
	emu.ClearRequests()
	if n := len(emu.Requests()); n != 0 {
		t.Fatalf("%d requests after ClearRequests", n)
	}
}

func TestStopEndsTheProcess(t *testing.T) {
	emu := gcdntest.Start(t)
	addr := strings.TrimPrefix(emu.URL(), "http://")
	emu.Stop()
	emu.Stop() // idempotent
	if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Stop", addr)
	}
}

func TestResourcesFaultsConfigReset(t *testing.T) {
	emu := gcdntest.Start(t)
	c := client(t, emu)
	ctx := context.Background()
	r := emu.AddResource(7, gcdntest.Inactive(), gcdntest.Refusal("primary"))
	if r["active"] != false || r["refusal"] != "primary" {
		t.Fatalf("resource %v", r)
	}
	if _, ok := emu.Resource(7); !ok {
		t.Fatal("resource 7 missing")
	}
	if !emu.RemoveResource(7) || emu.RemoveResource(7) {
		t.Fatal("RemoveResource")
	}
	if _, ok := emu.Resource(7); ok {
		t.Fatal("resource 7 still there")
	}

	emu.AddResource(5)
	emu.SetFault(gcdntest.Fault{PathPrefix: "/cdn/resources/5/", Action: gcdntest.Respond(503, map[string]any{"errors": []string{"busy"}}, nil)})
	if err := c.PurgeAll(ctx, 5); !errors.Is(err, gcdn.ErrServer) || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("want a 503 with the fault's body, got %v", err)
	}
	emu.SetFault(gcdntest.Fault{Method: "POST", Action: gcdntest.Drop()})
	time.Sleep(20 * time.Millisecond) // past the client's own 1 ms pacing (it never waits here)
	if err := c.PurgeAll(ctx, 5); !errors.Is(err, gcdn.ErrNetwork) {
		t.Fatalf("want a network error, got %v", err)
	}
	emu.SetFault(gcdntest.Fault{Times: 3, Action: gcdntest.Drop()})
	emu.ClearFaults()
	emu.Configure(map[string]any{"url_requests": 1})
	if err := c.PurgeURLs(ctx, 5, []string{"/1"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // past the client's own 1 ms pacing: the emulator answers 429
	if err := c.PurgeURLs(ctx, 5, []string{"/2"}); !errors.Is(err, gcdn.ErrRateLimited) {
		t.Fatalf("want rate limited, got %v", err)
	}
	var statuses []int
	for _, r := range emu.Requests() {
		statuses = append(statuses, r.Status)
	}
	if len(statuses) != 4 || statuses[0] != 503 || statuses[1] != 0 || statuses[2] != 201 || statuses[3] != 429 {
		t.Fatalf("statuses %v", statuses)
	}
	emu.Reset()
	if _, ok := emu.Resource(5); ok || len(emu.Requests()) != 0 {
		t.Fatal("Reset kept state")
	}
}

func TestResourceOptions(t *testing.T) {
	emu := gcdntest.Start(t)
	c := client(t, emu)
	if _, err := emu.TryAddResource(9, gcdntest.Refusal("nonsense")); err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("a bad refusal: %v", err)
	}
	r := emu.AddResource(8, gcdntest.CNAME("cdn.example.org"), gcdntest.SecondaryHostnames("b.example.org"),
		gcdntest.CannotPurgeByURLs())
	if r["cname"] != "cdn.example.org" || r["can_purge_by_urls"] != false {
		t.Fatalf("resource %v", r)
	}
	if hosts, _ := r["secondaryHostnames"].([]any); len(hosts) != 1 || hosts[0] != "b.example.org" {
		t.Fatalf("secondaryHostnames %v", r["secondaryHostnames"])
	}
	ctx := context.Background()
	if err := c.PurgeURLs(ctx, 8, []string{"/a"}); !errors.Is(err, gcdn.ErrRejected) || !strings.Contains(err.Error(), "can_purge_by_urls") {
		t.Fatalf("purge by URL of a resource that cannot: %v", err)
	}
	if err := c.PurgePatterns(ctx, 8, []string{"/a*"}); err != nil {
		t.Fatal(err)
	}
}

func TestFindBinaryHonoursGCDNEmulator(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	t.Setenv("GCDN_EMULATOR", missing)
	if _, err := gcdntest.FindBinary(); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("FindBinary with a wrong GCDN_EMULATOR: %v", err)
	}
	t.Setenv("GCDN_EMULATOR", "")
	os.Unsetenv("GCDN_EMULATOR")
	if p, err := gcdntest.FindBinary(); err != nil || !strings.HasSuffix(p, "gcdn-emulator") {
		t.Fatalf("FindBinary: %q, %v", p, err)
	}
}

// edgeGet is a GET at the emulator's edge with host in Host: the status and the Cache and
// X-Cached-Since headers.
func edgeGet(t *testing.T, emu *gcdntest.Emulator, host, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", emu.EdgeURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Cache"), resp.Header.Get("X-Cached-Since")
}

func TestEdgeServesCachesAndIsPurged(t *testing.T) {
	emu := gcdntest.Start(t, gcdntest.WithResources(5))
	u, err := url.Parse(emu.EdgeURL())
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || emu.EdgeURL() == emu.URL() {
		t.Fatalf("EdgeURL %q (URL %q)", emu.EdgeURL(), emu.URL())
	}
	const host = "cdn5.example.com"
	if _, cache, _ := edgeGet(t, emu, host, "/a.js"); cache != "MISS" {
		t.Fatalf("first GET: Cache %q", cache)
	}
	if status, cache, since := edgeGet(t, emu, host, "/a.js"); status != 200 || cache != "HIT" || !strings.HasSuffix(since, "+00:00") {
		t.Fatalf("second GET: %d %q %q", status, cache, since)
	}
	if status, cache, _ := edgeGet(t, emu, "unknown.example.com", "/a.js"); status != 404 || cache != "" {
		t.Fatalf("unknown host: %d %q", status, cache)
	}
	emu.EdgeIgnorePurges("/kept.js")
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if keys := emu.EdgeStore(5, old, "/kept.js?v=1"); len(keys) != 1 || keys[0] != "/kept.js?v=1" {
		t.Fatalf("EdgeStore keys %v", keys)
	}
	if err := client(t, emu).PurgeURLs(context.Background(), 5, []string{"/a.js", "/kept.js?v=1"}); err != nil {
		t.Fatal(err)
	}
	if _, cache, _ := edgeGet(t, emu, host, "/a.js"); cache != "MISS" {
		t.Fatalf("after the purge: Cache %q", cache)
	}
	if _, cache, since := edgeGet(t, emu, host, "/kept.js?v=1"); cache != "HIT" || since != "2000-01-01T00:00:00+00:00" {
		t.Fatalf("an ignored path: %q %q", cache, since)
	}
	got := emu.EdgeRequests()
	if len(got) != 5 || got[0].Method != "GET" || got[0].Host != host || got[0].Path != "/a.js" || got[0].Cache != "MISS" || got[2].Cache != "" {
		t.Fatalf("edge requests %+v", got)
	}
	emu.Reset()
	if n := len(emu.EdgeRequests()); n != 0 {
		t.Fatalf("%d edge requests after Reset", n)
	}
}
