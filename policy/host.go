package policy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Hosts decides which Host headers the API answers, against DNS
// rebinding: a web page on a name its owner controls can point that name
// at 127.0.0.1 (or any address the victim's browser reaches) and read
// the answers, as same-origin, unless the server refuses a Host it does
// not know. A rebinding request always names the attacker's host, so:
//
//   - names are answered only when listed (or "localhost");
//   - addresses are answered when they are loopback (127.0.0.0/8, ::1),
//     the listen address, or any address when the daemon listens on all
//     of them (0.0.0.0, ::), as a browser that asks for an address is on
//     the same origin as the daemon itself;
//   - "*" in the list answers any Host: only behind API keys, as a
//     rebinding page then reaches whatever the API serves anonymously.
//
// An empty Host is refused.
type Hosts struct {
	any      bool
	names    map[string]bool // exact names, lower case
	suffixes []string        // ".example.com" for "*.example.com"
	addrs    map[netip.Addr]bool
	allAddrs bool // listening on 0.0.0.0 or ::
}

// ErrHostNotAllowed is returned by [Hosts.Check] for a Host the API does
// not answer; ErrNoHost for a request without one.
var (
	ErrHostNotAllowed = errors.New("host not allowed")
	ErrNoHost         = errors.New("no Host header")
)

// NewHosts builds the rule from the allowed entries (host names, "*.name"
// for every subdomain of name, IP addresses, or "*") and the listen
// address ("host:port"). Errors name the bad entry.
func NewHosts(allowed []string, listen string) (*Hosts, error) {
	h := &Hosts{names: map[string]bool{"localhost": true}, addrs: map[netip.Addr]bool{}}
	for _, e := range allowed {
		if err := h.add(e); err != nil {
			return nil, fmt.Errorf("allowed host %q: %w", e, err)
		}
	}
	if listen != "" {
		host, _, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("listen %q: %w", listen, err)
		}
		switch a, err := netip.ParseAddr(host); {
		case host == "" || (err == nil && a.IsUnspecified()):
			h.allAddrs = true
		case err == nil:
			h.addrs[a.Unmap().WithZone("")] = true
		default:
			h.names[normalHost(host)] = true
		}
	}
	return h, nil
}

func (h *Hosts) add(e string) error {
	e = strings.TrimSpace(e)
	switch {
	case e == "*":
		h.any = true
		return nil
	case e == "":
		return errors.New("empty")
	}
	if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
		if a.Zone() != "" {
			return errors.New("zones are not allowed")
		}
		h.addrs[a.Unmap()] = true
		return nil
	}
	name, wildcard := strings.CutPrefix(normalHost(e), "*.")
	if !validName(name) {
		return errors.New(`not a host name (e.g. api.example.com or *.example.com), an IP address or "*"; no scheme, port or path`)
	}
	if wildcard {
		h.suffixes = append(h.suffixes, "."+name)
	} else {
		h.names[name] = true
	}
	return nil
}

// Check reports whether the API answers a request whose Host header (as
// in http.Request.Host, with or without a port) is host: nil, ErrNoHost
// or ErrHostNotAllowed.
func (h *Hosts) Check(host string) error {
	if host == "" {
		return ErrNoHost
	}
	if h.any {
		return nil
	}
	name := host
	if hp, _, err := net.SplitHostPort(host); err == nil {
		name = hp
	}
	if a, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		a = a.Unmap().WithZone("")
		if a.IsLoopback() || h.allAddrs || h.addrs[a] {
			return nil
		}
		return ErrHostNotAllowed
	}
	name = normalHost(name)
	if h.names[name] {
		return nil
	}
	for _, s := range h.suffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return nil
		}
	}
	return ErrHostNotAllowed
}

// normalHost lower-cases a name and drops the root's trailing dot.
func normalHost(s string) string {
	return strings.TrimSuffix(strings.ToLower(s), ".")
}

// validName accepts DNS names: labels of letters, digits, '-' and '_'.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
