package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/warmbox/warmbox/runner/wire"
)

// eventStreamType is the media type of Server-Sent Events.
const eventStreamType = "text/event-stream"

// The names of the events a streamed execution writes, in the order they
// come: any number of stdout and stderr, then one result or one error.
const (
	eventStdout = "stdout"
	eventStderr = "stderr"
	eventResult = "result"
	eventError  = "error"
)

// outputEvent is the data of a stdout or stderr event.
type outputEvent struct {
	Text string `json:"text"`
}

// acceptsEventStream reports whether an Accept header asks for
// Server-Sent Events rather than JSON: it names text/event-stream itself
// (a wildcard says that anything will do, and JSON is the default), with
// a quality above zero and no lower than the one JSON gets from its most
// specific range (RFC 9110, 12.5.1).
func acceptsEventStream(h http.Header) bool {
	sse, jsonQ, jsonSpecific := -1.0, 0.0, -1
	for _, v := range h.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mediaRange, q, ok := parseMediaRange(part)
			if !ok {
				continue
			}
			if mediaRange == eventStreamType {
				sse = q
			}
			if specific := jsonSpecificity(mediaRange); specific > jsonSpecific {
				jsonQ, jsonSpecific = q, specific
			}
		}
	}
	return sse > 0 && sse >= jsonQ
}

// parseMediaRange splits one element of an Accept header into its media
// range (lower case, without parameters) and its quality (1 unless a q
// parameter says otherwise). ok is false for an empty or malformed
// element.
func parseMediaRange(s string) (mediaRange string, q float64, ok bool) {
	params := strings.Split(s, ";")
	mediaRange = strings.ToLower(strings.TrimSpace(params[0]))
	if typ, sub, found := strings.Cut(mediaRange, "/"); !found || typ == "" || sub == "" {
		return "", 0, false
	}
	q = 1
	for _, p := range params[1:] {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return "", 0, false
		}
		q = f
		break // what follows q is accept-ext, not media type parameters
	}
	return mediaRange, q, true
}

// jsonSpecificity is how specifically mediaRange matches
// application/json: 2 by name, 1 as application/*, 0 as */*, -1 not.
func jsonSpecificity(mediaRange string) int {
	switch mediaRange {
	case "application/json":
		return 2
	case "application/*":
		return 1
	case "*/*":
		return 0
	}
	return -1
}

// eventStream answers an execution with Server-Sent Events: the
// program's output as stdout and stderr events while it runs, then one
// result event whose data is the answer a JSON client gets, or one error
// event whose data is the error body a JSON client would get.
//
// Output reaches it through output, which never waits for the client: a
// goroutine of its own writes the events, so a client that reads slowly
// holds no sandbox (what waits for it is bounded by the job's output
// caps). The response starts (200, text/event-stream) with the first
// event that has text; until then nothing is written, so an execution
// that fails before any output still gets its normal JSON error, status
// and headers.
//
// A stream's text is cut only after a whole character, so a multi-byte
// character split across output chunks is written whole, and invalid
// UTF-8 becomes U+FFFD exactly as in the result: the texts of a stream's
// events, joined, are the result's stdout or stderr whenever the runner
// answered (result writes what the chunks did not carry).
type eventStream struct {
	w http.ResponseWriter

	mu      sync.Mutex
	pending [2][]byte // output received and not yet picked up, stdout and stderr

	wake     chan struct{} // output is pending (capacity 1)
	stop     chan struct{} // closed by close
	done     chan struct{} // closed when the writer goroutine returned
	stopOnce sync.Once

	// The writer goroutine's, until done is closed; then the handler's.
	started bool               // the response started
	broken  bool               // a write failed: the client is gone
	held    [2][]byte          // received bytes after the last whole character written
	sent    [2]strings.Builder // the text written of each stream
}

// streamEvents is the event name of each output stream, by index.
var streamEvents = [2]string{eventStdout, eventStderr}

// startEventStream starts the goroutine that writes the output events
// to w. The caller must call close before it writes anything itself.
func startEventStream(w http.ResponseWriter) *eventStream {
	es := &eventStream{w: w, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go es.run()
	return es
}

// output is the job's wire.OutputFunc: it queues the chunk for the
// writer and returns at once.
func (es *eventStream) output(stream string, data []byte) {
	i := 0
	if stream == wire.StreamStderr {
		i = 1
	}
	es.mu.Lock()
	es.pending[i] = append(es.pending[i], data...)
	es.mu.Unlock()
	select {
	case es.wake <- struct{}{}:
	default: // the writer is woken already
	}
}

func (es *eventStream) run() {
	defer close(es.done)
	for {
		select {
		case <-es.wake:
			es.writeOutput()
		case <-es.stop:
			es.writeOutput()
			return
		}
	}
}

// close writes what output is pending and stops the writer. Afterwards
// the stream belongs to the caller: started says whether the response
// started. It may be called more than once.
func (es *eventStream) close() {
	es.stopOnce.Do(func() { close(es.stop) })
	<-es.done
}

// writeOutput writes the pending output of each stream up to its last
// whole character, and keeps the rest for later.
func (es *eventStream) writeOutput() {
	es.mu.Lock()
	pending := es.pending
	es.pending = [2][]byte{}
	es.mu.Unlock()
	for i, data := range pending {
		if len(data) == 0 {
			continue
		}
		held := append(es.held[i], data...)
		cut := wholeCharacters(held)
		es.held[i] = held[cut:]
		es.writeText(i, strings.ToValidUTF8(string(held[:cut]), "\uFFFD"))
	}
}

// wholeCharacters returns the length of b's longest prefix that ends
// with a valid character (or 0). Cutting there never changes how
// strings.ToValidUTF8 reads the whole: what follows may be an
// incomplete character that later bytes complete, or invalid bytes that
// later ones join into one run (one U+FFFD).
func wholeCharacters(b []byte) int {
	cut := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		i += size
		if r != utf8.RuneError || size > 1 {
			cut = i
		}
	}
	return cut
}

// writeText writes text as an event of stream i.
func (es *eventStream) writeText(i int, text string) {
	if text == "" {
		return
	}
	data, _ := json.Marshal(outputEvent{Text: text}) // a string always marshals
	es.writeEvent(streamEvents[i], data)
	es.sent[i].WriteString(text)
}

// result ends the stream with the answer to a program that ran: the
// text the output events did not carry yet (the last bytes, or all of
// it when they were not read in time), then the result event. Call it
// after close. body is the answer the route gives without streaming
// (resp itself for /execute).
func (es *eventStream) result(resp executeResponse, body any) {
	for i, text := range [2]string{resp.Stdout, resp.Stderr} {
		// When the daemon had to destroy the sandbox, the result holds
		// no output and the events stand as they were.
		if rest, ok := strings.CutPrefix(text, es.sent[i].String()); ok {
			es.writeText(i, rest)
		}
	}
	es.writeEvent(eventResult, marshalBody(body))
}

// fail ends a started stream with an error event. Call it after close.
func (es *eventStream) fail(e *apiError) {
	es.writeEvent(eventError, marshalBody(errorBodyOf(e)))
}

// writeEvent writes one event and flushes it to the client, starting the
// response first if need be. data is one line of JSON.
func (es *eventStream) writeEvent(name string, data []byte) {
	if es.broken {
		return
	}
	if !es.started {
		h := es.w.Header()
		h.Set("Content-Type", eventStreamType)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
		es.w.WriteHeader(http.StatusOK)
		es.started = true
	}
	event := make([]byte, 0, len(name)+len(data)+16)
	event = append(append(append(event, "event: "...), name...), '\n')
	event = append(append(append(event, "data: "...), data...), "\n\n"...)
	if _, err := es.w.Write(event); err != nil {
		es.broken = true
		return
	}
	// Every writer of the middleware chain unwraps to the connection.
	_ = http.NewResponseController(es.w).Flush()
}
