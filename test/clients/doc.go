// Package clients tests warmbox with the clients people already have,
// unchanged and pinned in js/package-lock.json: the piston-client npm
// package against the Piston routes, the @antonz/codapi widget in
// Debian's headless Chromium against the codapi routes, the playground
// page and the original platform's example page in Chromium (driven by
// playwright-core), and /openapi.json through a real OpenAPI validator.
//
// Each js/*.test.mjs file is a node:test suite run against one real
// daemon (real engine, real images); deploy/host/clients.sh installs
// what they need. A missing part fails the tests, never skips them.
package clients
