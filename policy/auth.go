package policy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Auth holds the API keys a client must present. With no keys,
// authentication is off; there are no default keys.
//
// A key is read only from "Authorization: Bearer <key>" or, when that
// header carries no bearer token, from "X-API-Key". A key in the query
// string is refused outright (it would end up in access logs and browser
// history), even when it is right.
type Auth struct {
	Keys []string `yaml:"keys"`
}

// Errors returned by [Auth.Check].
var (
	// ErrMissingKey: no key in either header.
	ErrMissingKey = errors.New("missing API key")
	// ErrInvalidKey: a key was given and is not one of ours. Unknown and
	// wrong keys are indistinguishable, in the error and in timing.
	ErrInvalidKey = errors.New("invalid API key")
	// ErrKeyInQuery: the request carries a key-like query parameter.
	ErrKeyInQuery = errors.New("API keys are not accepted in the query string; use the Authorization or X-API-Key header")
)

// minKeyLen is the shortest key Validate accepts.
const minKeyLen = 16

// queryKeyNames are query parameters (compared case-insensitively) that
// look like a credential.
var queryKeyNames = []string{"api_key", "apikey", "api-key", "x-api-key", "key", "token", "access_token", "auth", "authorization"}

// Enabled reports whether keys are required.
func (a Auth) Enabled() bool { return len(a.Keys) > 0 }

// Validate checks each key: at least 16 printable ASCII characters, no
// spaces, no duplicates. Errors name the key's index, never the key.
func (a Auth) Validate() error {
	seen := make(map[string]int, len(a.Keys))
	for i, k := range a.Keys {
		if len(k) < minKeyLen {
			return fmt.Errorf("keys[%d]: must be at least %d characters", i, minKeyLen)
		}
		for j := 0; j < len(k); j++ {
			if k[j] <= ' ' || k[j] > '~' {
				return fmt.Errorf("keys[%d]: must be printable ASCII without spaces", i)
			}
		}
		if first, dup := seen[k]; dup {
			return fmt.Errorf("keys[%d]: duplicates keys[%d]", i, first)
		}
		seen[k] = i
	}
	return nil
}

// Check authenticates a request from its Authorization and X-API-Key
// header values and its query. It returns nil when auth is off or the key
// is valid, ErrKeyInQuery, ErrMissingKey or ErrInvalidKey otherwise.
func (a Auth) Check(authorization, apiKey string, query url.Values) error {
	if !a.Enabled() {
		return nil
	}
	if KeyInQuery(query) {
		return ErrKeyInQuery
	}
	key := bearer(authorization)
	if key == "" {
		key = strings.TrimSpace(apiKey)
	}
	if key == "" {
		return ErrMissingKey
	}
	if !a.Verify(key) {
		return ErrInvalidKey
	}
	return nil
}

// Owner names the holder of the key a request carries, for what belongs
// to a caller (its sessions): a digest of the key, never the key. ""
// when auth is off or no key is given. Call it after Check passed.
func (a Auth) Owner(authorization, apiKey string) string {
	if !a.Enabled() {
		return ""
	}
	key := bearer(authorization)
	if key == "" {
		key = strings.TrimSpace(apiKey)
	}
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return "key:" + hex.EncodeToString(sum[:8])
}

// Verify reports whether key is one of the keys. It compares SHA-256
// digests in constant time against every key, without stopping at a
// match, so its duration depends on neither the key's length nor which
// key (if any) it matches.
func (a Auth) Verify(key string) bool {
	got := sha256.Sum256([]byte(key))
	match := 0
	for _, k := range a.Keys {
		want := sha256.Sum256([]byte(k))
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return match == 1
}

// KeyInQuery reports whether q has a parameter that looks like a key.
func KeyInQuery(q url.Values) bool {
	for name := range q {
		for _, k := range queryKeyNames {
			if strings.EqualFold(name, k) {
				return true
			}
		}
	}
	return false
}

// bearer returns the token of "Bearer <token>" (scheme matched
// case-insensitively), or "".
func bearer(h string) string {
	const scheme = "bearer "
	h = strings.TrimSpace(h)
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(h[len(scheme):])
}
