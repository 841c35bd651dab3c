//go:build gcoresdk

package main

import (
	"context"
	"strings"

	"github.com/G-Core/gcore-go"
	"github.com/G-Core/gcore-go/cdn"
	"github.com/G-Core/gcore-go/option"
)

const implementation = "gcore-go"

// newCaller makes the two calls through the official SDK, its retries off (on success
// they never run).
func newCaller(base, op string) func() error {
	client := gcore.NewClient(
		option.WithBaseURL(strings.TrimSuffix(base, "/")+"/"),
		option.WithAPIKey(apiKey),
		option.WithMaxRetries(0),
	)
	ctx := context.Background()
	if op == "purge" {
		params := cdn.CDNResourcePurgeParams{
			OfPurgeByURL: &cdn.CDNResourcePurgeParamsBodyPurgeByURL{URLs: urls},
		}
		return func() error { return client.CDN.CDNResources.Purge(ctx, resourceID, params) }
	}
	return func() error { return client.CDN.CDNResources.Delete(ctx, resourceID) }
}
