package policy

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestAuthValidate(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		wantErr bool
	}{
		{"off", nil, false},
		{"good", []string{"0123456789abcdef", "another-key-0123456789"}, false},
		{"short", []string{"short"}, true},
		{"space", []string{"0123456789 abcdef"}, true},
		{"control", []string{"0123456789abcdef\n"}, true},
		{"non-ascii", []string{"0123456789abcdefé"}, true},
		{"duplicate", []string{"0123456789abcdef", "0123456789abcdef"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Auth{Keys: tt.keys}.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate = %v, want error %v", err, tt.wantErr)
			}
		})
	}
	t.Run("error never contains the key", func(t *testing.T) {
		err := Auth{Keys: []string{"0123456789abcdef", "0123456789abcdef"}}.Validate()
		if err == nil || strings.Contains(err.Error(), "0123456789abcdef") {
			t.Fatalf("Validate = %v, want an error without the key", err)
		}
	})
}

func TestAuthCheck(t *testing.T) {
	const k1, k2 = "key-one-0123456789", "key-two-0123456789"
	on := Auth{Keys: []string{k1, k2}}
	tests := []struct {
		name          string
		auth          Auth
		authorization string
		apiKey        string
		query         string
		want          error
	}{
		{"off needs nothing", Auth{}, "", "", "", nil},
		{"off ignores query", Auth{}, "", "", "api_key=x", nil},
		{"bearer first key", on, "Bearer " + k1, "", "", nil},
		{"bearer second key", on, "Bearer " + k2, "", "", nil},
		{"bearer scheme case-insensitive", on, "bEaReR  " + k1 + " ", "", "", nil},
		{"x-api-key", on, "", k2, "", nil},
		{"basic scheme falls back to x-api-key", on, "Basic Zm9vOmJhcg==", k1, "", nil},
		{"missing", on, "", "", "", ErrMissingKey},
		{"bearer without token", on, "Bearer ", "", "", ErrMissingKey},
		{"wrong key", on, "Bearer " + k1 + "x", "", "", ErrInvalidKey},
		{"unknown short key", on, "", "nope", "", ErrInvalidKey},
		{"prefix of a key", on, "", k1[:10], "", ErrInvalidKey},
		{"key in query refused", on, "", "", "api_key=" + k1, ErrKeyInQuery},
		{"key in query refused even with header", on, "Bearer " + k1, "", "token=" + k1, ErrKeyInQuery},
		{"query name case-insensitive", on, "Bearer " + k1, "", "API_KEY=x", ErrKeyInQuery},
		{"other query params fine", on, "Bearer " + k1, "", "pretty=1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.auth.Check(tt.authorization, tt.apiKey, q)
			if !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
				t.Fatalf("Check = %v, want %v", got, tt.want)
			}
		})
	}
}
