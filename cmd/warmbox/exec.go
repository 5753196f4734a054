package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// execResponse is the part of POST /execute's answer the client prints.
type execResponse struct {
	Status   string `json:"status"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode *int   `json:"exit_code"`
	Signal   string `json:"signal"`
	TimedOut bool   `json:"timed_out"`
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// execCmd runs a program on a daemon and exits with its exit code: 124
// when it timed out, 128+n when signal n ended it, 125 when the daemon
// refused or failed the request.
func execCmd(args []string) int {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	lang := fs.String("l", "", "language (python, node, bash, ...)")
	url := fs.String("url", envOr("WARMBOX_URL", "http://127.0.0.1:8000"), "daemon URL")
	timeout := fs.Int("timeout", 0, "timeout in seconds (0 = the language's default)")
	stdinPath := fs.String("stdin", "", "file fed to the program's stdin")
	key := fs.String("key", os.Getenv("WARMBOX_API_KEY"), "API key, if the daemon requires one")
	var files multiFlag
	fs.Var(&files, "f", "extra file for the program (repeatable), sent under its base name")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: warmbox exec -l LANG [flags] [script|-] [args...]\n\nRuns a program on a warmbox daemon; with no script (or -), the code is read from stdin.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *lang == "" {
		fmt.Fprintln(os.Stderr, "warmbox exec: -l LANG is required")
		return 2
	}
	rest := fs.Args()
	var code []byte
	var err error
	if len(rest) == 0 || rest[0] == "-" {
		code, err = io.ReadAll(os.Stdin)
	} else {
		code, err = os.ReadFile(rest[0])
	}
	if len(rest) > 0 {
		rest = rest[1:]
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "warmbox exec:", err)
		return 2
	}
	body := map[string]any{"code": string(code), "environment": *lang, "args": rest}
	if *timeout > 0 {
		body["timeout"] = *timeout
	}
	if *stdinPath != "" {
		in, err := os.ReadFile(*stdinPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "warmbox exec:", err)
			return 2
		}
		body["stdin"] = string(in)
	}
	if len(files) > 0 {
		m := map[string]string{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "warmbox exec:", err)
				return 2
			}
			m[baseName(f)] = string(b)
		}
		body["files"] = m
	}
	return post(*url, *key, body)
}

func post(url, key string, body map[string]any) int {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(url, "/")+"/execute", bytes.NewReader(raw))
	if err != nil {
		fmt.Fprintln(os.Stderr, "warmbox exec:", err)
		return 125
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	client := &http.Client{Timeout: 90 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warmbox exec: no daemon answers at %s: %v\n", url, err)
		return 125
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			fmt.Fprintf(os.Stderr, "warmbox exec: %s (%s, HTTP %d)\n", e.Error.Message, e.Error.Code, resp.StatusCode)
		} else {
			fmt.Fprintf(os.Stderr, "warmbox exec: HTTP %d: %s\n", resp.StatusCode, data)
		}
		return 125
	}
	var r execResponse
	if err := json.Unmarshal(data, &r); err != nil {
		fmt.Fprintln(os.Stderr, "warmbox exec: bad response:", err)
		return 125
	}
	os.Stdout.WriteString(r.Stdout)
	os.Stderr.WriteString(r.Stderr)
	switch {
	case r.TimedOut:
		fmt.Fprintln(os.Stderr, "warmbox exec: timed out")
		return 124
	case r.ExitCode != nil:
		return *r.ExitCode
	case r.Signal != "":
		fmt.Fprintln(os.Stderr, "warmbox exec: killed by", r.Signal)
		return 128 + signalNumber(r.Signal)
	}
	return 1
}

var signalNumbers = map[string]int{"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
	"SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14,
	"SIGTERM": 15, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGSYS": 31}

func signalNumber(name string) int { return signalNumbers[name] }

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
