//go:build !wasip1

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/numax/numax/internal/freeport"
	"github.com/numax/numax/internal/tcpproxy"
)

// node is one nx process serving the board.
type node struct {
	id, http, listen, obs string
	nx                    string
	args                  []string
	cmd                   *exec.Cmd
	stderr                *bytes.Buffer
}

// start runs the node's process.
func (n *node) start() error {
	n.cmd = exec.Command(n.nx, n.args...)
	n.cmd.Stderr = n.stderr
	return n.cmd.Start()
}

// halt stops the node's process: SIGTERM, then a kill after 10 s.
func (n *node) halt() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
}

// cluster is three nodes; node 3 reaches 1 and 2 through proxies.
type cluster struct {
	nodes   []*node
	proxies []*tcpproxy.Proxy
}

func startCluster(ctx context.Context, nx, board, dir string) (*cluster, error) {
	pki := filepath.Join(dir, "pki")
	if out, err := exec.CommandContext(ctx, nx, "cert", "ca", "--dir", pki).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nx cert ca: %v\n%s", err, out)
	}
	c := &cluster{}
	for i := range 3 {
		name := fmt.Sprint("node", i+1)
		out, err := exec.CommandContext(ctx, nx, "cert", "node", name, "--ca-dir", pki, "--dir", pki).Output()
		if err != nil {
			return nil, fmt.Errorf("nx cert node %s: %v", name, err)
		}
		n := &node{id: strings.TrimSpace(string(out)), stderr: &bytes.Buffer{}}
		if n.listen, err = freeport.Addr(); err != nil {
			return nil, err
		}
		if n.http, err = freeport.Addr(); err != nil {
			return nil, err
		}
		if n.obs, err = freeport.Addr(); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	for _, target := range c.nodes[:2] {
		p, err := tcpproxy.New(target.listen)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.proxies = append(c.proxies, p)
	}
	peers := [][]string{{}, {c.nodes[0].listen}, {c.proxies[0].Addr, c.proxies[1].Addr}}
	// Links that come back are redialed within a second (default: up to 30 s).
	cfg := filepath.Join(dir, "nx.toml")
	if err := os.WriteFile(cfg, []byte("[limits]\nreconnect_max_delay = \"1s\"\n"), 0o644); err != nil {
		c.stop()
		return nil, err
	}
	for i, n := range c.nodes {
		name := filepath.Join(pki, fmt.Sprint("node", i+1))
		args := []string{"run", board, "--datastore-path", filepath.Join(dir, fmt.Sprint("node", i+1)),
			"--listen", n.listen, "--http", n.http, "--observability-listen", n.obs, "--log-level", "warn",
			"--tls-cert", name + ".crt", "--tls-key", name + ".key", "--tls-ca", filepath.Join(pki, "ca.crt"),
			"--config", cfg}
		for _, p := range peers[i] {
			args = append(args, "--peer", p)
		}
		n.nx, n.args = nx, args
		if err := n.start(); err != nil {
			c.stop()
			return nil, err
		}
	}
	for i := range c.nodes {
		if err := c.until(ctx, 60*time.Second, fmt.Sprintf("node %d to serve with both peers linked", i+1), func() bool {
			s, err := c.status(i)
			return err == nil && s.linked() == 2
		}); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

// stop ends every node (SIGTERM, then a kill after 10 s) and proxy.
func (c *cluster) stop() {
	for _, n := range c.nodes {
		n.halt()
	}
	for _, p := range c.proxies {
		p.Close()
	}
}

// cut and heal node 3's links.
func (c *cluster) cut() {
	for _, p := range c.proxies {
		p.Cut()
	}
}

func (c *cluster) heal() {
	for _, p := range c.proxies {
		p.Heal()
	}
}

// until polls cond every 20 ms for at most d.
func (c *cluster) until(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			var logs strings.Builder
			for i, n := range c.nodes {
				fmt.Fprintf(&logs, "\nnode %d stderr:\n%s", i+1, n.stderr.String())
			}
			return fmt.Errorf("timed out after %s waiting for %s%s", d, what, logs.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Task and Status are the board's API types (examples/board).
type Task struct {
	ID    string  `json:"id"`
	Title string  `json:"title"`
	Done  bool    `json:"done"`
	Pos   float64 `json:"pos"`
}

type Status struct {
	Node  string `json:"node"`
	Peers []struct {
		ID string `json:"id"`
		Up bool   `json:"up"`
	} `json:"peers"`
	Offline bool `json:"offline"`
}

func (s Status) linked() int {
	n := 0
	for _, p := range s.Peers {
		if p.Up {
			n++
		}
	}
	return n
}

var client = &http.Client{Timeout: 5 * time.Second}

// call sends a request to node i's board API and decodes the answer into
// out (if set).
func (c *cluster) call(i int, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+c.nodes[i].http+path, body)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s on node %d: %d %s", method, path, i+1, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *cluster) tasks(i int) ([]Task, error) {
	var ts []Task
	err := c.call(i, "GET", "/api/tasks", nil, &ts)
	return ts, err
}

func (c *cluster) status(i int) (Status, error) {
	var s Status
	err := c.call(i, "GET", "/api/status", nil, &s)
	return s, err
}
