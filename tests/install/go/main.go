// A Go program built against an installed gcdn with `go build -tags gcdn_system` (flags from
// pkg-config). Same checks as ../c/consumer.c: purge a URL of resource 5 (succeeds), then of
// 404 (not found).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

func main() {
	// Each request is logged through slog: a text handler into a buffer, checked below.
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := gcdn.NewClient("", gcdn.WithLogger(logger))
	if err != nil {
		fail("NewClient: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.PurgeURLs(ctx, 5, []string{"/install-test.html"}); err != nil {
		fail("purge 5: %v", err)
	}
	if err := c.PurgeURLs(ctx, 404, []string{"/install-test.html"}); !errors.Is(err, gcdn.ErrNotFound) {
		fail("purge 404: want not found, got %v", err)
	}
	if n := strings.Count(logs.String(), "method=POST"); n < 2 {
		fail("want a log record per request, got %d in %q", n, logs.String())
	}
	fmt.Print(logs.String())
	fmt.Println("go: ok")
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go: "+format+"\n", args...)
	os.Exit(1)
}
