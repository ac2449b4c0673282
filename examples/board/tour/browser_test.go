//go:build !wasip1

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/numax/numax/internal/testutil"
	browsertest "github.com/numax/numax/internal/testutil/browser"
)

// browser opens chromium with a phone-width window.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Open(t, chromedp.WindowSize(420, 900))
}

// tab opens url in a new tab and waits until sel is visible.
func tab(t *testing.T, b context.Context, url, sel string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return ctx
}

// eval runs js in a tab (5 s at most) and returns its value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return browsertest.Eval[T](t, ctx, js)
}

// titles is what a page shows: each task's title, "x " before a done one.
func titles(t *testing.T, ctx context.Context) []string {
	return eval[[]string](t, ctx, `[...document.querySelectorAll("#tasks li.task")].map(li => (li.classList.contains("done") ? "x " : "") +
		(li.querySelector(".title") ? li.querySelector(".title").textContent : "(being edited)"))`)
}

func bannerText(t *testing.T, ctx context.Context) string {
	return eval[string](t, ctx, `document.querySelector("#banner").hidden ? "" : document.querySelector("#banner").textContent`)
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := chromedp.Do(c, actions...)
		// The page re-renders its list when a change arrives from
		// another node: an element found just before that is gone when
		// the click lands, and nothing was clicked. Find it again.
		if err != nil && attempt < 5 && strings.Contains(err.Error(), "Could not find node with given id") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
}

// Real pages in a real browser: two tabs on nodes 1 and 3. What is done in
// one appears in the other without a reload (add, toggle, reorder); a cut
// shows the banner, edits on both sides of it settle on one winner in both
// pages; a restarted node's page reconnects by itself and shows the
// persisted board. The delay from a click on node 1 to the change rendered
// on node 3 is measured in the browser over 50 adds.
func TestBrowser(t *testing.T) {
	nx, board := testutil.NX(t), testutil.GoGuest(t, "examples/board")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := startCluster(ctx, nx, board, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	until := func(what string, cond func() bool) {
		t.Helper()
		if err := c.until(ctx, 20*time.Second, what, cond); err != nil {
			t.Fatal(err)
		}
	}

	// First load: the page and its two files.
	total := 0
	for _, p := range []string{"/", "/app.js", "/app.css"} {
		resp, err := http.Get("http://" + c.nodes[0].http + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		total += len(b)
	}
	if total > 100<<10 {
		t.Fatalf("first load %d bytes, over 100 KB", total)
	}

	b := browser(t)
	p1 := tab(t, b, "http://"+c.nodes[0].http+"/", "#add")
	p3 := tab(t, b, "http://"+c.nodes[2].http+"/", "#add")

	// Add in one, visible in the other; 50 times, timed in the browser.
	eval[bool](t, p3, `window.seen = {}; new MutationObserver(() => {
		for (const e of document.querySelectorAll("#tasks .title")) if (!(e.textContent in seen)) seen[e.textContent] = performance.timeOrigin + performance.now();
	}).observe(document.querySelector("#tasks"), {childList: true, subtree: true}); true`)
	var delays []float64
	for k := range 50 {
		title := fmt.Sprintf("task %02d", k)
		clicked := eval[float64](t, p1, fmt.Sprintf(`(() => { document.querySelector("#title").value = %q; const at = performance.timeOrigin + performance.now();
			document.querySelector("#add button").click(); return at; })()`, title))
		var seen float64
		until(title+" on node 3", func() bool {
			seen = eval[float64](t, p3, fmt.Sprintf(`seen[%q] || 0`, title))
			return seen > 0
		})
		delays = append(delays, seen-clicked)
	}
	slices.Sort(delays)
	p50, p99 := delays[len(delays)/2], delays[len(delays)*99/100]
	t.Logf("click on node 1 to rendered on node 3, 50 adds: p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 <= 100 ms)", p50, p99, delays[len(delays)-1])
	if dir := os.Getenv("NX_RESULTS_DIR"); dir != "" {
		report := fmt.Sprintf("## board: browser-measured delay\n\n`go test -run TestBrowser ./examples/board/tour` (headless chromium, 3 nx processes over mTLS on 127.0.0.1)\n\n"+
			"| metric | value | target | met |\n|---|---:|---|---|\n| click on node 1 to rendered on node 3, p50 of 50 adds | %.1f ms | | |\n| p99 | %.1f ms | <= 100 | %s |\n",
			p50, p99, map[bool]string{true: "yes", false: "**missed**"}[p99 <= 100])
		if err := os.WriteFile(filepath.Join(dir, "board-browser.md"), []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Toggle and reorder.
	do(t, p1, chromedp.Click(chromedp.CSS(`#tasks li.task:first-child input.toggle`)))
	until("the toggle on node 3", func() bool { return titles(t, p3)[0] == "x task 00" })
	do(t, p1, chromedp.Click(chromedp.CSS(`#tasks li.task:first-child button.move-down`)))
	until("the reorder on node 3", func() bool { ts := titles(t, p3); return ts[0] == "task 01" && ts[1] == "x task 00" })

	// Cut node 3 off: its banner shows; both sides edit the same task.
	c.cut()
	until("node 3's offline banner", func() bool { return strings.Contains(bannerText(t, p3), "Offline from peers") })
	edit := func(p context.Context, to string) {
		do(t, p, chromedp.Click(chromedp.CSS(`#tasks li.task:first-child button.edit`)), chromedp.WaitVisible(chromedp.CSS(`#tasks li.task:first-child input.edit`)),
			chromedp.SetValue(chromedp.CSS(`#tasks li.task:first-child input.edit`), to), chromedp.SendKeys(chromedp.CSS(`#tasks li.task:first-child input.edit`), kb.Enter))
	}
	edit(p1, "edited on node 1")
	edit(p3, "edited on node 3")
	until("each side's own edit", func() bool {
		return titles(t, p1)[0] == "edited on node 1" && titles(t, p3)[0] == "edited on node 3"
	})
	c.heal()
	until("one winner on both pages", func() bool {
		a, b := titles(t, p1), titles(t, p3)
		return slices.Equal(a, b) && strings.HasPrefix(a[0], "edited on node ") && bannerText(t, p3) == ""
	})

	// Node 3 goes away and comes back: its page says so, then reconnects
	// and shows the persisted board.
	before := titles(t, p3)
	c.nodes[2].halt()
	until("the unreachable banner", func() bool { return strings.Contains(bannerText(t, p3), "unreachable") })
	if err := c.nodes[2].start(); err != nil {
		t.Fatal(err)
	}
	until("the page back on the restarted node", func() bool {
		return bannerText(t, p3) == "" && slices.Equal(titles(t, p3), before)
	})
	// Node 1's status page: its two peers connected, and the board's
	// counter of created tasks (50) in the object browser.
	st := tab(t, b, "http://"+c.nodes[0].obs+"/", "#types button")
	until("two connected peers on the status page", func() bool {
		return eval[int](t, st, `[...document.querySelectorAll("#peers tbody tr")].filter(tr => tr.textContent.includes("connected")).length`) == 2
	})
	do(t, st, chromedp.Click(chromedp.CSS(`#types button[data-type="gcounter"]`)), chromedp.WaitVisible(chromedp.CSS(`#keys li[data-key="created"]`)),
		chromedp.Click(chromedp.CSS(`#keys li[data-key="created"]`)), chromedp.WaitVisible(chromedp.CSS(`#object`)))
	if got := eval[string](t, st, `document.querySelector("#object").textContent`); got != "gcounter created = 50" {
		t.Fatalf("the status page shows %q for the counter of created tasks", got)
	}

	if shot := os.Getenv("NX_BOARD_SCREENSHOT"); shot != "" {
		png, err := chromedp.Run(p1, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
