// A Go program built against an installed gcdn with `go build -tags gcdn_system` (flags from
// pkg-config). Same checks as ../c/consumer.c: purge a URL of resource 5 (succeeds), then of
// 404 (not found).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

func main() {
	c, err := gcdn.NewClient("")
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
	fmt.Println("go: ok")
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go: "+format+"\n", args...)
	os.Exit(1)
}
