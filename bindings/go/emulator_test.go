package gcdn_test

// The emulator process the tests and examples run against, and its control API.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gcdn "github.com/gcdn-project/gcdn/bindings/go"
)

// emulatorKey is the API key the emulator accepts.
const emulatorKey = "test-key"

// emulatorURL is the base URL of the emulator started by TestMain.
var emulatorURL string

// control is a plain HTTP client for the emulator's control API.
var control = &http.Client{Timeout: 10 * time.Second}

func TestMain(m *testing.M) {
	os.Exit(runWithEmulator(m))
}

func runWithEmulator(m *testing.M) int {
	bin := os.Getenv("GCDN_EMULATOR")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "release", "gcdn-emulator")
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "gcdn tests: no emulator at %s (%v).\n"+
			"Build it with `cargo build --release --workspace` at the repository root, "+
			"or set GCDN_EMULATOR to its path.\n", bin, err)
		return 1
	}
	// Resources 1 to 100 exist after every reset. The rate limits are generous: the tests
	// that need tight ones set them through the control API, and a reset restores these.
	cmd := exec.Command(bin, "--port", "0", "--quiet", "--exit-on-stdin-eof",
		"--api-key", emulatorKey, "--seed", "1-100",
		"--url-requests", "1000000", "--pattern-requests", "1000000", "--all-requests", "1000000")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gcdn tests:", err)
		return 1
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gcdn tests:", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "gcdn tests: cannot start the emulator %s: %v\n", bin, err)
		return 1
	}
	defer func() {
		stdin.Close() // --exit-on-stdin-eof: the emulator exits
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()

	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		s, _ := r.ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, r)
	}()
	select {
	case s := <-line:
		url, ok := strings.CutPrefix(s, "GCDN_EMULATOR_URL=")
		if !ok {
			fmt.Fprintf(os.Stderr, "gcdn tests: unexpected first line from the emulator: %q\n", s)
			return 1
		}
		emulatorURL = url
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "gcdn tests: the emulator printed no URL within 10 s")
		return 1
	}
	return m.Run()
}

// call sends a control request and returns the answer's body.
func call(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, emulatorURL+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := control.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return out, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, out)
	}
	return out, nil
}

func mustCall(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	out, err := call(method, path, body)
	if err != nil {
		t.Fatalf("emulator control: %v", err)
	}
	return out
}

// setup resets the emulator now and after the test.
func setup(t testing.TB) {
	t.Helper()
	mustCall(t, "POST", "/__emulator/reset", nil)
	t.Cleanup(func() {
		if _, err := call("POST", "/__emulator/reset", nil); err != nil {
			t.Errorf("emulator reset: %v", err)
		}
	})
}

// addResource creates (or replaces) resource id; refusal is "", "primary", "streaming" or
// "custom".
func addResource(t testing.TB, id int64, active bool, refusal string) {
	t.Helper()
	var r any
	if refusal != "" {
		r = refusal
	}
	mustCall(t, "POST", "/__emulator/resources", map[string]any{"id": id, "active": active, "refusal": r})
}

// resourceExists reports whether the emulator has resource id, and whether it is active.
func resourceExists(t testing.TB, id int64) (exists, active bool) {
	t.Helper()
	out, err := call("GET", fmt.Sprintf("/__emulator/resources/%d", id), nil)
	if err != nil {
		if strings.Contains(err.Error(), "HTTP 404") {
			return false, false
		}
		t.Fatalf("emulator control: %v", err)
	}
	var r struct{ Active bool }
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return true, r.Active
}

// addFault queues a fault: action is {"respond": {...}}, {"delay_ms": n} or {"drop": true}.
func addFault(t testing.TB, method, pathPrefix string, times int, action map[string]any) {
	t.Helper()
	mustCall(t, "POST", "/__emulator/faults", map[string]any{
		"method": method, "path_prefix": pathPrefix, "times": times, "action": action,
	})
}

func configure(t testing.TB, settings map[string]any) {
	t.Helper()
	mustCall(t, "POST", "/__emulator/config", settings)
}

// recorded is a request the emulator received.
type recorded struct {
	Method  string
	Path    string
	Headers map[string]string
	Body    string
	Status  int
}

// requests returns the API requests the emulator received since the last reset.
func requests(t testing.TB) []recorded {
	t.Helper()
	var list []recorded
	if err := json.Unmarshal(mustCall(t, "GET", "/__emulator/requests", nil), &list); err != nil {
		t.Fatal(err)
	}
	return list
}

// newClient returns a client of the emulator, closed after the test.
func newClient(t testing.TB, opts ...gcdn.Option) *gcdn.Client {
	t.Helper()
	c, err := dial(opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dial returns a client of the emulator that nothing closes but its finalizer. The
// emulator's limits are generous, but the account limits it reports are beyond what the
// client believes (it paces to the documented 2 URL purges a minute then): the purge
// intervals of 1 ms keep the pacer out of the way of tests that are not about it.
func dial(opts ...gcdn.Option) (*gcdn.Client, error) {
	opts = append([]gcdn.Option{gcdn.WithBaseURL(emulatorURL), gcdn.WithTimeout(5 * time.Second),
		gcdn.WithPurgeIntervals(time.Millisecond, time.Millisecond)}, opts...)
	return gcdn.NewClient(emulatorKey, opts...)
}
