package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	if code := probe([]string{srv.URL + "/readyz"}); code != 0 {
		t.Errorf("a 200: exit %d, want 0", code)
	}
	status = http.StatusServiceUnavailable
	if code := probe([]string{srv.URL + "/readyz"}); code != 1 {
		t.Errorf("a 503: exit %d, want 1", code)
	}
	if code := probe([]string{"http://127.0.0.1:1/readyz"}); code != 1 {
		t.Errorf("nothing listening: exit %d, want 1", code)
	}
	if code := probe([]string{"-x", "y"}); code != 2 {
		t.Errorf("bad arguments: exit %d, want 2", code)
	}
}
