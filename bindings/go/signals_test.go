package gcdn_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

// slowServer answers every request after wait, in two parts wait apart: POST with 201,
// anything else with 404. Its address.
func slowServer(t *testing.T, wait time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					answer := "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
					if req.Method != "POST" {
						body := `{"message": "Not found."}`
						answer = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " +
							strconv.Itoa(len(body)) + "\r\n\r\n" + body
					}
					half := len(answer) / 2
					time.Sleep(wait)
					if _, err := conn.Write([]byte(answer[:half])); err != nil {
						return
					}
					time.Sleep(wait)
					if _, err := conn.Write([]byte(answer[half:])); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// signalEveryThread sends sig to every thread of this process every millisecond until
// stop is closed; how many it sent.
func signalEveryThread(sig syscall.Signal, stop <-chan struct{}) *atomic.Int64 {
	var sent atomic.Int64
	pid := os.Getpid()
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			tasks, err := os.ReadDir("/proc/self/task")
			if err != nil {
				return
			}
			for _, task := range tasks {
				if tid, err := strconv.Atoi(task.Name()); err == nil {
					if syscall.Tgkill(pid, tid, sig) == nil {
						sent.Add(1)
					}
				}
			}
		}
	}()
	return &sent
}

// TestCallsUnderTheCPUProfiler: calls that block in the library's reads of a slow server
// while the CPU profiler runs (on already under `go test -cpuprofile`, as make test-go runs
// this package; else started here), CPU-bound goroutines draw its SIGPROF, and SIGURG (the
// runtime's preemption signal, whose handler Go installs with SA_RESTART) reaches every
// thread each millisecond, the threads blocked in C included: each call ends as the server
// answered, neither failed nor early.
func TestCallsUnderTheCPUProfiler(t *testing.T) {
	if err := pprof.StartCPUProfile(io.Discard); err == nil {
		defer pprof.StopCPUProfile()
	} else if !strings.Contains(err.Error(), "already") {
		t.Fatal(err)
	}
	wait := 100 * time.Millisecond
	base := slowServer(t, wait)
	stop := make(chan struct{})
	defer close(stop)
	for i := 0; i < 2; i++ {
		go func() {
			for x := 0; ; x++ {
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	sent := signalEveryThread(syscall.SIGURG, stop)
	c, err := gcdn.NewClient("signals-key-3", gcdn.WithBaseURL(base), gcdn.WithMaxRetries(0),
		gcdn.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	began := time.Now()
	for id := int64(1); id <= 3; id++ {
		t0 := time.Now()
		if err := c.PurgeAll(ctx, id); err != nil {
			t.Fatalf("purge %d under signals: %v", id, err)
		}
		if took := time.Since(t0); took < 2*wait {
			t.Fatalf("purge %d ended after %v, before the answer", id, took)
		}
	}
	err = c.DeleteResource(ctx, 7)
	if !errors.Is(err, gcdn.ErrNotFound) {
		t.Fatalf("delete of a missing resource under signals: %v", err)
	}
	// A timeout is the budget's, not a signal's: a server that never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	mute, err := gcdn.NewClient("signals-key-3", gcdn.WithBaseURL("http://"+ln.Addr().String()),
		gcdn.WithMaxRetries(0), gcdn.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	t0 := time.Now()
	err = mute.PurgeAll(ctx, 1)
	var e *gcdn.Error
	if !errors.As(err, &e) || e.Status != gcdn.StatusTimeout {
		t.Fatalf("a server that never answers: %v", err)
	}
	// One tick of the kernel's timer of slack (see tests/signals.rs).
	if took := time.Since(t0); took < 490*time.Millisecond {
		t.Fatalf("timed out after %v, before the 500 ms timeout", took)
	}
	elapsed := time.Since(began)
	if n := sent.Load(); n < int64(elapsed/(5*time.Millisecond)) {
		t.Fatalf("only %d signals sent in %v", n, elapsed)
	}
}
