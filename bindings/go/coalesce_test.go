package gcdn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

// purgedURLs returns the URLs of each purge request the emulator received, failing the
// test on any answer but 201.
func purgedURLs(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	for _, r := range requests(t) {
		if !strings.HasSuffix(r.Path, "/purge") {
			continue
		}
		if r.Status != 201 {
			t.Fatalf("a purge answered %d: %s", r.Status, r.Body)
		}
		var body struct{ URLs []string }
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatal(err)
		}
		out = append(out, body.URLs)
	}
	return out
}

// oneURLCallers purges one URL from each of n goroutines of c at once.
func oneURLCallers(t *testing.T, c *gcdn.Client, n int) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs <- c.PurgeURLs(context.Background(), 5, []string{fmt.Sprintf("/go/%d", i)})
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCoalescingSharesRequests(t *testing.T) {
	setup(t)
	addResource(t, 5, true, "")
	configure(t, map[string]any{"url_requests": 1, "url_window_ms": 500})
	c := newClient(t, gcdn.WithPurgeIntervals(500*time.Millisecond, 500*time.Millisecond),
		gcdn.WithMaxRateLimitWait(30*time.Second))
	oneURLCallers(t, c, 40)
	sent := purgedURLs(t)
	if len(sent) > 3 {
		t.Fatalf("%d requests for 40 one-URL callers", len(sent))
	}
	var all []string
	for _, s := range sent {
		all = append(all, s...)
	}
	sort.Strings(all)
	if len(all) != 40 {
		t.Fatalf("sent %d URLs: %v", len(all), all)
	}
}

func TestWithCoalesceFalseSendsOneRequestPerCall(t *testing.T) {
	setup(t)
	addResource(t, 5, true, "")
	c := newClient(t, gcdn.WithCoalesce(false))
	oneURLCallers(t, c, 10)
	sent := purgedURLs(t)
	if len(sent) != 10 {
		t.Fatalf("%d requests for 10 calls with coalescing off", len(sent))
	}
	for _, s := range sent {
		if len(s) != 1 {
			t.Fatalf("a request of %d URLs with coalescing off", len(s))
		}
	}
}
