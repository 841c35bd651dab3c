// Package gcdn deletes Gcore CDN resources and purges Gcore CDN caches. It is the Go
// binding of the gcdn C library (include/gcdn.h in the gcdn repository), called through
// cgo.
//
//	c, err := gcdn.NewClient(os.Getenv("GCORE_API_KEY"))
//	if err != nil { ... }
//	defer c.Close()
//	err = c.PurgeURLs(ctx, 123, []string{"/img/a.jpg", "/index.html?v=2"})
//	if errors.Is(err, gcdn.ErrRateLimited) { ... }
//
// # Linking
//
// By default the package links the library from the repository's build tree: build it
// first, at the repository root, with
//
//	make build    # cargo build --release --workspace, plus the libgcdn.so.0 (SONAME) link
//
// The cgo flags point at ../../include and ../../target/release relative to this
// package's directory and set an rpath there, so `go test` and `go run` need no
// LD_LIBRARY_PATH. This works when the package is used from a checkout of the
// repository (for example through a `replace` directive in your go.mod).
//
// With the build tag gcdn_system the package links a system-installed libgcdn instead,
// found through pkg-config (gcdn.pc, which `make install` writes):
//
//	go build -tags gcdn_system ./...
//	# with a non-standard prefix: PKG_CONFIG_PATH=/opt/gcdn/lib/pkgconfig go build -tags gcdn_system
//
// The package keeps no copy of gcdn.h: it includes the header from the repository (or
// from the system, with gcdn_system), and its status constants are read from it at build
// time, so they cannot drift.
//
// # Contexts
//
// Every call takes a context.Context first. A context that is already done returns
// ctx.Err() without calling the library (nothing is sent). A context with a deadline
// bounds the whole call, attempts, backoff and rate-limit waits included: a call cut short
// returns an error that matches ErrTimeout and context.DeadlineExceeded, also when it
// would have had to wait for a rate limit past the deadline (it then fails at once, not
// with ErrRateLimited). Cancelling the context during a call ends it at once if it is
// waiting (the pacer, backoff, or a 429 being waited out), else before its next attempt,
// with an error that matches ErrCancelled and context.Canceled; an HTTP attempt already in
// flight ends with its answer or its timeout first.
//
// The context reaches the library as per-call settings (a gcdn_run holding the time left
// and a cancel token that context.AfterFunc fires): a call makes no derived client and
// starts no goroutine for its context.
//
// # Purge jobs
//
// A Job holds purges across any number of resources, and full URLs that Client.Run maps
// to their resource by hostname. Run plans, paces, sends and (with RunOptions.Wait)
// confirms them, calling RunOptions.Progress with each event on the calling goroutine, and
// returns a Report of every request and every item left out; Report.Remaining is the job
// of what is left to do.
//
// # Logging
//
// WithLogger sends the library's records (each HTTP attempt, retry, wait, 429, limits read)
// to a *slog.Logger, with structured attributes (method, path, status, attempt, elapsed,
// resource_id, wait, ...). No record holds the API key.
//
// # Errors
//
// Errors from the library are *Error values with a Status (one of the Status constants)
// and a Message; compare them with the sentinels (ErrNotFound, ErrRateLimited, ...) using
// errors.Is, which matches by status. Messages never contain the API key. Calls on a
// closed Client return ErrClosed.
//
// # Concurrency and lifetime
//
// A Client is safe for concurrent use by many goroutines. Close frees it, after waiting
// for the calls in progress; it is idempotent, and a finalizer closes a Client that is
// dropped without Close. The User-Agent of every request names this binding:
// gcdn/<library version> gcdn-go/<Version> go/<Go version>, then the WithUserAgent token.
package gcdn
