//go:build !wasip1

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

func TestCounterService(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/counter_service")
	var links, https []string
	for range 3 {
		links, https = append(links, testutil.FreePort(t)), append(https, testutil.FreePort(t))
	}
	for i := range 3 {
		args := []string{"run", wasm, "--datastore-path", t.TempDir(), "--listen", links[i], "--tls-insecure", "--http", https[i], "--log-level", "warn"}
		for j := range i {
			args = append(args, "--peer", links[j])
		}
		testutil.StartNX(t, nil, args...)
	}
	get := func(i int, method, path string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+https[i]+path, nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1, err.Error()
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	for i := range 3 {
		testutil.Eventually(t, time.Minute, fmt.Sprintf("node %d to serve", i+1), func() bool { c, _ := get(i, "GET", "/_nx/health"); return c == 200 })
	}
	// Node 3's event stream, opened before any hit.
	resp, err := http.Get("http://" + https[2] + "/_nx/events?prefix=count")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data <- v
			}
		}
		close(data)
	}()
	// The links come up in the background: hits made before they do reach
	// the others by anti-entropy on connect, so the totals still converge.
	const perNode = 25
	for i := 1; i <= perNode; i++ {
		if c, b := get(0, "POST", "/hit"); c != 200 {
			t.Fatalf("hit %d on node 1: %d %s", i, c, b)
		}
		if c, b := get(1, "POST", "/hit"); c != 200 {
			t.Fatalf("hit %d on node 2: %d %s", i, c, b)
		}
	}
	want := fmt.Sprint(2 * perNode)
	deadline := time.After(30 * time.Second)
	for got := ""; got != want; {
		select {
		case v, ok := <-data:
			if !ok {
				t.Fatal("node 3's event stream ended")
			}
			got = v
		case <-deadline:
			t.Fatalf("node 3 never published count %s", want)
		}
	}
	for i := range 3 {
		testutil.Eventually(t, 30*time.Second, fmt.Sprintf("node %d to count every hit", i+1), func() bool {
			_, b := get(i, "GET", "/count")
			return b == `{"count":`+want+"}\n"
		})
	}
}
