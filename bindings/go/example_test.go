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

// Purge a deploy's changed URLs: full URLs over several CDN hostnames, each sent to its
// resource (found by its cname or secondary hostnames), paced to the API's limits, and
// confirmed; the report says what happened to every URL.
func ExampleClient_Run() {
	c, err := gcdn.NewClient("test-key", gcdn.WithBaseURL(emulatorURL))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// What the deploy changed (the emulator's resource 60 serves cdn60.example.com, 61
	// cdn61.example.com).
	changed := []string{
		"https://cdn60.example.com/index.html",
		"https://cdn60.example.com/app.js?v=2",
		"https://cdn61.example.com/logo.png",
		"https://cdn60.example.com/index.html", // listed twice: sent once
		"https://old.example.net/gone.css",     // no resource serves this host
	}
	job := gcdn.NewJob()
	if err := job.AddFullURLs(changed); err != nil {
		log.Fatal(err) // a malformed URL: nothing was sent
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	answered := 0
	report, err := c.Run(ctx, job, gcdn.RunOptions{
		Wait: 2 * time.Minute, // until the CDN says the purges are done
		Progress: func(e gcdn.Event) error {
			if e.Kind == gcdn.EventAnswered {
				answered++ // or print e.ResourceID, e.Items, e.Totals...
			}
			return nil
		},
	})
	if report == nil {
		log.Fatal(err) // refused before anything was sent
	}
	for _, r := range report.Requests {
		fmt.Println(r.ResourceID, r.Kind, r.Items, r.Outcome, r.Completion)
	}
	for _, s := range report.Skipped {
		fmt.Println("skipped", s.Item, s.Reason)
	}
	fmt.Println("answered:", answered, "items purged:", report.Totals.ItemsPurged)
	fmt.Println("not found:", errors.Is(err, gcdn.ErrNotFound)) // the unknown host
	if rest := report.Remaining(); rest != nil {
		// Requests that failed or were not sent: run rest later to finish the work.
		fmt.Println("left to purge:", rest.Len())
	}
	// Output:
	// 60 urls [/index.html /app.js?v=2] purged successful
	// 61 urls [/logo.png] purged successful
	// skipped https://cdn60.example.com/index.html duplicate
	// skipped https://old.example.net/gone.css no_resource
	// answered: 2 items purged: 3
	// not found: true
}
