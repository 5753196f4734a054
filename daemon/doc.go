// Package daemon wires warmbox together and runs it: configuration
// (embedded defaults, then an optional YAML file, then environment
// variables), the engine adapter, the pools behind the dispatcher, the
// HTTP API and telemetry; startup reaping, signals and the drain on
// shutdown.
//
// It only wires and sequences: pool logic, hand-off, HTTP handling and
// metrics live in their own packages. Nothing imports daemon.
package daemon
