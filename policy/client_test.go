package policy

import (
	"strings"
	"testing"
)

func TestNewClientResolver(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		wantErr string // substring; "" = no error
	}{
		{"none", nil, ""},
		{"cidrs", []string{"10.0.0.0/8", "fd00::/8", " 192.168.1.0/24 "}, ""},
		{"single address", []string{"127.0.0.1", "::1"}, ""},
		{"mapped prefix", []string{"::ffff:10.0.0.0/104"}, ""},
		{"bad cidr named", []string{"10.0.0.0/8", "10.0.0.0/33"}, `"10.0.0.0/33"`},
		{"garbage named", []string{"proxy.local"}, `"proxy.local"`},
		{"empty", []string{""}, `""`},
		{"zone", []string{"fe80::1%eth0"}, "zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClientResolver(tt.trusted)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("NewClientResolver(%q) = %v, want no error", tt.trusted, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("NewClientResolver(%q) = %v, want error containing %s", tt.trusted, err, tt.wantErr)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	r, err := NewClientResolver([]string{"10.0.0.0/8", "fd00::/8", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no header", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer spoofing", "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5"},
		{"untrusted peer spoofing many", "203.0.113.5:4000", []string{"1.2.3.4, 10.0.0.1", "5.6.7.8"}, "203.0.113.5"},
		{"trusted peer, one hop", "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"trusted chain walked right to left", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"client-supplied left part ignored", "10.1.2.3:80", []string{"1.1.1.1, 2.2.2.2", "198.51.100.7"}, "198.51.100.7"},
		{"several header lines", "10.1.2.3:80", []string{"198.51.100.7", "10.0.0.9"}, "198.51.100.7"},
		{"all trusted: leftmost", "10.1.2.3:80", []string{"10.0.0.7, 10.0.0.8"}, "10.0.0.7"},
		{"trusted peer, empty header", "10.1.2.3:80", []string{""}, "10.1.2.3"},
		{"garbage stops at last trusted hop", "10.1.2.3:80", []string{"198.51.100.7, <script>, 10.0.0.5"}, "10.0.0.5"},
		{"header injection attempt", "10.1.2.3:80", []string{"1.2.3.4\r\nX-Evil: 1"}, "10.1.2.3"},
		{"hop with port", "10.1.2.3:80", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"ipv6 peer", "[2001:db8::1]:443", []string{"1.2.3.4"}, "2001:db8::1"},
		{"trusted ipv6 peer", "[fd00::1]:443", []string{"[2001:db8::2]:1234"}, "2001:db8::2"},
		{"mapped peer unmapped", "[::ffff:203.0.113.5]:1", nil, "203.0.113.5"},
		{"mapped trusted range", "[::ffff:172.16.0.1]:1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"zone dropped", "[fe80::1%eth0]:1", nil, "fe80::1"},
		{"unix socket", "@", []string{"1.2.3.4"}, "@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.ClientIP(tt.remote, tt.xff); got != tt.want {
				t.Fatalf("ClientIP(%q, %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
	t.Run("nil resolver trusts nobody", func(t *testing.T) {
		var nr *ClientResolver
		if got := nr.ClientIP("10.1.2.3:80", []string{"1.2.3.4"}); got != "10.1.2.3" {
			t.Fatalf("got %q, want 10.1.2.3", got)
		}
	})
	t.Run("long chain bounded", func(t *testing.T) {
		chain := strings.Repeat("10.0.0.1,", 1000) + "10.0.0.2"
		if got := r.ClientIP("10.1.2.3:80", []string{chain}); got != "10.0.0.1" {
			t.Fatalf("got %q, want 10.0.0.1", got)
		}
	})
}

func TestClientKey(t *testing.T) {
	tests := []struct {
		name, ip, want string
	}{
		{"ipv4", "203.0.113.5", "203.0.113.5"},
		{"ipv6 to /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"same /64 same key", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"not an ip", "@", "@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClientKey(tt.ip); got != tt.want {
				t.Fatalf("ClientKey(%q) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
}
