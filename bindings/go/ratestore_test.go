package gcdn_test

// Shared pacing through a real redis-server (WithRateStore), against the emulator.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

// startRedis starts redis-server on a free loopback port in a temporary directory, with no
// persistence, and stops it after the test. It skips the test when redis-server is not on
// PATH (.ci/run installs it).
func startRedis(t *testing.T, password string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH (apt-get install redis-server; .ci/run does)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir(), "--daemonize", "no", "--loglevel", "warning"}
	if password != "" {
		args = append(args, "--requirepass", password)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case <-exited:
			t.Fatal("redis-server exited at start")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			c.Write([]byte("PING\r\n"))
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.Close()
			// +PONG, or -NOAUTH when a password is required: it answers.
			if n > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

// purgeConcurrently runs rounds purges by URL of resource 7 on each client at once, and
// returns the statuses the emulator answered.
func purgeConcurrently(t *testing.T, clients []*gcdn.Client, rounds int) (n201, n429 int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(clients)*rounds)
	for i, c := range clients {
		wg.Add(1)
		go func(i int, c *gcdn.Client) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if err := c.PurgeURLs(ctx, 7, []string{fmt.Sprintf("/c%d/r%d", i, r)}); err != nil {
					errs <- err
				}
			}
		}(i, c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("purge: %v", err)
	}
	for _, r := range requests(t) {
		if r.Method != "POST" {
			continue
		}
		switch r.Status {
		case 201:
			n201++
		case 429:
			n429++
		}
	}
	return n201, n429
}

// TestRateStoreSharedPacing: two clients each paced on their own meet 429s on one resource;
// the same two sharing one Redis keep to its limit together and meet none.
func TestRateStoreSharedPacing(t *testing.T) {
	const pw = "go-redis-pw-Xy71"
	addr := startRedis(t, pw)
	store := fmt.Sprintf("redis://:%s@%s/3", pw, addr)
	// The emulator accepts 1 purge by URL per 300 ms per resource; the clients pace to 1
	// per 400 ms (a margin on a loaded machine) and wait out any 429 for 400 ms.
	limits := map[string]any{"url_requests": 1, "url_window_ms": 300}
	opts := func(more ...gcdn.Option) []gcdn.Option {
		// Coalescing off: this test counts paced requests (TestRateStoreCoalescing shares them).
		return append([]gcdn.Option{gcdn.WithPurgeIntervals(400*time.Millisecond, 400*time.Millisecond),
			gcdn.WithMaxRateLimitWait(20 * time.Second), gcdn.WithCoalesce(false)}, more...)
	}

	// Control: on their own, the two clients' first purges go out together.
	setup(t)
	configure(t, limits)
	alone := []*gcdn.Client{newClient(t, opts()...), newClient(t, opts()...)}
	n201, n429 := purgeConcurrently(t, alone, 2)
	if n201 != 4 || n429 == 0 {
		t.Fatalf("without a store: %d accepted, %d refused with 429; want 4 and some", n201, n429)
	}

	setup(t)
	configure(t, limits)
	shared := []*gcdn.Client{
		newClient(t, opts(gcdn.WithRateStore(store))...),
		newClient(t, opts(gcdn.WithRateStore(store), gcdn.WithRateStoreFailClosed())...),
	}
	start := time.Now()
	n201, n429 = purgeConcurrently(t, shared, 3)
	if n201 != 6 || n429 != 0 {
		t.Fatalf("with one store: %d accepted, %d refused with 429; want 6 and none", n201, n429)
	}
	// Six purges one slot apart: at least five intervals.
	if took := time.Since(start); took < 5*400*time.Millisecond {
		t.Errorf("six shared purges took %v, less than five intervals", took)
	}
}

// TestRateStoreURLErrors: a malformed store URL is ErrInvalidArgument, at NewClient, and no
// message shows its password; an unreachable store with WithRateStoreFailClosed is
// ErrNetwork naming the store without its password, and nothing is sent.
func TestRateStoreURLErrors(t *testing.T) {
	const pw = "S3cret-Go-pw"
	for _, url := range []string{
		"redis://:" + pw + "@h:99999",
		"redis://u:" + pw + "@h/x",
		"http://u:" + pw + "@h:1",
		"redis://u:" + pw + "@h:1/0?db=1",
		"redis://u:" + pw + "%zz@h",
		"redis://:" + pw + "@",
	} {
		_, err := dial(gcdn.WithRateStore(url))
		e := wantErr(t, err, gcdn.ErrInvalidArgument)
		if strings.Contains(e.Error(), pw) {
			t.Errorf("%q: the message shows the password: %v", url, e)
		}
		if !strings.Contains(e.Error(), "rate store") {
			t.Errorf("%q: the message does not name the rate store: %v", url, e)
		}
	}
	_, err := dial(gcdn.WithRateStore("redis://a\x00b@h"))
	wantErr(t, err, gcdn.ErrInvalidArgument)

	setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	c := newClient(t, gcdn.WithRateStore(fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", pw, port)),
		gcdn.WithRateStoreFailClosed())
	err = c.PurgeURLs(ctx, 7, []string{"/x"})
	e := wantErr(t, err, gcdn.ErrNetwork)
	if strings.Contains(e.Error(), pw) || !strings.Contains(e.Error(), fmt.Sprintf("redis://127.0.0.1:%d/0", port)) {
		t.Errorf("fail-closed error: %v", e)
	}
	wantNoRequests(t)
}

// TestRateStoreCoalescing: six clients, each with its own connection to one redis-server (as
// six processes would have), purge 5 URLs each of one resource at once: the first call goes
// alone, the others share the next slot; every URL a client was told is purged arrived in a
// 2xx request, and no 429 was met.
func TestRateStoreCoalescing(t *testing.T) {
	store := "redis://" + startRedis(t, "") + "/0"
	setup(t)
	configure(t, map[string]any{"url_requests": 1, "url_window_ms": 1000})
	var clients []*gcdn.Client
	for i := 0; i < 6; i++ {
		clients = append(clients, newClient(t, gcdn.WithRateStore(store),
			gcdn.WithPurgeIntervals(time.Second, time.Second), gcdn.WithMaxRateLimitWait(30*time.Second)))
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		told []string
	)
	start := make(chan struct{})
	for i, c := range clients {
		wg.Add(1)
		go func(i int, c *gcdn.Client) {
			defer wg.Done()
			var urls []string
			for j := 0; j < 5; j++ {
				urls = append(urls, fmt.Sprintf("/c%d/%d", i, j))
			}
			<-start
			if err := c.PurgeURLs(ctx, 7, urls); err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			mu.Lock()
			told = append(told, urls...)
			mu.Unlock()
		}(i, c)
	}
	close(start)
	wg.Wait()
	arrived := map[string]bool{}
	var statuses []int
	for _, r := range requests(t) {
		if r.Method != "POST" || !strings.HasSuffix(r.Path, "/purge") {
			continue
		}
		statuses = append(statuses, r.Status)
		if r.Status == 429 {
			t.Errorf("a 429 was met: %v", statuses)
		}
		if r.Status < 200 || r.Status > 299 {
			continue
		}
		var body struct {
			URLs []string `json:"urls"`
		}
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatalf("body %q: %v", r.Body, err)
		}
		for _, u := range body.URLs {
			arrived[u] = true
		}
	}
	if len(told) != 30 {
		t.Fatalf("%d URLs told purged, want 30", len(told))
	}
	for _, u := range told {
		if !arrived[u] {
			t.Errorf("%s told purged, in no 2xx request (%v)", u, statuses)
		}
	}
	// 30 URLs of 6 calls: the first goes at once, alone; the rest fit the next slot.
	if len(statuses) > 3 {
		t.Errorf("%d requests for 30 URLs of 6 clients: %v", len(statuses), statuses)
	}
}
