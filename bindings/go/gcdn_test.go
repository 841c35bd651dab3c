package gcdn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

// secrets are the API keys used by the tests: none may appear in any error message.
var secrets = []string{emulatorKey, "wrong-S3CRET-key-9431", "bad\nS3CRET-key"}

// wantErr checks that err is a *gcdn.Error matching sentinel, through errors.Is and
// errors.As, and that its message holds no key.
func wantErr(t *testing.T, err error, sentinel error) *gcdn.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want %v", err, sentinel)
	}
	var e *gcdn.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v (%T) is not a *gcdn.Error", err, err)
	}
	if want := sentinel.(*gcdn.Error).Status; e.Status != want {
		t.Fatalf("status %d, want %d", e.Status, want)
	}
	noSecret(t, err)
	return e
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	for _, k := range secrets {
		if strings.Contains(err.Error(), k) {
			t.Fatalf("error message contains an API key: %q", err.Error())
		}
	}
}

func wantNoRequests(t *testing.T) {
	t.Helper()
	if got := requests(t); len(got) != 0 {
		t.Fatalf("the emulator received %d requests, want none: %+v", len(got), got)
	}
}

var ctx = context.Background()

func purgePath(id int64) string { return fmt.Sprintf("/cdn/resources/%d/purge", id) }

// TestHeaderStatuses checks that every status of gcdn.h has its Go constant, with the same
// value. The package keeps no copy of the header; this fails when the header gains a status
// the binding does not know.
func TestHeaderStatuses(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "include", "gcdn.h"))
	if err != nil {
		t.Skipf("no header in the repository: %v", err)
	}
	known := map[string]int{
		"GCDN_OK":                   gcdn.StatusOK,
		"GCDN_ERR_INVALID_ARGUMENT": gcdn.StatusInvalidArgument,
		"GCDN_ERR_UNAUTHORIZED":     gcdn.StatusUnauthorized,
		"GCDN_ERR_NOT_FOUND":        gcdn.StatusNotFound,
		"GCDN_ERR_RATE_LIMITED":     gcdn.StatusRateLimited,
		"GCDN_ERR_REJECTED":         gcdn.StatusRejected,
		"GCDN_ERR_SERVER":           gcdn.StatusServer,
		"GCDN_ERR_NETWORK":          gcdn.StatusNetwork,
		"GCDN_ERR_TIMEOUT":          gcdn.StatusTimeout,
		"GCDN_ERR_PROTOCOL":         gcdn.StatusProtocol,
		"GCDN_ERR_PANIC":            gcdn.StatusInternal,
		"GCDN_ERR_CANCELLED":        gcdn.StatusCancelled,
		"GCDN_ERR_STALE":            gcdn.StatusStale,
	}
	defs := regexp.MustCompile(`(?m)^#define (GCDN_(?:OK|ERR_\w+)) (\d+)$`).FindAllStringSubmatch(string(src), -1)
	if len(defs) != len(known) {
		t.Errorf("gcdn.h defines %d statuses, the binding knows %d", len(defs), len(known))
	}
	for _, d := range defs {
		v, _ := strconv.Atoi(d[2])
		if got, ok := known[d[1]]; !ok || got != v {
			t.Errorf("gcdn.h: %s = %d; binding: %d (known: %v)", d[1], v, got, ok)
		}
	}
	sentinels := []*gcdn.Error{gcdn.ErrInvalidArgument, gcdn.ErrUnauthorized, gcdn.ErrNotFound,
		gcdn.ErrRateLimited, gcdn.ErrRejected, gcdn.ErrServer, gcdn.ErrNetwork, gcdn.ErrTimeout,
		gcdn.ErrProtocol, gcdn.ErrInternal, gcdn.ErrCancelled, gcdn.ErrStale}
	seen := map[int]bool{}
	for _, s := range sentinels {
		if seen[s.Status] || s.Status == gcdn.StatusOK {
			t.Errorf("sentinel %v: status %d repeated or OK", s, s.Status)
		}
		seen[s.Status] = true
		if s.Message != gcdn.StatusText(s.Status) || s.Message == gcdn.StatusText(-1) {
			t.Errorf("sentinel %d: message %q, status text %q", s.Status, s.Message, gcdn.StatusText(s.Status))
		}
	}
	if gcdn.MaxItems != 1000000 {
		t.Errorf("MaxItems = %d", gcdn.MaxItems)
	}
}

// TestNoHeaderCopy: the binding includes include/gcdn.h from the repository and keeps no
// copy that could drift.
func TestNoHeaderCopy(t *testing.T) {
	filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), ".h") {
			t.Errorf("%s: the Go binding must not keep a C header", path)
		}
		return nil
	})
}

func TestErrorType(t *testing.T) {
	e := &gcdn.Error{Status: gcdn.StatusNotFound, Message: "delete resource 7: HTTP 404: Not found."}
	if got := e.Error(); got != "gcdn: delete resource 7: HTTP 404: Not found." {
		t.Errorf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("cleanup: %w", e)
	if !errors.Is(wrapped, gcdn.ErrNotFound) || errors.Is(wrapped, gcdn.ErrRejected) {
		t.Error("errors.Is does not match by status")
	}
	if !errors.Is(gcdn.ErrTimeout, context.DeadlineExceeded) || errors.Is(gcdn.ErrNetwork, context.DeadlineExceeded) {
		t.Error("only ErrTimeout should match context.DeadlineExceeded")
	}
	if got := (&gcdn.Error{Status: gcdn.StatusServer}).Error(); got != "gcdn: "+gcdn.StatusText(gcdn.StatusServer) {
		t.Errorf("empty message: %q", got)
	}
	if errors.Is(gcdn.ErrClosed, gcdn.ErrInternal) {
		t.Error("ErrClosed matches a status sentinel")
	}
	if gcdn.LibraryVersion() == "" {
		t.Error("empty library version")
	}
}

func TestPurgeURLs(t *testing.T) {
	setup(t)
	c := newClient(t, gcdn.WithUserAgent("myapp/2.1"))
	if err := c.PurgeURLs(ctx, 5, []string{"/img/a.jpg", "/index.html?v=2"}); err != nil {
		t.Fatal(err)
	}
	rs := requests(t)
	if len(rs) != 1 {
		t.Fatalf("%d requests, want 1", len(rs))
	}
	r := rs[0]
	if r.Method != "POST" || r.Path != purgePath(5) || r.Status != 201 {
		t.Errorf("request %s %s -> %d", r.Method, r.Path, r.Status)
	}
	var body struct{ URLs []string }
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || strings.Join(body.URLs, " ") != "/img/a.jpg /index.html?v=2" {
		t.Errorf("body %s (%v)", r.Body, err)
	}
	if got := r.Headers["authorization"]; !strings.EqualFold(got, "apikey "+emulatorKey) {
		t.Errorf("Authorization: %q", got)
	}
	ua := r.Headers["user-agent"]
	want := "gcdn/" + gcdn.LibraryVersion() + " gcdn-go/" + gcdn.Version + " go/"
	if !strings.HasPrefix(ua, want) || !strings.HasSuffix(ua, " myapp/2.1") {
		t.Errorf("User-Agent %q, want %q...myapp/2.1", ua, want)
	}
	if ua != "gcdn/"+gcdn.LibraryVersion()+" "+gcdn.UserAgentSuffix("myapp/2.1") {
		t.Errorf("User-Agent %q", ua)
	}
}

func TestUserAgentWithoutToken(t *testing.T) {
	setup(t)
	c := newClient(t)
	if err := c.PurgeAll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	ua := requests(t)[0].Headers["user-agent"]
	if !regexp.MustCompile(`^gcdn/\S+ gcdn-go/\S+ go/\S+$`).MatchString(ua) {
		t.Errorf("User-Agent %q", ua)
	}
}

func TestPurgePatterns(t *testing.T) {
	setup(t)
	c := newClient(t)
	if err := c.PurgePatterns(ctx, 6, []string{"/images/*", "/css"}); err != nil {
		t.Fatal(err)
	}
	rs := requests(t)
	if len(rs) != 1 || rs[0].Path != purgePath(6) || rs[0].Status != 201 {
		t.Fatalf("requests: %+v", rs)
	}
	var body struct{ Paths []string }
	if err := json.Unmarshal([]byte(rs[0].Body), &body); err != nil || strings.Join(body.Paths, " ") != "/images/* /css" {
		t.Errorf("body %s (%v)", rs[0].Body, err)
	}
}

func TestPurgeAll(t *testing.T) {
	setup(t)
	c := newClient(t)
	if err := c.PurgeAll(ctx, 7); err != nil {
		t.Fatal(err)
	}
	rs := requests(t)
	if len(rs) != 1 || rs[0].Method != "POST" || rs[0].Path != purgePath(7) || rs[0].Status != 201 {
		t.Fatalf("requests: %+v", rs)
	}
	var body map[string][]string
	if err := json.Unmarshal([]byte(rs[0].Body), &body); err != nil || body["paths"] == nil || len(body["paths"]) != 0 || len(body) != 1 {
		t.Errorf("body %s, want {\"paths\": []}", rs[0].Body)
	}
}

func TestDeactivateResource(t *testing.T) {
	setup(t)
	c := newClient(t)
	if err := c.DeactivateResource(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if exists, active := resourceExists(t, 8); !exists || active {
		t.Errorf("resource 8: exists %v, active %v; want inactive", exists, active)
	}
	rs := requests(t)
	if len(rs) != 1 || rs[0].Method != "PATCH" || rs[0].Path != "/cdn/resources/8" || rs[0].Status != 200 {
		t.Fatalf("requests: %+v", rs)
	}
	wantErr(t, c.DeactivateResource(ctx, 4040), gcdn.ErrNotFound)
}

func TestDeleteResource(t *testing.T) {
	setup(t)
	c := newClient(t)

	// The API refuses to delete an active resource, in its own words.
	e := wantErr(t, c.DeleteResource(ctx, 9), gcdn.ErrRejected)
	if !strings.Contains(e.Message, "active state") {
		t.Errorf("message does not quote the API: %q", e.Message)
	}
	if exists, _ := resourceExists(t, 9); !exists {
		t.Fatal("resource 9 deleted anyway")
	}

	if err := c.DeleteResource(ctx, 9, gcdn.DeactivateFirst()); err != nil {
		t.Fatal(err)
	}
	if exists, _ := resourceExists(t, 9); exists {
		t.Fatal("resource 9 still exists")
	}
	wantErr(t, c.DeleteResource(ctx, 9), gcdn.ErrNotFound)
	if err := c.DeleteResource(ctx, 9, gcdn.MissingOK()); err != nil {
		t.Errorf("MissingOK: %v", err)
	}
	if err := c.DeleteResource(ctx, 9, gcdn.DeactivateFirst(), gcdn.MissingOK()); err != nil {
		t.Errorf("DeactivateFirst, MissingOK: %v", err)
	}

	// An inactive resource is deleted without DeactivateFirst.
	addResource(t, 200, false, "")
	if err := c.DeleteResource(ctx, 200); err != nil {
		t.Fatal(err)
	}

	var methods []string
	for _, r := range requests(t) {
		methods = append(methods, fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
	}
	want := []string{
		"DELETE /cdn/resources/9 400",
		"PATCH /cdn/resources/9 200", "DELETE /cdn/resources/9 204",
		"DELETE /cdn/resources/9 404",
		"DELETE /cdn/resources/9 404",
		"PATCH /cdn/resources/9 404",
		"DELETE /cdn/resources/200 204",
	}
	if strings.Join(methods, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(methods, "\n"), strings.Join(want, "\n"))
	}
}

// TestRefusals: the API's reasons to refuse a delete come back as ErrRejected, quoted.
func TestRefusals(t *testing.T) {
	setup(t)
	c := newClient(t)
	for i, tc := range []struct{ refusal, words string }{
		{"primary", "used as primary for common cache"},
		{"streaming", "integrated with the streaming"},
		{"custom", "custom configuration"},
	} {
		id := int64(300 + i)
		addResource(t, id, true, tc.refusal)
		e := wantErr(t, c.DeleteResource(ctx, id, gcdn.DeactivateFirst()), gcdn.ErrRejected)
		if !strings.Contains(e.Message, tc.words) || !strings.Contains(e.Message, "400") {
			t.Errorf("%s: message %q does not quote %q", tc.refusal, e.Message, tc.words)
		}
		if exists, _ := resourceExists(t, id); !exists {
			t.Errorf("%s: deleted anyway", tc.refusal)
		}
	}
}

// TestSentinels produces every sentinel error for real.
func TestSentinels(t *testing.T) {
	t.Run("Unauthorized", func(t *testing.T) {
		setup(t)
		c, err := gcdn.NewClient("wrong-S3CRET-key-9431", gcdn.WithBaseURL(emulatorURL))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wantErr(t, c.PurgeAll(ctx, 5), gcdn.ErrUnauthorized)
		wantErr(t, c.DeleteResource(ctx, 5, gcdn.DeactivateFirst()), gcdn.ErrUnauthorized)
	})
	t.Run("NotFound", func(t *testing.T) {
		setup(t)
		c := newClient(t)
		wantErr(t, c.PurgeURLs(ctx, 4040, []string{"/a"}), gcdn.ErrNotFound)
		wantErr(t, c.PurgePatterns(ctx, 4040, []string{"/a*"}), gcdn.ErrNotFound)
		wantErr(t, c.PurgeAll(ctx, 4040), gcdn.ErrNotFound)
		wantErr(t, c.DeleteResource(ctx, 4040, gcdn.DeactivateFirst()), gcdn.ErrNotFound)
	})
	t.Run("Rejected", func(t *testing.T) {
		setup(t)
		addFault(t, "POST", purgePath(5), 1, map[string]any{"respond": map[string]any{
			"status": 400, "body": map[string]any{"errors": map[string]any{"paths": []string{"This path is not allowed here."}}},
		}})
		e := wantErr(t, newClient(t).PurgePatterns(ctx, 5, []string{"/x"}), gcdn.ErrRejected)
		if !strings.Contains(e.Message, "This path is not allowed here.") {
			t.Errorf("message does not quote the API: %q", e.Message)
		}
	})
	t.Run("RateLimited", func(t *testing.T) {
		setup(t)
		configure(t, map[string]any{"url_requests": 1, "url_window_ms": 60000})
		c := newClient(t, gcdn.WithMaxRateLimitWait(0))
		if err := c.PurgeURLs(ctx, 5, []string{"/first"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		wantErr(t, c.PurgeURLs(ctx, 5, []string{"/second"}), gcdn.ErrRateLimited)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v with a zero wait budget", d)
		}
	})
	t.Run("Server", func(t *testing.T) {
		setup(t)
		addFault(t, "POST", purgePath(5), 1, map[string]any{"respond": map[string]any{
			"status": 503, "body": `{"message": "try later"}`,
		}})
		e := wantErr(t, newClient(t, gcdn.WithMaxRetries(0)).PurgeAll(ctx, 5), gcdn.ErrServer)
		if !strings.Contains(e.Message, "503") {
			t.Errorf("message %q", e.Message)
		}
		if n := len(requests(t)); n != 1 {
			t.Errorf("%d requests with no retries", n)
		}
	})
	t.Run("Network", func(t *testing.T) {
		setup(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + l.Addr().String()
		l.Close()
		c, err := gcdn.NewClient(emulatorKey, gcdn.WithBaseURL(closed), gcdn.WithMaxRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wantErr(t, c.PurgeAll(ctx, 5), gcdn.ErrNetwork)

		// A connection dropped without an answer.
		addFault(t, "POST", purgePath(5), 1, map[string]any{"drop": true})
		wantErr(t, newClient(t, gcdn.WithMaxRetries(0)).PurgeAll(ctx, 5), gcdn.ErrNetwork)
	})
	t.Run("Timeout", func(t *testing.T) {
		setup(t)
		addFault(t, "POST", purgePath(5), 1, map[string]any{"delay_ms": 1500})
		c := newClient(t, gcdn.WithTimeout(200*time.Millisecond), gcdn.WithMaxRetries(0))
		start := time.Now()
		e := wantErr(t, c.PurgeAll(ctx, 5), gcdn.ErrTimeout)
		if d := time.Since(start); d > 1200*time.Millisecond {
			t.Errorf("took %v with a 200 ms timeout", d)
		}
		if !errors.Is(e, context.DeadlineExceeded) {
			t.Error("ErrTimeout does not match context.DeadlineExceeded")
		}
	})
	t.Run("Protocol", func(t *testing.T) {
		setup(t)
		addFault(t, "POST", purgePath(5), 1, map[string]any{"respond": map[string]any{
			"status": 302, "headers": map[string]string{"Location": "https://elsewhere.example/"},
		}})
		wantErr(t, newClient(t).PurgeAll(ctx, 5), gcdn.ErrProtocol)
	})
	t.Run("InvalidArgument", func(t *testing.T) {
		setup(t)
		wantErr(t, newClient(t).PurgeURLs(ctx, 5, []string{"no-slash"}), gcdn.ErrInvalidArgument)
		wantNoRequests(t)
	})
	t.Run("Internal", func(t *testing.T) {
		e := wantErr(t, gcdn.DebugPanic(), gcdn.ErrInternal)
		if e.Message == "" {
			t.Error("no message")
		}
	})
}

func TestServerErrorRetried(t *testing.T) {
	setup(t)
	addFault(t, "POST", purgePath(5), 1, map[string]any{"respond": map[string]any{"status": 503}})
	if err := newClient(t, gcdn.WithMaxRetries(1)).PurgeURLs(ctx, 5, []string{"/a"}); err != nil {
		t.Fatal(err)
	}
	rs := requests(t)
	if len(rs) != 2 || rs[0].Status != 503 || rs[1].Status != 201 {
		t.Fatalf("requests: %+v", rs)
	}
}

// TestRateLimitWait: a 429 without Retry-After is waited out for the purge interval.
func TestRateLimitWait(t *testing.T) {
	setup(t)
	configure(t, map[string]any{"url_requests": 1, "url_window_ms": 300, "pattern_requests": 1, "pattern_window_ms": 300})
	c := newClient(t, gcdn.WithPurgeIntervals(50*time.Millisecond, 60*time.Millisecond),
		gcdn.WithMaxRateLimitWait(5*time.Second))
	for i := 0; i < 2; i++ {
		if err := c.PurgeURLs(ctx, 5, []string{fmt.Sprintf("/u%d", i)}); err != nil {
			t.Fatal(err)
		}
		if err := c.PurgePatterns(ctx, 5, []string{fmt.Sprintf("/p%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var n429, n201 int
	for _, r := range requests(t) {
		switch r.Status {
		case 429:
			n429++
		case 201:
			n201++
		}
	}
	if n201 != 4 || n429 == 0 {
		t.Errorf("%d purges accepted, %d refused with 429; want 4 and some", n201, n429)
	}
}

// TestInvalidInput: input refused before anything is sent.
func TestInvalidInput(t *testing.T) {
	setup(t)
	c := newClient(t)
	for name, err := range map[string]error{
		"nil URL list":        c.PurgeURLs(ctx, 5, nil),
		"empty URL list":      c.PurgeURLs(ctx, 5, []string{}),
		"full URL":            c.PurgeURLs(ctx, 5, []string{"https://cdn.example.com/a.jpg"}),
		"relative URL":        c.PurgeURLs(ctx, 5, []string{"/ok", "a.jpg"}),
		"empty URL":           c.PurgeURLs(ctx, 5, []string{"/ok", ""}),
		"NUL in URL":          c.PurgeURLs(ctx, 5, []string{"/a\x00b"}),
		"control char":        c.PurgeURLs(ctx, 5, []string{"/a\nb"}),
		"invalid UTF-8":       c.PurgeURLs(ctx, 5, []string{"/a\xffb"}),
		"too many URLs":       c.PurgeURLs(ctx, 5, make([]string, gcdn.MaxItems+1)),
		"empty pattern list":  c.PurgePatterns(ctx, 5, nil),
		"star in the middle":  c.PurgePatterns(ctx, 5, []string{"/a/*.jpg"}),
		"pattern no slash":    c.PurgePatterns(ctx, 5, []string{"img/*"}),
		"NUL in pattern":      c.PurgePatterns(ctx, 5, []string{"/a\x00*"}),
		"URL id 0":            c.PurgeURLs(ctx, 0, []string{"/a"}),
		"pattern id -1":       c.PurgePatterns(ctx, -1, []string{"/a"}),
		"purge all id 0":      c.PurgeAll(ctx, 0),
		"deactivate id -5":    c.DeactivateResource(ctx, -5),
		"delete id 0":         c.DeleteResource(ctx, 0, gcdn.DeactivateFirst()),
		"delete zero options": c.DeleteResource(ctx, -1, gcdn.DeleteOption{}),
	} {
		t.Run(name, func(t *testing.T) { wantErr(t, err, gcdn.ErrInvalidArgument) })
	}
	wantNoRequests(t)
}

// TestNewClientOptions: every option, valid and not.
func TestNewClientOptions(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeCA(t, ca)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("no certificate here\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	c := newClient(t, gcdn.WithTimeout(2*time.Second), gcdn.WithMaxRetries(3),
		gcdn.WithMaxRateLimitWait(10*time.Second), gcdn.WithPurgeIntervals(time.Second, 2*time.Second),
		gcdn.WithCAFile(ca), gcdn.WithUserAgent("tool/1"), gcdn.WithTimeout(1500*time.Microsecond+3*time.Second))
	if err := c.PurgeAll(ctx, 5); err != nil {
		t.Fatal(err)
	}

	bad := map[string][]gcdn.Option{
		"plain-HTTP remote base URL": {gcdn.WithBaseURL("http://api.example.com")},
		"base URL not a URL":         {gcdn.WithBaseURL("not a url")},
		"NUL in base URL":            {gcdn.WithBaseURL("http://127.0.0.1\x00:1")},
		"zero timeout":               {gcdn.WithTimeout(0)},
		"negative timeout":           {gcdn.WithTimeout(-time.Second)},
		"negative retries":           {gcdn.WithMaxRetries(-1)},
		"too many retries":           {gcdn.WithMaxRetries(101)},
		"huge retries":               {gcdn.WithMaxRetries(math.MaxInt)},
		"negative rate-limit wait":   {gcdn.WithMaxRateLimitWait(-time.Millisecond)},
		"zero URL interval":          {gcdn.WithPurgeIntervals(0, time.Second)},
		"negative pattern interval":  {gcdn.WithPurgeIntervals(time.Second, -1)},
		"missing CA file":            {gcdn.WithCAFile(filepath.Join(dir, "missing.pem"))},
		"CA file without a cert":     {gcdn.WithCAFile(notPEM)},
		"User-Agent with newline":    {gcdn.WithUserAgent("app\r\nX-Injected: 1")},
		"User-Agent too long":        {gcdn.WithUserAgent(strings.Repeat("a", 300))},
	}
	for name, opts := range bad {
		t.Run(name, func(t *testing.T) {
			c, err := gcdn.NewClient(emulatorKey, opts...)
			if c != nil {
				t.Error("got a client with an error")
			}
			wantErr(t, err, gcdn.ErrInvalidArgument)
		})
	}
	for _, key := range []string{"bad\nS3CRET-key", "bad\x00S3CRET-key", "bad\xffS3CRET-key"} {
		_, err := gcdn.NewClient(key, gcdn.WithBaseURL(emulatorURL))
		wantErr(t, err, gcdn.ErrInvalidArgument)
		noSecret(t, err)
		if strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("key in message: %q", err)
		}
	}
	// A nil option is ignored.
	c2, err := gcdn.NewClient(emulatorKey, nil, gcdn.WithBaseURL(emulatorURL))
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	wantRequestCount(t, 1)
}

// wantRequestCount checks that the emulator received exactly n requests.
func wantRequestCount(t *testing.T, n int) {
	t.Helper()
	if got := requests(t); len(got) != n {
		t.Fatalf("%d requests, want %d", len(got), n)
	}
}

// writeCA writes a self-signed CA certificate, PEM-encoded, to path.
func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gcdn test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEmptyKeyUsesEnvironment: an empty key means GCORE_API_KEY.
func TestEmptyKeyUsesEnvironment(t *testing.T) {
	setup(t)
	t.Setenv("GCORE_API_KEY", emulatorKey)
	c, err := gcdn.NewClient("", gcdn.WithBaseURL(emulatorURL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PurgeAll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if got := requests(t)[0].Headers["authorization"]; !strings.HasSuffix(got, " "+emulatorKey) {
		t.Errorf("Authorization %q", got)
	}

	os.Unsetenv("GCORE_API_KEY") // t.Setenv restores it after the test
	_, err = gcdn.NewClient("", gcdn.WithBaseURL(emulatorURL))
	wantErr(t, err, gcdn.ErrInvalidArgument)
}

// TestChunking: 250 distinct URLs among repeats go out as 100 + 100 + 50.
func TestChunking(t *testing.T) {
	setup(t)
	var urls []string
	for i := 0; i < 250; i++ {
		urls = append(urls, fmt.Sprintf("/file/%d.css", i))
		if i%5 == 0 {
			urls = append(urls, fmt.Sprintf("/file/%d.css", i/2)) // a repeat
		}
	}
	if err := newClient(t).PurgeURLs(ctx, 5, urls); err != nil {
		t.Fatal(err)
	}
	rs := requests(t)
	if len(rs) != 3 {
		t.Fatalf("%d requests, want 3", len(rs))
	}
	var sent []string
	for i, r := range rs {
		var body struct{ URLs []string }
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatal(err)
		}
		if want := []int{100, 100, 50}[i]; len(body.URLs) != want || r.Status != 201 {
			t.Errorf("request %d: %d URLs, status %d; want %d URLs", i, len(body.URLs), r.Status, want)
		}
		sent = append(sent, body.URLs...)
	}
	for i, u := range sent {
		if want := fmt.Sprintf("/file/%d.css", i); u != want {
			t.Fatalf("URL %d sent is %s, want %s (first occurrence, in order)", i, u, want)
		}
	}
}

// TestConcurrentUse: many goroutines share one client; every purge reaches the API.
func TestConcurrentUse(t *testing.T) {
	setup(t)
	c := newClient(t)
	const goroutines, calls = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				if err := c.PurgeURLs(ctx, int64(1+g), []string{fmt.Sprintf("/g%d/%d", g, i)}); err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for _, r := range requests(t) {
		if r.Status != 201 {
			t.Errorf("%s %s -> %d", r.Method, r.Path, r.Status)
		}
		var body struct{ URLs []string }
		json.Unmarshal([]byte(r.Body), &body)
		for _, u := range body.URLs {
			seen[r.Path+" "+u] = true
		}
	}
	for g := 0; g < goroutines; g++ {
		for i := 0; i < calls; i++ {
			if k := fmt.Sprintf("%s /g%d/%d", purgePath(int64(1+g)), g, i); !seen[k] {
				t.Errorf("the emulator never saw %s", k)
			}
		}
	}
	if len(seen) != goroutines*calls {
		t.Errorf("the emulator saw %d purges, want %d", len(seen), goroutines*calls)
	}
}

func TestUseAfterClose(t *testing.T) {
	setup(t)
	c := newClient(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"PurgeURLs":          c.PurgeURLs(ctx, 5, []string{"/a"}),
		"PurgePatterns":      c.PurgePatterns(ctx, 5, []string{"/a"}),
		"PurgeAll":           c.PurgeAll(ctx, 5),
		"DeactivateResource": c.DeactivateResource(ctx, 5),
		"DeleteResource":     c.DeleteResource(ctx, 5, gcdn.DeactivateFirst()),
		"with deadline":      c.PurgeAll(withTimeout(t, time.Second), 5),
	} {
		if !errors.Is(err, gcdn.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	var nilClient *gcdn.Client
	if err := nilClient.PurgeAll(ctx, 5); !errors.Is(err, gcdn.ErrClosed) {
		t.Errorf("nil client: %v", err)
	}
	if err := nilClient.Close(); err != nil {
		t.Errorf("nil client Close: %v", err)
	}
	wantNoRequests(t)
}

// TestCloseRacesWithCalls: Close while other goroutines are mid-call, and Close from
// several goroutines at once.
// TestCallsDuringCloseFailAtOnce: while Close waits for a slow call in flight, new calls
// return ErrClosed at once instead of queueing behind it.
func TestCallsDuringCloseFailAtOnce(t *testing.T) {
	setup(t)
	addFault(t, "POST", purgePath(5), 1, map[string]any{"delay_ms": 1500})
	c := newClient(t)
	slow := make(chan error, 1)
	go func() { slow <- c.PurgeAll(ctx, 5) }()
	time.Sleep(200 * time.Millisecond) // the slow call is in flight
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	time.Sleep(100 * time.Millisecond) // Close is waiting for it
	start := time.Now()
	err := c.PurgeAll(ctx, 6)
	if !errors.Is(err, gcdn.ErrClosed) {
		t.Fatalf("call during Close: %v, want ErrClosed", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("call during Close took %v, want at once", d)
	}
	if err := <-slow; err != nil {
		t.Errorf("the call in flight: %v", err)
	}
	<-closed
}

func TestCloseRacesWithCalls(t *testing.T) {
	setup(t)
	for round := 0; round < 5; round++ {
		c := newClient(t)
		var wg sync.WaitGroup
		var ok, closed atomic.Int64
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; ; i++ {
					var err error
					if i%2 == 0 {
						err = c.PurgeAll(ctx, int64(1+g))
					} else {
						dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
						err = c.PurgeURLs(dctx, int64(1+g), []string{"/r"})
						cancel()
					}
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, gcdn.ErrClosed):
						closed.Add(1)
						return
					default:
						t.Errorf("goroutine %d: %v", g, err)
						return
					}
				}
			}(g)
		}
		for wait := time.Now().Add(5 * time.Second); ok.Load() < 16 && time.Now().Before(wait); {
			time.Sleep(time.Millisecond)
		}
		var cw sync.WaitGroup
		for i := 0; i < 3; i++ {
			cw.Add(1)
			go func() { defer cw.Done(); c.Close() }()
		}
		cw.Wait()
		wg.Wait()
		if ok.Load() == 0 || closed.Load() != 8 {
			t.Errorf("round %d: %d calls succeeded, %d saw ErrClosed", round, ok.Load(), closed.Load())
		}
	}
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// TestDoneContext: a context already done returns ctx.Err() and sends nothing.
func TestDoneContext(t *testing.T) {
	setup(t)
	c := newClient(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		ctx  context.Context
		want error
	}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		for name, err := range map[string]error{
			"PurgeURLs":          c.PurgeURLs(tc.ctx, 5, []string{"/a"}),
			"PurgePatterns":      c.PurgePatterns(tc.ctx, 5, []string{"/a*"}),
			"PurgeAll":           c.PurgeAll(tc.ctx, 5),
			"DeactivateResource": c.DeactivateResource(tc.ctx, 5),
			"DeleteResource":     c.DeleteResource(tc.ctx, 5, gcdn.DeactivateFirst()),
		} {
			if err != tc.want {
				t.Errorf("%s: %v, want %v", name, err, tc.want)
			}
		}
	}
	wantNoRequests(t)
	if exists, active := resourceExists(t, 5); !exists || !active {
		t.Error("resource 5 changed")
	}
}

// TestCancelDuringRateLimitWait: cancelling the context ends a call that is waiting out a
// rate limit at once, with an error matching context.Canceled and ErrCancelled.
func TestCancelDuringRateLimitWait(t *testing.T) {
	setup(t)
	configure(t, map[string]any{"all_requests": 1, "all_window_ms": 60000})
	c := newClient(t) // default purge interval: a 429 on purge-all means a 60 s wait
	if err := c.PurgeAll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := c.PurgeAll(cctx, 5)
	d := time.Since(start)
	wantErr(t, err, gcdn.ErrCancelled)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not match context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "waiting for") {
		t.Errorf("%v does not say what it was waiting for", err)
	}
	if d > 2*time.Second {
		t.Errorf("returned after %v, want about 200 ms", d)
	}
	// The client is unharmed; the cancelled context's goroutine is gone.
	if err := c.PurgeURLs(withTimeout(t, 10*time.Second), 5, []string{"/after"}); err != nil {
		t.Fatal(err)
	}
}

// TestDeadline: a context deadline shorter than the server's delay ends the call at about
// the deadline, with an error matching ErrTimeout and context.DeadlineExceeded.
func TestDeadline(t *testing.T) {
	setup(t)
	addFault(t, "POST", purgePath(5), 1, map[string]any{"delay_ms": 3000})
	c := newClient(t) // 5 s per attempt: only the deadline can end the call early
	start := time.Now()
	dctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.PurgeURLs(dctx, 5, []string{"/slow"})
	d := time.Since(start)
	wantErr(t, err, gcdn.ErrTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not match context.DeadlineExceeded", err)
	}
	if d < 250*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("returned after %v, want about 300 ms", d)
	}

	// A generous deadline does not get in the way.
	if err := c.PurgeAll(withTimeout(t, 10*time.Second), 6); err != nil {
		t.Fatal(err)
	}
}

// TestGarbageCollection drops clients without Close while the collector runs, to catch a
// missing runtime.KeepAlive (a finalizer freeing a client mid-call), and checks that the
// finalizers do close the dropped clients.
func TestGarbageCollection(t *testing.T) {
	setup(t)
	before := gcdn.Finalized()
	stop := make(chan struct{})
	var gc sync.WaitGroup
	gc.Add(1)
	go func() {
		defer gc.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				// The client is reachable only through this call: nothing else keeps it alive.
				c, err := dial()
				if err == nil {
					dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					err = c.PurgeURLs(dctx, int64(10+g), []string{"/gc", "/gc?x=1"})
					cancel()
				}
				if err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					runtime.GC()
				}
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	gc.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for gcdn.Finalized() == before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if gcdn.Finalized() == before {
		t.Error("no finalizer closed a dropped client")
	}
	if n := len(requests(t)); n != 200 {
		t.Errorf("%d requests, want 200", n)
	}
}

// TestKeyNeverShownEncoded: the key is in no message percent-encoded or JSON-escaped, nor
// when a base URL or an item holds it.
func TestKeyNeverShownEncoded(t *testing.T) {
	setup(t)
	const key = "G0-S3cr$t/k+y=9~Zq"
	encoded := url.QueryEscape(key)
	var escaped strings.Builder
	for _, r := range key {
		if ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			escaped.WriteRune(r)
		} else {
			fmt.Fprintf(&escaped, `\u%04x`, r)
		}
	}
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("got no error")
		}
		msg := err.Error()
		decoded, _ := url.QueryUnescape(msg)
		var unjson string
		_ = json.Unmarshal([]byte(`"`+strings.ReplaceAll(msg, `"`, `\"`)+`"`), &unjson)
		for _, text := range []string{msg, decoded, unjson} {
			if strings.Contains(text, key) || strings.Contains(msg, encoded) || strings.Contains(msg, "S3cr") {
				t.Fatalf("the key in the message: %q", msg)
			}
		}
	}
	for _, base := range []string{
		"https://apikey:" + key + "@127.0.0.1:9", "https://" + key + "@127.0.0.1:9",
		"https://127.0.0.1:9/" + encoded, "https://127.0.0.1:9/?apikey=" + key,
		"https://127.0.0.1:9/#" + key, "https://127.0.0.1:9/p/" + key,
	} {
		c, err := gcdn.NewClient(key, gcdn.WithBaseURL(base))
		if c != nil {
			c.Close()
		}
		wantErr(t, err, gcdn.ErrInvalidArgument)
		check(t, err)
	}
	c, err := gcdn.NewClient(key, gcdn.WithBaseURL(emulatorURL), gcdn.WithMaxRetries(0),
		gcdn.WithPurgeIntervals(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check(t, c.PurgeURLs(ctx, 5, []string{"https://cdn.example.com/a?apikey=" + key}))
	check(t, c.PurgeURLs(ctx, 5, []string{"/a?token=" + encoded + "\t"}))
	check(t, c.PurgePatterns(ctx, 5, []string{"/x/" + key + "*/y"}))
	wantNoRequests(t)
	addFault(t, "POST", purgePath(5), 1, map[string]any{"respond": map[string]any{
		"status": 302, "headers": map[string]string{"Location": "https://elsewhere.example/?k=" + encoded},
	}})
	check(t, c.PurgeAll(ctx, 5))
	addFault(t, "POST", purgePath(5), 1, map[string]any{"respond": map[string]any{
		"status": 400, "body": `{"token": "` + escaped.String() + `"}`,
	}})
	check(t, c.PurgeAll(ctx, 5))
}

// TestErrorHTTPStatus: an error carries the HTTP status of the answer that failed the call,
// 0 when no answer was the cause; Run's error, its first failed request's.
func TestErrorHTTPStatus(t *testing.T) {
	setup(t)
	c := newClient(t, gcdn.WithMaxRetries(0))
	e := wantErr(t, c.PurgeAll(ctx, 404404), gcdn.ErrNotFound)
	if e.HTTPStatus != 404 {
		t.Errorf("not found: HTTPStatus %d", e.HTTPStatus)
	}
	addFault(t, "POST", purgePath(5), 1, map[string]any{"respond": map[string]any{"status": 503, "body": "busy"}})
	e = wantErr(t, c.PurgeURLs(withTimeout(t, 10*time.Second), 5, []string{"/a"}), gcdn.ErrServer)
	if e.HTTPStatus != 503 {
		t.Errorf("503: HTTPStatus %d", e.HTTPStatus)
	}
	addFault(t, "POST", purgePath(5), 1, map[string]any{"drop": true})
	e = wantErr(t, c.PurgeURLs(ctx, 5, []string{"/b"}), gcdn.ErrNetwork)
	if e.HTTPStatus != 0 {
		t.Errorf("dropped: HTTPStatus %d", e.HTTPStatus)
	}
	e = wantErr(t, c.PurgeURLs(ctx, 5, []string{"https://x.example.com/a"}), gcdn.ErrInvalidArgument)
	if e.HTTPStatus != 0 {
		t.Errorf("refused input: HTTPStatus %d", e.HTTPStatus)
	}
	// A success after a failure on the same (reused) settings leaves nothing behind.
	if err := c.PurgeURLs(ctx, 5, []string{"/c"}); err != nil {
		t.Fatal(err)
	}
	addFault(t, "POST", purgePath(6), 1, map[string]any{"respond": map[string]any{"status": 400, "body": `{"errors":["no"]}`}})
	job := gcdn.NewJob()
	if err := job.AddURLs(6, []string{"/d"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Run(ctx, job, gcdn.RunOptions{})
	e = wantErr(t, err, gcdn.ErrRejected)
	if e.HTTPStatus != 400 {
		t.Errorf("run: HTTPStatus %d", e.HTTPStatus)
	}
}

// TestHugeRetryAfter: `Retry-After: 18446744073709551615` on a 429 made the library panic
// (an Instant overflow; StatusInternal). A single call and a job run (with a wait, so its
// request runs on a worker thread) end in ErrRateLimited at once, saying why.
func TestHugeRetryAfter(t *testing.T) {
	setup(t)
	c := newClient(t, gcdn.WithMaxRateLimitWait(5*time.Second))
	huge := map[string]any{"respond": map[string]any{
		"status": 429, "headers": map[string]any{"Retry-After": "18446744073709551615"}}}
	addFault(t, "POST", purgePath(5), 1, huge)
	start := time.Now()
	e := wantErr(t, c.PurgeURLs(withTimeout(t, 30*time.Second), 5, []string{"/a"}), gcdn.ErrRateLimited)
	if !strings.Contains(e.Message, "past the rate-limit wait budget") {
		t.Errorf("message: %s", e.Message)
	}
	addFault(t, "POST", purgePath(6), 1, huge)
	job := gcdn.NewJob()
	if err := job.AddURLs(6, []string{"/b"}); err != nil {
		t.Fatal(err)
	}
	report, err := c.Run(withTimeout(t, 30*time.Second), job, gcdn.RunOptions{Wait: time.Second})
	wantErr(t, err, gcdn.ErrRateLimited)
	if report == nil || len(report.Requests) != 1 || report.Requests[0].Status != gcdn.StatusRateLimited {
		t.Errorf("report: %+v", report)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v: the waits were not refused at once", took)
	}
}
