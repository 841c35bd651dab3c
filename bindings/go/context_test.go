package gcdn_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

// wantDeadline checks that err is what a Go user expects of a call its context's deadline
// stopped.
func wantDeadline(t *testing.T, err error) {
	t.Helper()
	wantErr(t, err, gcdn.ErrTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not match context.DeadlineExceeded", err)
	}
	if errors.Is(err, gcdn.ErrRateLimited) {
		t.Errorf("%v matches ErrRateLimited: the deadline, not the rate limit, stopped it", err)
	}
}

// TestDeadlineInRateLimitWait: a 500 ms deadline on a call that would have to wait longer
// for the rate limit (the client's own pacer, or a 429 with Retry-After because another
// client took the window) fails at once with the deadline's error, not ErrRateLimited.
func TestDeadlineInRateLimitWait(t *testing.T) {
	setup(t)
	t.Run("pacer", func(t *testing.T) {
		c := newClient(t, gcdn.WithPurgeIntervals(time.Minute, time.Minute))
		if err := c.PurgeURLs(ctx, 30, []string{"/first"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := c.PurgeURLs(withTimeout(t, 500*time.Millisecond), 30, []string{"/second"})
		wantDeadline(t, err)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v", d)
		}
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		configure(t, map[string]any{"url_requests": 1, "url_window_ms": 60000, "retry_after": "seconds"})
		other := newClient(t)
		if err := other.PurgeURLs(ctx, 31, []string{"/theirs"}); err != nil {
			t.Fatal(err)
		}
		c := newClient(t)
		start := time.Now()
		err := c.PurgeURLs(withTimeout(t, 500*time.Millisecond), 31, []string{"/mine"})
		wantDeadline(t, err)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v", d)
		}
	})
	t.Run("429 without Retry-After, waited then refused", func(t *testing.T) {
		// The interval after a bare 429 (300 ms) fits the deadline once; the next one
		// would end past it.
		configure(t, map[string]any{"url_requests": 1, "url_window_ms": 60000, "retry_after": "none"})
		other := newClient(t)
		if err := other.PurgeURLs(ctx, 32, []string{"/theirs"}); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, gcdn.WithPurgeIntervals(300*time.Millisecond, 300*time.Millisecond))
		err := c.PurgeURLs(withTimeout(t, 500*time.Millisecond), 32, []string{"/mine"})
		wantDeadline(t, err)
	})
}

// TestCancelMidWait: cancelling the context while the call waits for the pacer ends it at
// once with ErrCancelled and context.Canceled, and nothing more is sent.
func TestCancelMidWait(t *testing.T) {
	setup(t)
	c := newClient(t, gcdn.WithPurgeIntervals(time.Minute, time.Minute))
	if err := c.PurgeAll(ctx, 33); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err := c.PurgeAll(cctx, 33)
	wantErr(t, err, gcdn.ErrCancelled)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not match context.Canceled", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("returned after %v, want about 300 ms", d)
	}
	if n := len(purges(t)); n != 1 {
		t.Errorf("%d purges, want 1", n)
	}
}

// TestNoGoroutinePerCall: calls with a deadline (and cancellable) context start no
// goroutine while they run: 20 calls held in flight by the emulator add exactly their 20
// callers to runtime.NumGoroutine (the binding used to add a watcher per call).
func TestNoGoroutinePerCall(t *testing.T) {
	setup(t)
	const n = 20
	addFault(t, "POST", "/cdn/resources/", n, map[string]any{"delay_ms": 1500})
	c := newClient(t)
	// Warm the client's connections so that no call is still connecting when counted.
	runtime.GC()
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errs <- c.PurgeURLs(dctx, int64(40+i), []string{"/held"})
		}(i)
	}
	// Sample while every call is held by the emulator.
	time.Sleep(500 * time.Millisecond)
	peak := 0
	for i := 0; i < 20; i++ {
		if g := runtime.NumGoroutine(); g > peak {
			peak = g
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if extra := peak - base; extra > n+2 {
		t.Errorf("%d goroutines more during %d calls with a deadline, want %d (one per caller)", extra, n, n)
	}
}

// TestDeadlineCallAllocations: a call with a deadline context allocates a bounded, small
// number of Go objects more than one with context.Background() (the token's AfterFunc),
// not a client. Measured with testing.AllocsPerRun.
func TestDeadlineCallAllocations(t *testing.T) {
	setup(t)
	c := newClient(t)
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bg := testing.AllocsPerRun(50, func() {
		if err := c.DeleteResource(ctx, 404404, gcdn.MissingOK()); err != nil {
			t.Fatal(err)
		}
	})
	dl := testing.AllocsPerRun(50, func() {
		if err := c.DeleteResource(dctx, 404404, gcdn.MissingOK()); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("Go allocations per call: %.1f with context.Background(), %.1f with a deadline", bg, dl)
	if dl-bg > 8 {
		t.Errorf("a deadline call allocates %.1f objects more than a background one", dl-bg)
	}
}

// BenchmarkCallContext compares a call with context.Background() and one with a deadline
// context (made per call, as usual): issue 12 wants them within 10 %.
func BenchmarkCallContext(b *testing.B) {
	setup(b)
	c := newClient(b)
	for _, mode := range []string{"background", "deadline"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cx, cancel := context.Background(), context.CancelFunc(func() {})
				if mode == "deadline" {
					cx, cancel = context.WithTimeout(context.Background(), time.Minute)
				}
				err := c.DeleteResource(cx, 404404, gcdn.MissingOK())
				cancel()
				if err != nil {
					b.Fatal(fmt.Sprint(err))
				}
			}
		})
	}
}

// TestRunSlotsReused: the client reuses the per-call settings of its calls, so a call must
// not inherit the last one's: not its deadline (a cancellable call without one, held 700 ms
// by the server, after calls with a 300 ms deadline), nor its fired cancel token (a call
// after a cancelled one).
func TestRunSlotsReused(t *testing.T) {
	setup(t)
	c := newClient(t)
	for i := 0; i < 3; i++ {
		if err := c.PurgeURLs(withTimeout(t, 300*time.Millisecond), 34, []string{"/quick"}); err != nil {
			t.Fatal(err)
		}
	}
	addFault(t, "POST", purgePath(34), 1, map[string]any{"delay_ms": 700})
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.PurgeURLs(cctx, 34, []string{"/slow"}); err != nil {
		t.Fatalf("a call without a deadline after calls with one: %v", err)
	}

	addFault(t, "POST", purgePath(35), 1, map[string]any{"delay_ms": 300})
	cctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel2)
	_ = c.PurgeAll(cctx2, 35) // cancelled (or done) while the server holds it
	for i := 0; i < 3; i++ {
		cx, cancel := context.WithCancel(context.Background())
		err := c.PurgeAll(cx, int64(36+i))
		cancel()
		if err != nil {
			t.Fatalf("a call after a cancelled one: %v", err)
		}
	}
}
