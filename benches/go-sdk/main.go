// Sequential calls on one keep-alive connection through the official Gcore Go SDK
// (github.com/G-Core/gcore-go, built with -tags gcoresdk once benches/run has fetched it
// from the Go module proxy), or, when it cannot be had, through a plain net/http loop
// making the same requests.
//
//	bench-go-sdk BASE_URL purge|delete N WARMUP
//
// Prints one JSON line, like bench-go-gcdn. Run by benches/run.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"
)

const (
	apiKey     = "bench-key-0123456789abcdef"
	resourceID = 100
)

var urls = []string{"/img/logo.png", "/index.html?v=2"}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: bench-go-sdk BASE_URL purge|delete N WARMUP")
		os.Exit(2)
	}
	base, op := os.Args[1], os.Args[2]
	n, _ := strconv.Atoi(os.Args[3])
	warmup, _ := strconv.Atoi(os.Args[4])
	call := newCaller(base, op)
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
		"name":           implementation + " " + op,
		"implementation": implementation,
		"calls":          n,
		"median_us":      float64(lat[n/2].Nanoseconds()) / 1e3,
		"p99_us":         float64(lat[p99-1].Nanoseconds()) / 1e3,
		"calls_per_s":    float64(n) / loop.Seconds(),
		"cpu_us":         float64(cpu.Nanoseconds()) / 1e3 / float64(n),
		"failures":       failures,
	})
	fmt.Println(string(out))
	if failures > 0 {
		os.Exit(1)
	}
}
