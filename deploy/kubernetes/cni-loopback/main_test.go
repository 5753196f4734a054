package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// invoke runs the plugin with env as its environment and stdin as its input.
func invoke(env map[string]string, stdin string) (string, error) {
	var out bytes.Buffer
	err := run(func(k string) string { return env[k] }, strings.NewReader(stdin), &out)
	return out.String(), err
}

func podEnv(cmd string) map[string]string {
	return map[string]string{
		"CNI_COMMAND": cmd, "CNI_CONTAINERID": "abc", "CNI_NETNS": "/var/run/netns/cni-1", "CNI_IFNAME": "eth0",
	}
}

func TestAddReportsEth0WithLoopbackAddress(t *testing.T) {
	for _, tc := range []struct{ version, ip string }{
		{"1.0.0", `{"interface":0,"address":"127.0.0.1/8"}`},
		{"1.1.0", `{"interface":0,"address":"127.0.0.1/8"}`},
		{"0.4.0", `{"version":"4","interface":0,"address":"127.0.0.1/8"}`},
		{"0.3.1", `{"version":"4","interface":0,"address":"127.0.0.1/8"}`},
	} {
		out, err := invoke(podEnv("ADD"), `{"cniVersion":"`+tc.version+`","name":"n","type":"cni-loopback"}`)
		if err != nil {
			t.Fatalf("%s: %v (%s)", tc.version, err, out)
		}
		want := `{"cniVersion":"` + tc.version + `","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/cni-1"}],"ips":[` + tc.ip + `]}` + "\n"
		if out != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.version, out, want)
		}
	}
}

func TestErrors(t *testing.T) {
	noNetns := podEnv("ADD")
	delete(noNetns, "CNI_NETNS")
	for _, tc := range []struct {
		name  string
		env   map[string]string
		stdin string
		code  int
	}{
		{"old version", podEnv("ADD"), `{"cniVersion":"0.2.0"}`, errIncompatibleVersion},
		{"bad json", podEnv("ADD"), `{`, errDecode},
		{"no netns", noNetns, `{"cniVersion":"1.0.0"}`, errInvalidEnv},
		{"unknown command", podEnv("FROB"), `{"cniVersion":"1.0.0"}`, errInvalidEnv},
		{"chained", podEnv("ADD"), `{"cniVersion":"1.0.0","prevResult":{"cniVersion":"1.0.0"}}`, errInvalidConfig},
	} {
		out, err := invoke(tc.env, tc.stdin)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		var e cniError
		if jerr := json.Unmarshal([]byte(out), &e); jerr != nil || e.Code != tc.code || e.CNIVersion == "" {
			t.Errorf("%s: stdout %q, want an error object with code %d", tc.name, out, tc.code)
		}
	}
}

func TestDelCheckStatusSucceedQuietly(t *testing.T) {
	for _, cmd := range []string{"DEL", "CHECK", "STATUS", "GC"} {
		out, err := invoke(podEnv(cmd), `{"cniVersion":"1.1.0","name":"n","type":"cni-loopback"}`)
		if err != nil || out != "" {
			t.Errorf("%s: %v, stdout %q", cmd, err, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := invoke(map[string]string{"CNI_COMMAND": "VERSION"}, `{"cniVersion":"0.4.0"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}` + "\n"
	if out != want {
		t.Errorf("got %s want %s", out, want)
	}
}
