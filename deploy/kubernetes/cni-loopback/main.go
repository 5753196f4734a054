package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

// supported lists the CNI spec versions whose result format plugin writes.
var supported = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// address is the only address a pod has: its own loopback.
const address = "127.0.0.1/8"

// CNI error codes (SPEC.md, "Error").
const (
	errIncompatibleVersion = 1
	errInvalidEnv          = 4
	errDecode              = 6
	errInvalidConfig       = 7
)

// cniError is both a Go error and the JSON error object the spec asks for
// on stdout.
type cniError struct {
	CNIVersion string `json:"cniVersion"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
}

func (e *cniError) Error() string { return fmt.Sprintf("cni-loopback: %s (code %d)", e.Msg, e.Code) }

// netConf is the part of the network configuration the plugin reads.
type netConf struct {
	CNIVersion string          `json:"cniVersion"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	PrevResult json.RawMessage `json:"prevResult,omitempty"`
}

type iface struct {
	Name    string `json:"name"`
	Sandbox string `json:"sandbox,omitempty"`
}

type ipConfig struct {
	Version   string `json:"version,omitempty"` // 0.3.x and 0.4.0 only
	Interface int    `json:"interface"`
	Address   string `json:"address"`
}

type result struct {
	CNIVersion string     `json:"cniVersion"`
	Interfaces []iface    `json:"interfaces"`
	IPs        []ipConfig `json:"ips"`
}

func main() {
	if err := run(os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run executes the CNI command named in the environment. Output (a result,
// a version list, or an error object) goes to stdout; a non-nil error means
// the plugin must exit non-zero.
func run(getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	err := dispatch(getenv, stdin, stdout)
	if e, ok := err.(*cniError); ok {
		if e.CNIVersion == "" {
			e.CNIVersion = supported[len(supported)-1]
		}
		if werr := json.NewEncoder(stdout).Encode(e); werr != nil {
			return werr
		}
	}
	return err
}

func dispatch(getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cmd := getenv("CNI_COMMAND")
	if cmd == "VERSION" {
		return version(stdin, stdout)
	}
	switch cmd {
	case "ADD", "DEL", "CHECK", "STATUS", "GC":
	case "":
		return &cniError{Code: errInvalidEnv, Msg: "CNI_COMMAND is not set"}
	default:
		return &cniError{Code: errInvalidEnv, Msg: "unknown CNI_COMMAND " + cmd}
	}
	conf, err := readConf(stdin)
	if err != nil {
		return err
	}
	switch cmd {
	case "ADD":
		if err := need(getenv, conf, "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"); err != nil {
			return err
		}
		if len(conf.PrevResult) > 0 {
			return &cniError{CNIVersion: conf.CNIVersion, Code: errInvalidConfig,
				Msg: "cni-loopback must be the only plugin of its network", Details: "found a prevResult"}
		}
		return json.NewEncoder(stdout).Encode(add(conf.CNIVersion, getenv("CNI_IFNAME"), getenv("CNI_NETNS")))
	case "CHECK":
		// Nothing was created, so there is nothing to check but the inputs.
		return need(getenv, conf, "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME")
	case "DEL":
		// Nothing to undo; DEL must succeed even for a sandbox that is gone.
		return need(getenv, conf, "CNI_CONTAINERID", "CNI_IFNAME")
	}
	return nil // STATUS: always ready; GC: nothing to collect
}

// add is the ADD result: the interface containerd asked for, in the pod's
// namespace, holding the pod's loopback address. No interface is created.
func add(cniVersion, ifName, netns string) result {
	ip := ipConfig{Interface: 0, Address: address}
	if cniVersion < "1.0.0" { // "0.3.0", "0.3.1", "0.4.0"
		ip.Version = "4"
	}
	return result{
		CNIVersion: cniVersion,
		Interfaces: []iface{{Name: ifName, Sandbox: netns}},
		IPs:        []ipConfig{ip},
	}
}

// version answers VERSION. Its stdin holds only {"cniVersion": ...}, if
// anything.
func version(stdin io.Reader, stdout io.Writer) error {
	var req struct {
		CNIVersion string `json:"cniVersion"`
	}
	if b, err := io.ReadAll(stdin); err == nil && len(b) > 0 {
		_ = json.Unmarshal(b, &req) // the answer does not depend on it
	}
	v := req.CNIVersion
	if !slices.Contains(supported, v) {
		v = supported[len(supported)-1]
	}
	return json.NewEncoder(stdout).Encode(struct {
		CNIVersion        string   `json:"cniVersion"`
		SupportedVersions []string `json:"supportedVersions"`
	}{v, supported})
}

func readConf(stdin io.Reader) (netConf, error) {
	var conf netConf
	b, err := io.ReadAll(stdin)
	if err != nil {
		return conf, &cniError{Code: errDecode, Msg: "reading the network configuration", Details: err.Error()}
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		return conf, &cniError{Code: errDecode, Msg: "decoding the network configuration", Details: err.Error()}
	}
	if !slices.Contains(supported, conf.CNIVersion) {
		return conf, &cniError{Code: errIncompatibleVersion, Msg: "unsupported cniVersion " + conf.CNIVersion,
			Details: fmt.Sprintf("supported: %v", supported)}
	}
	return conf, nil
}

// need reports the first of the named variables that is empty.
func need(getenv func(string) string, conf netConf, names ...string) error {
	for _, n := range names {
		if getenv(n) == "" {
			return &cniError{CNIVersion: conf.CNIVersion, Code: errInvalidEnv, Msg: n + " is not set"}
		}
	}
	return nil
}
