//go:build !wasip1

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// show prints node i's board as its page shows it.
func show(out io.Writer, c *cluster, i int) error {
	ts, err := c.tasks(i)
	if err != nil {
		return err
	}
	s, err := c.status(i)
	if err != nil {
		return err
	}
	state := fmt.Sprintf("%d/2 peers reachable", s.linked())
	if s.Offline {
		state = "banner: Offline from peers"
	}
	fmt.Fprintf(out, "    node %d (%s):", i+1, state)
	if len(ts) == 0 {
		fmt.Fprint(out, " (no tasks)")
	}
	fmt.Fprintln(out)
	for _, t := range ts {
		box := "[ ]"
		if t.Done {
			box = "[x]"
		}
		fmt.Fprintf(out, "      %s %s\n", box, t.Title)
	}
	return nil
}

// render is a board as comparable text.
func render(ts []Task) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%s|%s|%v;", t.ID, t.Title, t.Done)
	}
	return b.String()
}

func tour(ctx context.Context, out io.Writer, c *cluster) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "\n"+format+"\n", args...) }
	has := func(i int, title string, done bool) func() bool {
		return func() bool {
			ts, err := c.tasks(i)
			if err != nil {
				return false
			}
			for _, t := range ts {
				if t.Title == title && t.Done == done {
					return true
				}
			}
			return false
		}
	}

	step("1. On node 1, add the task \"Buy milk\".")
	var milk Task
	if err := c.call(0, "POST", "/api/tasks", map[string]string{"title": "Buy milk"}, &milk); err != nil {
		return err
	}
	t0 := time.Now()
	if err := c.until(ctx, 10*time.Second, "node 3 to show the task", has(2, "Buy milk", false)); err != nil {
		return err
	}
	fmt.Fprintf(out, "   It appears on node 3 after %d ms:\n", time.Since(t0).Milliseconds())
	if err := show(out, c, 2); err != nil {
		return err
	}

	step("2. Cut node 3 off from nodes 1 and 2.")
	c.cut()
	if err := c.until(ctx, 30*time.Second, "node 3 to see itself offline", func() bool {
		s, err := c.status(2)
		return err == nil && s.Offline
	}); err != nil {
		return err
	}
	if err := show(out, c, 2); err != nil {
		return err
	}

	step("3. Both sides keep working: node 1 renames the task; node 3 ticks it done and adds \"Call Alice\".")
	if err := c.call(0, "PATCH", "/api/tasks/"+milk.ID, map[string]string{"title": "Buy oat milk"}, nil); err != nil {
		return err
	}
	if err := c.call(2, "PATCH", "/api/tasks/"+milk.ID, map[string]bool{"done": true}, nil); err != nil {
		return err
	}
	if err := c.call(2, "POST", "/api/tasks", map[string]string{"title": "Call Alice"}, nil); err != nil {
		return err
	}
	for _, i := range []int{0, 2} {
		if err := show(out, c, i); err != nil {
			return err
		}
	}

	step("4. Heal the cut: the nodes exchange what they missed.")
	c.heal()
	t0 = time.Now()
	var final string
	if err := c.until(ctx, 30*time.Second, "all three boards to agree", func() bool {
		var boards []string
		for i := range c.nodes {
			ts, err := c.tasks(i)
			if err != nil || len(ts) != 2 {
				return false
			}
			boards = append(boards, render(ts))
		}
		final = boards[0]
		return boards[0] == boards[1] && boards[1] == boards[2]
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "   All three show the same board %d ms after the heal:\n", time.Since(t0).Milliseconds())
	for i := range c.nodes {
		if err := show(out, c, i); err != nil {
			return err
		}
	}
	if !strings.Contains(final, "|Buy oat milk|true;") || !strings.Contains(final, "|Call Alice|false;") {
		return fmt.Errorf("the merged board is not the one both sides made: %s", final)
	}
	fmt.Fprintln(out, "   The rename (node 1) and the tick (node 3) both survived: they touched different fields of the task.")
	return nil
}
