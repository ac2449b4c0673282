package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// Serving (docs/serving.md) through the real nx: testdata/guests/service.c
// is a service module with a route per behaviour.

type svc struct {
	t    *testing.T
	p    *testutil.Proc
	base string
	dir  string
}

// startService starts nx serving the service fixture on a free HTTP port and
// waits until /_nx/health answers.
func startService(t *testing.T, env []string, extra ...string) *svc {
	t.Helper()
	addr := testutil.FreePort(t)
	dir := t.TempDir()
	args := append([]string{"run", guest(t, "service"), "--datastore-path", dir, "--http", addr}, extra...)
	s := &svc{t: t, p: testutil.StartNX(t, env, args...), base: "http://" + addr, dir: dir}
	testutil.Eventually(t, time.Minute, "the service to answer /_nx/health", func() bool {
		if s.exited() {
			t.Fatalf("nx exited early:\n%s", s.p.Stderr())
		}
		r, err := http.Get(s.base + "/_nx/health")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	return s
}

func (s *svc) exited() bool {
	select {
	case <-s.p.Done():
		return true
	default:
		return false
	}
}

func (s *svc) do(method, path, body string, hdr ...string) (int, string, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 30 * time.Second}
	r, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b), r.Header
}

func (s *svc) want(method, path, body string, code int, wantBody string) {
	s.t.Helper()
	c, b, _ := s.do(method, path, body)
	if c != code || (wantBody != "" && b != wantBody) {
		s.t.Fatalf("%s %s = %d %q, want %d %q\nstderr: %s", method, path, c, b, code, wantBody, tail(s.p.Stderr()))
	}
}

func (s *svc) db(key string) string {
	s.t.Helper()
	_, b, _ := s.do("GET", "/db?"+key, "")
	return b
}

func (s *svc) stop() {
	s.t.Helper()
	_ = s.p.Cmd.Process.Signal(syscall.SIGTERM)
	if code := s.p.Wait(s.t, time.Minute); code != 0 {
		s.t.Fatalf("nx exited %d after SIGTERM\nstderr: %s", code, tail(s.p.Stderr()))
	}
}

func TestServe_RequestsAndLifecycle(t *testing.T) {
	obs := testutil.FreePort(t)
	s := startService(t, nil, "--log-level", "debug", "--observability-listen", obs)
	s.want("GET", "/hello", "", 200, "hello from the guest")
	c, body, h := s.do("POST", "/echo", "payload bytes")
	if c != 200 || body != "payload bytes" || h.Get("X-Method") != "POST" || h.Get("X-Len") != "13" {
		t.Fatalf("echo: %d %q %v", c, body, h)
	}
	s.want("GET", "/nope", "", 404, "no such route")
	// init ran once, before the listener accepted, whatever the pool size.
	s.want("GET", "/db?init", "", 200, "1")
	// The serving functions outside their handlers are -3.
	s.want("GET", "/outside", "", 200, "changes=-3 peer_event=-3")
	// http_respond twice: the first answer stands, the second is -3.
	s.want("GET", "/twice", "", 200, "first")
	if got := s.db("twice"); got != "-3" {
		t.Fatalf("second http_respond = %s, want -3", got)
	}
	// A header list over the host's limit is -3, never a crash.
	s.want("GET", "/bigheaders", "", 200, "-3")
	// /_nx/ never reaches the guest.
	before := s.db("requests")
	s.want("GET", "/_nx/nothing", "", 404, "")
	if after := s.db("requests"); atoi(t, after) != atoi(t, before)+1 { // +1: the /db call itself
		t.Fatalf("requests %s -> %s: /_nx/ reached the guest", before, after)
	}
	// The serving metrics, as a Prometheus scrape sees them.
	mr, err := http.Get("http://" + obs + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	for _, want := range []string{`numax_http_requests_total{code="200"}`, `numax_http_requests_total{code="404"}`,
		"numax_http_request_duration_seconds_count", `numax_handler_calls_total{handler="on_request",result="ok"}`,
		`numax_handler_calls_total{handler="init",result="ok"} 1`, `numax_instances{state="idle"}`,
		"numax_request_queue_depth 0", "numax_sse_clients 0", "numax_events_published_total"} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	s.stop()
	r := testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", s.dir, "get", "shutdown")
	if strings.TrimSpace(r.Stdout) != `"1"` {
		t.Fatalf("shutdown export not called: inspect says %q %s", r.Stdout, r.Stderr)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// A handler that loops, traps, grows memory or returns without answering
// gets its status with a request id that is in the log; its instance is
// replaced and the node keeps serving.
func TestServe_FailingHandlers(t *testing.T) {
	s := startService(t, nil, "--guest-timeout", "1s", "--guest-memory", "16MiB")
	idRe := regexp.MustCompile(`request id (\S+)\)`)
	for _, tt := range []struct {
		path   string
		code   int
		logErr string
	}{
		{"/spin", 504, "invocation exceeded the time limit of 1s"},
		{"/trap", 500, "guest trapped: unreachable"},
		{"/grow", 500, "memory limit of 16 MiB reached"},
		{"/noreply", 500, "on_request returned without http_respond"},
	} {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			c, body, h := s.do("GET", tt.path, "")
			m := idRe.FindStringSubmatch(body)
			if c != tt.code || m == nil || h.Get("X-Request-Id") != m[1] {
				t.Fatalf("%s = %d %q (X-Request-Id %q), want %d with a request id", tt.path, c, body, h.Get("X-Request-Id"), tt.code)
			}
			testutil.Eventually(t, 10*time.Second, "the log line with the request id", func() bool {
				for _, l := range strings.Split(s.p.Stderr(), "\n") {
					if strings.Contains(l, "request_id="+m[1]) && strings.Contains(l, tt.logErr) {
						return true
					}
				}
				return false
			})
			s.want("GET", "/hello", "", 200, "hello from the guest")
		})
	}
}

// Hostile input at the HTTP boundary: each gets its status and the node
// keeps serving everyone else.
func TestServe_HostileInput(t *testing.T) {
	s := startService(t, nil, "--guest-timeout", "2s")
	addr := strings.TrimPrefix(s.base, "http://")
	raw := func(req string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	t.Run("oversized_headers_431", func(t *testing.T) {
		big := strings.Repeat("a", 70<<10)
		if line := raw("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n"); !strings.Contains(line, " 431 ") {
			t.Fatalf("status line %q, want 431", line)
		}
	})
	t.Run("oversized_body_413_guest_not_called", func(t *testing.T) {
		before := atoi(t, s.db("requests"))
		c, _, _ := s.do("POST", "/echo", strings.Repeat("b", 1<<20+1))
		if c != 413 {
			t.Fatalf("status %d, want 413", c)
		}
		// Chunked, without a length: cut off while reading.
		req, _ := http.NewRequest("POST", s.base+"/echo", io.MultiReader(strings.NewReader(strings.Repeat("c", 1<<20)), strings.NewReader("over")))
		req.ContentLength = -1
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 413 {
			t.Fatalf("chunked: status %d, want 413", r.StatusCode)
		}
		if after := atoi(t, s.db("requests")); after != before+1 {
			t.Fatalf("requests %d -> %d: the guest was called for an oversized body", before, after)
		}
	})
	t.Run("malformed_request_400", func(t *testing.T) {
		if line := raw("BLAH\x00 nonsense\r\n\r\n"); !strings.Contains(line, " 400 ") {
			t.Fatalf("status line %q, want 400", line)
		}
	})
	t.Run("slow_client_disconnected", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n") // and never the end of the headers
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = io.ReadAll(c)
		if el := time.Since(start); err != nil || el > 15*time.Second {
			t.Fatalf("connection not closed by the header timeout: %v after %s", err, el)
		}
	})
	t.Run("many_connections", func(t *testing.T) {
		// 2000 connections held open while the node keeps answering.
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 2000 {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("after %d connections: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		s.want("GET", "/hello", "", 200, "hello from the guest")
		// And 2000 concurrent requests: each answered 200 or, past the
		// queue, 503; nothing else.
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 2000}}
		for range 2000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := client.Get(s.base + "/hello")
				code := -1
				if err == nil {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
					code = r.StatusCode
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[200]+codes[503] != 2000 || codes[200] == 0 {
			t.Fatalf("codes %v: want only 200 and 503", codes)
		}
		t.Logf("2000 concurrent requests: %v", codes)
	})
	s.want("GET", "/hello", "", 200, "hello from the guest")
}

// Past the pool and its queue, 503 at once: with one instance and a queue
// of one, of three requests that each hold an instance until the time
// limit, one runs, one waits, and one is turned away.
func TestServe_QueueFull503(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "node.toml")
	os.WriteFile(cfg, []byte("[serve]\ninstances = 1\nqueue = 1\n"), 0o644)
	s := startService(t, nil, "--config", cfg, "--guest-timeout", "2s")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var retryAfter string
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, h := s.do("GET", "/spin", "")
			mu.Lock()
			codes[c]++
			if c == 503 {
				retryAfter = h.Get("Retry-After")
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[503] != 1 || codes[504] != 2 || retryAfter == "" {
		t.Fatalf("codes %v (Retry-After %q), want one 503 with Retry-After and two 504", codes, retryAfter)
	}
	s.want("GET", "/hello", "", 200, "hello from the guest")
}

func TestServe_Fetch(t *testing.T) {
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "from upstream") }))
	defer allowed.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("a host not in fetch_allow was fetched") }))
	defer other.Close()
	host := strings.TrimPrefix(allowed.URL, "http://")
	s := startService(t, []string{"NX_FETCH_URL=" + allowed.URL + "/x", "NX_SERVE_FETCH_ALLOW=" + host})
	s.want("GET", "/fetch", "", 200, "status=200 body=from upstream")
	s.stop()

	s = startService(t, []string{"NX_FETCH_URL=" + other.URL + "/x", "NX_SERVE_FETCH_ALLOW=" + host})
	s.want("GET", "/fetch", "", 502, "fetch=-3")
	otherHost := strings.TrimPrefix(other.URL, "http://")
	testutil.Eventually(t, 10*time.Second, "the refusal logged with the host", func() bool {
		return strings.Contains(s.p.Stderr(), "host not in [serve] fetch_allow: "+otherHost)
	})
}

// Events: on_change sees writes made through another node, and publishes;
// the SSE stream of node B carries it; on_peer records the link; on_tick runs.
func TestServe_ChangesEventsPeersTicks(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "node.toml")
	os.WriteFile(cfg, []byte("[serve]\ntick_interval = \"50ms\"\nevent_ring = 4\n"), 0o644)
	la, lb := testutil.FreePort(t), testutil.FreePort(t)
	a := startService(t, nil, "--listen", la, "--tls-insecure", "--peer", lb, "--config", cfg)
	b := startService(t, nil, "--listen", lb, "--tls-insecure", "--peer", la, "--config", cfg)

	testutil.Eventually(t, 30*time.Second, "on_peer on b to see a", func() bool { return strings.HasPrefix(b.db("peer"), "up ") })
	testutil.Eventually(t, 10*time.Second, "on_tick to run", func() bool { return atoi(t, a.db("ticks")) >= 3 })

	// A stream on b, then writes on a.
	resp, err := http.Get(b.base + "/_nx/events?prefix=hits.")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	a.do("POST", "/emit", "ignored") // filtered out by the prefix
	for i := 1; i <= 3; i++ {
		a.want("POST", "/hit", "", 200, fmt.Sprint(i))
	}
	deadline := time.After(20 * time.Second)
	var lastID string
	for seen := false; !seen; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			if strings.HasPrefix(l, "id: ") {
				lastID = strings.TrimPrefix(l, "id: ")
			}
			if strings.HasPrefix(l, "event: ") && l != "event: hits.total" {
				t.Fatalf("unfiltered event %q", l)
			}
			seen = l == "data: 3"
		case <-deadline:
			t.Fatal("no hits.total event with the total 3 on node b")
		}
	}
	// Resume after the last id: nothing missed, nothing repeated; from an
	// id the ring no longer holds: nx.reset.
	for i := range 6 {
		b.do("POST", "/emit", fmt.Sprint("r", i))
	}
	req, _ := http.NewRequest("GET", b.base+"/_nx/events", nil)
	req.Header.Set("Last-Event-ID", "1")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	sc := bufio.NewScanner(r2.Body)
	for sc.Scan() {
		if sc.Text() == "event: nx.reset" {
			break
		}
		if strings.HasPrefix(sc.Text(), "data: ") {
			t.Fatalf("got %q before nx.reset (last id %s)", sc.Text(), lastID)
		}
	}
	if atoi(t, b.db("changes")) == 0 {
		t.Fatal("on_change never ran on b")
	}
}

// --http on a job module is a usage error naming the missing export.
func TestServe_HTTPOnJobModule(t *testing.T) {
	r := testutil.RunNX(t, time.Minute, nil, "run", guest(t, "probe"), "--datastore-path", t.TempDir(), "--http", testutil.FreePort(t))
	if r.Code != 2 || !strings.Contains(r.Stderr, "does not export on_request") {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
}
