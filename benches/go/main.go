// Sequential calls through the gcdn Go binding on one keep-alive connection.
//
//	bench-go-gcdn BASE_URL purge|delete N WARMUP [background|deadline]
//
// Prints one JSON line (per-call median and p99 in µs, calls per second, client CPU per
// call), like the other benchmark programs. Run by benches/run. The context of each call is
// context.Background() (the default), or with "deadline" a context.WithTimeout of a minute
// made for the call (the usual Go way to bound a call): benches/run compares the two rows
// (issue 12: a call with a deadline within 10 % of one without).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

const (
	apiKey     = "bench-key-0123456789abcdef"
	resourceID = 1
)

var urls = []string{"/img/logo.png", "/index.html?v=2"}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	if len(os.Args) != 5 && len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: bench-go-gcdn BASE_URL purge|delete N WARMUP [background|deadline]")
		os.Exit(2)
	}
	deadline := len(os.Args) == 6 && os.Args[5] == "deadline"
	if len(os.Args) == 6 && !deadline && os.Args[5] != "background" {
		fmt.Fprintln(os.Stderr, "bench-go-gcdn: the context is background or deadline, not", os.Args[5])
		os.Exit(2)
	}
	base, op := os.Args[1], os.Args[2]
	n, _ := strconv.Atoi(os.Args[3])
	warmup, _ := strconv.Atoi(os.Args[4])
	// 1 ms purge intervals, as the C bench sets them: the client's pacer would otherwise
	// hold it to the documented 2 URL purges a minute (the bench server has no limits).
	client, err := gcdn.NewClient(apiKey, gcdn.WithBaseURL(base),
		gcdn.WithPurgeIntervals(time.Millisecond, time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer client.Close()
	do := func(ctx context.Context) error { return client.DeleteResource(ctx, resourceID) }
	if op == "purge" {
		do = func(ctx context.Context) error { return client.PurgeURLs(ctx, resourceID, urls) }
	}
	call := func() error { return do(context.Background()) }
	name := "gcdn-go " + op
	if deadline {
		name += " (deadline context)"
		call = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return do(ctx)
		}
	}
	for i := 0; i < warmup; i++ {
		if err := call(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	lat := make([]time.Duration, n)
	failures := 0
	cpu0 := cpuTime()
	start := time.Now()
	t := start
	for i := 0; i < n; i++ {
		if err := call(); err != nil {
			failures++
		}
		t2 := time.Now()
		lat[i] = t2.Sub(t)
		t = t2
	}
	loop := t.Sub(start)
	cpu := cpuTime() - cpu0
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := (n*99 + 99) / 100
	out, _ := json.Marshal(map[string]any{
		"name":        name,
		"calls":       n,
		"median_us":   float64(lat[n/2].Nanoseconds()) / 1e3,
		"p99_us":      float64(lat[p99-1].Nanoseconds()) / 1e3,
		"calls_per_s": float64(n) / loop.Seconds(),
		"cpu_us":      float64(cpu.Nanoseconds()) / 1e3 / float64(n),
		"failures":    failures,
	})
	fmt.Println(string(out))
	if failures > 0 {
		os.Exit(1)
	}
}
