package gcdn_test

// These examples run against the local emulator that TestMain starts: emulatorURL is its
// address and "test-key" the key it accepts. Against the real API, leave out WithBaseURL
// and pass your key (or "" to read GCORE_API_KEY).

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

func ExampleNewClient() {
	c, err := gcdn.NewClient("test-key",
		gcdn.WithBaseURL(emulatorURL), // default: $GCORE_BASE_URL, else https://api.gcore.com
		gcdn.WithTimeout(10*time.Second),
		gcdn.WithMaxRetries(2),
		gcdn.WithUserAgent("myapp/1.0"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("client ready")
	// Output: client ready
}

func ExampleClient_PurgeURLs() {
	c, err := gcdn.NewClient("test-key", gcdn.WithBaseURL(emulatorURL))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Paths with their query strings, without scheme or host.
	err = c.PurgeURLs(ctx, 42, []string{"/index.html", "/img/logo.png?v=3"})
	fmt.Println("purged:", err == nil)

	// Resource 404404 does not exist.
	err = c.PurgeURLs(ctx, 404404, []string{"/index.html"})
	fmt.Println("not found:", errors.Is(err, gcdn.ErrNotFound))

	// A full URL is refused before anything is sent.
	err = c.PurgeURLs(ctx, 42, []string{"https://cdn.example.com/index.html"})
	fmt.Println("invalid:", errors.Is(err, gcdn.ErrInvalidArgument))
	// Output:
	// purged: true
	// not found: true
	// invalid: true
}

func ExampleClient_PurgePatterns() {
	c, err := gcdn.NewClient("test-key", gcdn.WithBaseURL(emulatorURL))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.PurgePatterns(context.Background(), 42, []string{"/images/*", "/css/"})
	fmt.Println("purged:", err == nil)
	// Output: purged: true
}

func ExampleClient_DeleteResource() {
	c, err := gcdn.NewClient("test-key", gcdn.WithBaseURL(emulatorURL))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// Deactivate, then delete; a resource already gone counts as deleted.
	err = c.DeleteResource(ctx, 43, gcdn.DeactivateFirst(), gcdn.MissingOK())
	fmt.Println("deleted:", err == nil)

	// Without MissingOK, deleting it again is an error.
	err = c.DeleteResource(ctx, 43)
	var e *gcdn.Error
	if errors.As(err, &e) {
		fmt.Println("again:", e.Status == gcdn.StatusNotFound, errors.Is(err, gcdn.ErrNotFound))
	}
	// Output:
	// deleted: true
	// again: true true
}

func ExampleError() {
	c, err := gcdn.NewClient("wrong-key", gcdn.WithBaseURL(emulatorURL))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.PurgeAll(context.Background(), 42)
	switch {
	case errors.Is(err, gcdn.ErrUnauthorized):
		fmt.Println("check the API key")
	case errors.Is(err, gcdn.ErrRateLimited):
		fmt.Println("try again later")
	case err != nil:
		fmt.Println("failed:", err)
	}
	// Output: check the API key
}
