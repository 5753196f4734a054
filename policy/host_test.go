package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestHostsCheck(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		listen  string
		host    string
		want    error
	}{
		{"loopback listen, localhost", nil, "127.0.0.1:8000", "localhost:8000", nil},
		{"localhost without port", nil, "127.0.0.1:8000", "localhost", nil},
		{"localhost, any case, root dot", nil, "127.0.0.1:8000", "LocalHost.:8000", nil},
		{"loopback address", nil, "127.0.0.1:8000", "127.0.0.1:8000", nil},
		{"other loopback address", nil, "127.0.0.1:8000", "127.1.2.3", nil},
		{"ipv6 loopback", nil, "[::1]:8000", "[::1]:8000", nil},
		{"ipv6 loopback without port", nil, "127.0.0.1:8000", "[::1]", nil},
		{"rebinding name", nil, "127.0.0.1:8000", "attacker.example:8000", ErrHostNotAllowed},
		{"name that embeds localhost", nil, "127.0.0.1:8000", "localhost.attacker.example", ErrHostNotAllowed},
		{"subdomain of localhost", nil, "127.0.0.1:8000", "a.localhost", ErrHostNotAllowed},
		{"empty", nil, "127.0.0.1:8000", "", ErrNoHost},
		{"other address on a loopback listener", nil, "127.0.0.1:8000", "10.0.0.1:8000", ErrHostNotAllowed},
		{"listen address", nil, "10.1.2.3:8000", "10.1.2.3:8000", nil},
		{"listen name", nil, "warmbox.internal:8000", "WARMBOX.internal:8000", nil},
		{"any address when listening on all", nil, "0.0.0.0:8000", "10.244.1.7:8000", nil},
		{"any address when listening on all (v6)", nil, "[::]:8000", "[fd00::7]:8000", nil},
		{"any address when listening on all (no host)", nil, ":8000", "192.168.1.5", nil},
		{"names still listed when listening on all", nil, "0.0.0.0:8000", "warmbox.warmbox.svc:80", ErrHostNotAllowed},
		{"listed name", []string{"api.example.com"}, "0.0.0.0:8000", "api.example.com", nil},
		{"listed name, other case and port", []string{"API.example.com"}, "0.0.0.0:8000", "api.EXAMPLE.com:443", nil},
		{"not listed", []string{"api.example.com"}, "0.0.0.0:8000", "example.com", ErrHostNotAllowed},
		{"wildcard", []string{"*.example.com"}, "0.0.0.0:8000", "a.b.example.com", nil},
		{"wildcard is not the apex", []string{"*.example.com"}, "0.0.0.0:8000", "example.com", ErrHostNotAllowed},
		{"wildcard suffix must be a label", []string{"*.example.com"}, "0.0.0.0:8000", "evilexample.com", ErrHostNotAllowed},
		{"listed address", []string{"203.0.113.9"}, "10.0.0.1:8000", "203.0.113.9:8000", nil},
		{"star", []string{"*"}, "127.0.0.1:8000", "anything.example", nil},
		{"star, empty host", []string{"*"}, "127.0.0.1:8000", "", ErrNoHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHosts(tc.allowed, tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Check(tc.host); !errors.Is(got, tc.want) || (tc.want == nil && got != nil) {
				t.Errorf("Check(%q) = %v, want %v", tc.host, got, tc.want)
			}
		})
	}
}

func TestNewHostsErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		listen  string
		want    string
	}{
		{"scheme", []string{"https://api.example.com"}, "", `"https://api.example.com"`},
		{"port", []string{"api.example.com:443"}, "", `"api.example.com:443"`},
		{"path", []string{"example.com/x"}, "", `"example.com/x"`},
		{"empty", []string{""}, "", `allowed host ""`},
		{"zone", []string{"fe80::1%eth0"}, "", "zone"},
		{"bad listen", nil, "8000", "listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHosts(tc.allowed, tc.listen)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewHosts(%q, %q) = %v, want an error containing %s", tc.allowed, tc.listen, err, tc.want)
			}
		})
	}
}

func FuzzHostsCheck(f *testing.F) {
	for _, s := range []string{"localhost:8000", "[::1]", "127.0.0.1", "a.example.com", "", "[", "[::1%eth0]:1", "*.", "..."} {
		f.Add(s)
	}
	h, err := NewHosts([]string{"*.example.com", "api.example.org", "203.0.113.9"}, "127.0.0.1:8000")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if err := h.Check(host); err == nil && host == "" {
			t.Error("an empty Host was allowed")
		}
	})
}

func TestFromTrustedProxy(t *testing.T) {
	r, err := NewClientResolver([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote string
		want   bool
	}{
		{"10.1.2.3:5555", true},
		{"[::ffff:10.1.2.3]:5555", true},
		{"192.168.1.1:5555", false},
		{"@", false},
	} {
		if got := r.FromTrustedProxy(tc.remote); got != tc.want {
			t.Errorf("FromTrustedProxy(%q) = %v, want %v", tc.remote, got, tc.want)
		}
	}
	var none *ClientResolver
	if none.FromTrustedProxy("10.1.2.3:1") {
		t.Error("a nil resolver trusts a proxy")
	}
}

func TestIsLoopback(t *testing.T) {
	for ip, want := range map[string]bool{"127.0.0.1": true, "127.9.9.9": true, "::1": true, "10.0.0.1": false, "": false, "@": false} {
		if got := IsLoopback(ip); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", ip, got, want)
		}
	}
}
