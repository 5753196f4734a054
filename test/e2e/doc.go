// Package e2e tests the real daemon end to end: the warmbox binary with
// its runner, against the real Docker engine, through the HTTP API.
package e2e
