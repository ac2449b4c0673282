//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/numax/numax/internal/testutil"
	browsertest "github.com/numax/numax/internal/testutil/browser"
)

// startNodes runs two nx processes serving the notes guest, node 2 linked
// to node 1 over plain TCP, and returns their HTTP addresses.
func startNodes(t *testing.T) []string {
	t.Helper()
	guest := testutil.GoGuest(t, "examples/notes")
	listen := []string{testutil.FreePort(t), testutil.FreePort(t)}
	web := []string{testutil.FreePort(t), testutil.FreePort(t)}
	for i := range 2 {
		args := []string{"run", guest, "--datastore-path", filepath.Join(t.TempDir(), "data"), "--listen", listen[i],
			"--http", web[i], "--tls-insecure", "--log-level", "warn"}
		if i == 1 {
			args = append(args, "--peer", listen[0])
		}
		testutil.StartNX(t, nil, args...)
	}
	for i, w := range web {
		testutil.Eventually(t, time.Minute, fmt.Sprintf("node %d to serve", i+1), func() bool {
			resp, err := http.Get("http://" + w + "/api/note")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == 200
		})
	}
	return web
}

func note(t *testing.T, web string) string {
	t.Helper()
	resp, err := http.Get("http://" + web + "/api/note")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Text string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.Text
}

func post(t *testing.T, web, body string) int {
	t.Helper()
	resp, err := http.Post("http://"+web+"/api/note", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return browsertest.Eval[T](t, ctx, js)
}

// Two pages on two nodes type into the note at once, one at its end and
// one at its start: both pages and both nodes end with the same text, each
// typist's words in one piece where they typed them, and each cursor
// still right after its own typing (remote edits never moved it).
func TestTwoPagesTypeAtOnce(t *testing.T) {
	web := startNodes(t)
	if code := post(t, web[0], `{"base": "", "text": "middle"}`); code != 200 {
		t.Fatalf("seed: %d", code)
	}
	testutil.Eventually(t, 20*time.Second, "the note on node 2", func() bool { return note(t, web[1]) == "middle" })

	b := browsertest.Open(t)
	var tabs []context.Context
	for _, w := range web {
		ctx, cancel := chromedp.NewContext(b)
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx, chromedp.Navigate("http://"+w+"/"), chromedp.WaitVisible(chromedp.CSS("#note"))); err != nil {
			t.Fatal(err)
		}
		tabs = append(tabs, ctx)
	}
	value := func(i int) string { return eval[string](t, tabs[i], `document.querySelector("#note").value`) }
	for i := range tabs {
		testutil.Eventually(t, 20*time.Second, "the note in the page", func() bool { return value(i) == "middle" })
	}
	// Page 1 types at the end, page 2 at the start, word by word, at once.
	eval[bool](t, tabs[0], `(() => { const a = document.querySelector("#note"); a.focus(); a.setSelectionRange(6, 6); return true })()`)
	eval[bool](t, tabs[1], `(() => { const a = document.querySelector("#note"); a.focus(); a.setSelectionRange(0, 0); return true })()`)
	typed := [][]string{{" alpha", " beta", " gamma", " delta"}, {"ONE ", "TWO ", "THREE ", "FOUR "}}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, w := range typed[i] {
				c, cancel := context.WithTimeout(tabs[i], 20*time.Second)
				err := chromedp.Do(c, chromedp.KeyEvent(w))
				cancel()
				if err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := "ONE TWO THREE FOUR middle alpha beta gamma delta"
	testutil.Eventually(t, 30*time.Second, "both pages and both nodes holding the same note", func() bool {
		return value(0) == want && value(1) == want && note(t, web[0]) == want && note(t, web[1]) == want
	})
	cursor := func(i int) int { return eval[int](t, tabs[i], `document.querySelector("#note").selectionStart`) }
	if c0, c1 := cursor(0), cursor(1); c0 != len(want) || c1 != len("ONE TWO THREE FOUR ") {
		t.Fatalf("cursors at %d and %d, want %d (after alpha…delta) and %d (after ONE…FOUR)", c0, c1, len(want), len("ONE TWO THREE FOUR "))
	}
}

// Bad requests get a clear 4xx and leave the note as it was.
func TestBadEdits(t *testing.T) {
	web := startNodes(t)
	if code := post(t, web[0], `{"base": "", "text": "kept"}`); code != 200 {
		t.Fatalf("seed: %d", code)
	}
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"not JSON", "hello", 400},
		{"no text", `{"base": "kept"}`, 400},
		{"no base", `{"text": "x"}`, 400},
		{"too long", fmt.Sprintf(`{"base": "kept", "text": %q}`, strings.Repeat("x", 70_000)), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := post(t, web[0], tc.body); code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			if got := note(t, web[0]); got != "kept" {
				t.Fatalf("note %q after a refused edit", got)
			}
		})
	}
}
