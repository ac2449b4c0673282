//go:build !wasip1

package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/numax/numax/internal/testutil"
)

// raw sends a request to node i and returns the status and body.
func raw(t *testing.T, c *cluster, i int, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+c.nodes[i].http+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Every failure a user can cause gets a clear message and a 4xx/5xx, and
// the board stays as it was.
func TestFailures(t *testing.T) {
	nx, board := testutil.NX(t), testutil.GoGuest(t, "examples/board")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := startCluster(ctx, nx, board, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	var task Task
	if err := c.call(0, "POST", "/api/tasks", map[string]string{"title": "keep me"}, &task); err != nil {
		t.Fatal(err)
	}
	huge := `{"title": "` + strings.Repeat("x", 10<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"empty title", "POST", "/api/tasks", `{"title": "   "}`, 400, "a title of 1 to 500 bytes"},
		{"10 MB title", "POST", "/api/tasks", huge, 413, "1048576"},
		{"title over 500 bytes", "POST", "/api/tasks", `{"title": "` + strings.Repeat("y", 501) + `"}`, 400, "a title of 1 to 500 bytes"},
		{"not JSON", "POST", "/api/tasks", `title=x`, 400, `want {"title": "..."}`},
		{"edit of an unknown task", "PATCH", "/api/tasks/0123456789abcdef", `{"done": true}`, 404, `no task "0123456789abcdef"`},
		{"delete of an unknown task", "DELETE", "/api/tasks/nonsense", ``, 404, `no task "nonsense"`},
		{"position not a number", "PATCH", "/api/tasks/" + task.ID, `{"pos": "first"}`, 400, `want {"title"?, "done"?, "pos"?}`},
		{"empty new title", "PATCH", "/api/tasks/" + task.ID, `{"title": ""}`, 400, "a title is 1 to 500 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := raw(t, c, 0, tt.method, tt.path, tt.body)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("%s %s: %d %q, want %d with %q", tt.method, tt.path, code, body, tt.code, tt.want)
			}
		})
	}
	ts, err := c.tasks(0)
	if err != nil || len(ts) != 1 || ts[0].Title != "keep me" || ts[0].Done {
		t.Fatalf("the board after the failures: %+v %v", ts, err)
	}

	// In the page: an empty title says so, and nothing is added.
	b := browser(t)
	p := tab(t, b, "http://"+c.nodes[0].http+"/", "#add")
	do(t, p, chromedp.SetValue(chromedp.CSS("#title"), "   "), chromedp.Click(chromedp.CSS("#add button")))
	if got := bannerText(t, p); got != "A task needs a title." {
		t.Fatalf("the page's message for an empty title: %q", got)
	}

	// While a node shuts down, a request gets a 5xx or a refused
	// connection, never a broken answer.
	_ = c.nodes[1].cmd.Process.Signal(syscall.SIGTERM)
	seen := map[int]int{}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		code, body := raw(t, c, 1, "POST", "/api/tasks", `{"title": "late"}`)
		seen[code]++
		if code == -1 {
			break // gone: the connection is refused
		}
		if code != 201 && (code < 500 || strings.TrimSpace(body) == "") {
			t.Fatalf("a request during shutdown: %d %q", code, body)
		}
	}
	if seen[-1] == 0 {
		t.Fatalf("node 2 still answered 20 s after SIGTERM: %v", seen)
	}
	t.Logf("answers while node 2 shut down (-1: refused): %v", seen)
}
