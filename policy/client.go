package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// ClientResolver finds the address a request came from, for rate
// limiting and logs. X-Forwarded-For is believed only as far as trusted
// proxies wrote it: when the direct peer is a trusted proxy, the chain is
// walked right to left past trusted hops, and the first untrusted hop is
// the client. Anything left of it was written by the client itself and is
// ignored, so an untrusted peer that sends its own X-Forwarded-For is
// still known by its own address.
//
// Other headers (X-Real-IP, Forwarded, True-Client-IP) are never read.
type ClientResolver struct {
	trusted []netip.Prefix
}

// maxHops bounds how far back an X-Forwarded-For chain is walked.
const maxHops = 32

// NewClientResolver parses the trusted proxy ranges: CIDRs such as
// "10.0.0.0/8" or "fd00::/8", or single addresses. An empty list trusts
// no proxy. Errors name the bad entry.
func NewClientResolver(trusted []string) (*ClientResolver, error) {
	r := &ClientResolver{}
	for _, s := range trusted {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			if err == nil && a.Zone() != "" {
				err = fmt.Errorf("zones are not allowed")
			}
			if err == nil {
				a = a.Unmap()
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not a CIDR (e.g. 10.0.0.0/8) or address: %w", s, err)
		}
		p = p.Masked()
		if p.Addr().Is4In6() {
			// ::ffff:10.0.0.0/104 means 10.0.0.0/8; addresses are unmapped
			// before matching.
			if p.Bits() < 96 {
				return nil, fmt.Errorf("trusted proxy %q: IPv4-mapped prefix shorter than /96", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

// ClientIP returns the client's address for a request whose direct peer
// is remoteAddr ("ip:port", as in http.Request.RemoteAddr) and whose
// X-Forwarded-For header values are xff. The result is a canonical
// address ("::ffff:" prefixes removed, zones dropped), or remoteAddr
// itself when that is not an IP address (a Unix socket).
func (r *ClientResolver) ClientIP(remoteAddr string, xff []string) string {
	peer, ok := parseHop(remoteAddr)
	if !ok {
		return remoteAddr
	}
	if !r.isTrusted(peer) || len(xff) == 0 {
		return peer.String()
	}
	hops := strings.Split(strings.Join(xff, ","), ",")
	client := peer
	for i, n := len(hops)-1, 0; i >= 0 && n < maxHops; i, n = i-1, n+1 {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, ok := parseHop(h)
		if !ok {
			// A trusted proxy would not have written this: stop at the
			// last hop that can be believed.
			return client.String()
		}
		client = a
		if !r.isTrusted(a) {
			return a.String()
		}
	}
	return client.String()
}

// FromTrustedProxy reports whether a request's direct peer (remoteAddr,
// as in http.Request.RemoteAddr) is one of the trusted proxies.
func (r *ClientResolver) FromTrustedProxy(remoteAddr string) bool {
	peer, ok := parseHop(remoteAddr)
	return ok && r.isTrusted(peer)
}

// IsLoopback reports whether ip, a client address as ClientIP returns
// it, is a loopback address (127.0.0.0/8, ::1).
func IsLoopback(ip string) bool {
	a, ok := parseHop(ip)
	return ok && a.IsLoopback()
}

func (r *ClientResolver) isTrusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads "ip", "ip:port" or "[ipv6]:port".
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// ClientKey turns a client address into its rate-limit key: an IPv4
// address as is, an IPv6 address as its /64 (one host usually owns a
// whole /64, so per-address keys would let it rotate freely). Anything
// else is returned unchanged.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		return ip
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
