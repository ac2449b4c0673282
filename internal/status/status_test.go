package status

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fakeSource struct{}

func (fakeSource) Node() Node {
	return Node{NodeID: "n1", Peers: []Peer{{NodeID: "n2", Addr: "127.0.0.1:1", Health: "connected", Lag: 3}}, VV: map[string]uint64{"n1": 7}}
}

func (fakeSource) Keys(t, after string, limit int) ([]string, error) {
	if t != "orset" {
		return nil, errors.New("unknown CRDT type")
	}
	all := []string{"a", "b", "c"}
	var out []string
	for _, k := range all {
		if k > after && len(out) < limit {
			out = append(out, k)
		}
	}
	return out, nil
}

func (fakeSource) Value(t, key string) (string, []string, bool, bool, error) {
	switch {
	case t == "gcounter" && key == "hits":
		return "42", nil, false, true, nil
	case t == "orset" && key == "tags":
		return "", []string{"x", "y", "z"}, true, true, nil
	}
	return "", nil, false, false, nil
}

func get(t *testing.T, h http.Handler, path, auth string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestAPI(t *testing.T) {
	var ev Events
	for i := range 60 {
		ev.Add("e", []byte(strings.Repeat("p", i*10)))
	}
	h := Handler(fakeSource{}, &ev, "")
	tests := []struct {
		path string
		code int
		want string
	}{
		{"/", 200, "<title>Numax node</title>"},
		{"/status.js", 200, "/api/v1/node"},
		{"/api/v1/node", 200, `"lag":3`},
		{"/api/v1/objects/orset?limit=2", 200, `"keys":["a","b"],"next":"b"`},
		{"/api/v1/objects/orset?after=b", 200, `"keys":["c"]`},
		{"/api/v1/objects/nope", 400, "unknown CRDT type"},
		{"/api/v1/objects/orset?limit=-1", 400, "limit must be a whole number"},
		{"/api/v1/objects/gcounter/hits", 200, `"value":"42"`},
		{"/api/v1/objects/orset/tags?offset=1&limit=1", 200, `"items":["y"],"key":"tags","offset":1,"total":3`},
		{"/api/v1/objects/orset/missing", 404, `no orset object`},
		{"/nothing-here", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := get(t, h, tt.path, "")
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("GET %s: %d %s; want %d with %q", tt.path, code, body, tt.code, tt.want)
			}
		})
	}
	// The ring keeps the last 50, newest first, payloads cut to 256 bytes.
	_, body := get(t, h, "/api/v1/node", "")
	var n Node
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		t.Fatal(err)
	}
	if len(n.Events) != eventsKept || len(n.Events[0].Payload) != payloadShown || len(n.Events[eventsKept-1].Payload) != 100 {
		t.Fatalf("%d events, newest payload %d bytes, oldest %d", len(n.Events), len(n.Events[0].Payload), len(n.Events[eventsKept-1].Payload))
	}
}

func TestToken(t *testing.T) {
	h := Handler(fakeSource{}, &Events{}, "s3cret")
	tests := []struct {
		name, path, auth string
		code             int
	}{
		{"no token", "/api/v1/node", "", 401},
		{"wrong token", "/api/v1/node", "Bearer nope", 401},
		{"bearer", "/api/v1/node", "Bearer s3cret", 200},
		{"page without", "/", "", 401},
		{"page with ?token=", "/?token=s3cret", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := get(t, h, tt.path, tt.auth); code != tt.code {
				t.Fatalf("%d %s, want %d", code, body, tt.code)
			}
		})
	}
}
