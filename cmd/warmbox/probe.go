package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// probe is a container's health check: `warmbox probe [URL]` GETs URL
// (the daemon's /readyz on its default address) and exits 0 on a 200,
// 1 otherwise, saying why on stderr. The daemon's image has no shell or
// curl, so its health check is the binary itself.
func probe(args []string) int {
	url := "http://127.0.0.1:8000/readyz"
	switch {
	case len(args) == 1 && !strings.HasPrefix(args[0], "-"):
		url = args[0]
	case len(args) > 0:
		fmt.Fprintln(os.Stderr, "usage: warmbox probe [URL]   (default http://127.0.0.1:8000/readyz)")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warmbox probe: %v\n", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warmbox probe: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "warmbox probe: %s: HTTP %d %s\n", url, resp.StatusCode, strings.TrimSpace(string(body)))
		return 1
	}
	return 0
}
