// Package policy owns the sandbox limits and the rules that guard the
// service: default and per-language limits (and how a request may only
// lower them), per-client rate limiting with trusted-proxy client
// addresses, API-key authentication, and the Host names the API answers
// (against DNS rebinding).
//
// It holds no Docker or HTTP types: the engine turns Limits into
// container settings, httpapi applies the rules to requests. It imports
// nothing of warmbox.
package policy
