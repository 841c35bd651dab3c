//go:build !gcoresdk

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

const implementation = "net/http"

type purgeBody struct {
	URLs []string `json:"urls"`
}

// newCaller makes the requests the SDK would, as a Go program without it would: the JSON
// encoded per call, a new http.Request, the default keep-alive transport, the body drained.
func newCaller(base, op string) func() error {
	client := &http.Client{}
	url := fmt.Sprintf("%s/cdn/resources/%d", base, resourceID)
	method, want := http.MethodDelete, http.StatusNoContent
	if op == "purge" {
		url += "/purge"
		method, want = http.MethodPost, http.StatusCreated
	}
	return func() error {
		var body io.Reader
		if op == "purge" {
			b, err := json.Marshal(purgeBody{URLs: urls})
			if err != nil {
				return err
			}
			body = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "APIKey "+apiKey)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "gcdn-bench-go")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
}
