package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/numax/numax/internal/testutil"
)

// gauge reads one unlabelled metric of node obs (scrape is in ops_test.go).
func gauge(t *testing.T, obs, name string) float64 {
	t.Helper()
	return scrape(t, obs)[name]
}

// Certificates live: a renewed certificate (same key, same NodeId) is picked
// up without a restart when its file changes, the expiry metric follows it,
// and SIGHUP reloads the allowlist from the configuration file, closing the
// link of a peer it drops while the node keeps running.
func TestTLS_ReloadWithoutRestart(t *testing.T) {
	wasm := testutil.GoGuest(t, "examples/distributed_counter")
	pki := t.TempDir()
	testutil.RunNX(t, time.Minute, nil, "cert", "ca", "--dir", pki)
	ids := map[string]string{}
	for _, n := range []string{"a", "b"} {
		ids[n] = strings.TrimSpace(testutil.RunNX(t, time.Minute, nil, "cert", "node", n, "--ca-dir", pki, "--dir", pki, "--days", "10").Stdout)
	}
	tlsArgs := func(n string) []string {
		return []string{"--tls-cert", filepath.Join(pki, n+".crt"), "--tls-key", filepath.Join(pki, n+".key"), "--tls-ca", filepath.Join(pki, "ca.crt")}
	}
	cfg := filepath.Join(t.TempDir(), "a.toml")
	tlsFile := func(allowed string) []byte {
		return []byte("[tls]\ncert = \"" + filepath.Join(pki, "a.crt") + "\"\nkey = \"" + filepath.Join(pki, "a.key") +
			"\"\nca = \"" + filepath.Join(pki, "ca.crt") + "\"\nallowed_peers = [\"" + allowed + "\"]\n")
	}
	os.WriteFile(cfg, tlsFile(ids["b"]), 0o644)
	la, lb, obs := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	pa := testutil.StartNX(t, nil, nodeRun(wasm, t.TempDir(), la, "--config", cfg, "--observability-listen", obs, "--log-level", "info")...)
	pb := testutil.StartNX(t, nil, append(nodeRun(wasm, t.TempDir(), lb, "--peer", la, "--log-level", "info"), tlsArgs("b")...)...)
	waitLog(t, pa, "serving until")
	waitLog(t, pa, "the node certificate expires soon")
	testutil.Eventually(t, 30*time.Second, "b linked to a", func() bool {
		return gauge(t, obs, "numax_peers_connected") == 1
	})
	before := gauge(t, obs, "numax_tls_cert_expiry_seconds")
	if before < 9*86400 || before > 10*86400 {
		t.Fatalf("expiry metric %v, want about 10 days", before)
	}
	// Renew a's certificate for a year, keeping its key.
	r := testutil.RunNX(t, time.Minute, nil, "cert", "node", "a", "--ca-dir", pki, "--dir", pki, "--days", "365", "--renew")
	if strings.TrimSpace(r.Stdout) != ids["a"] {
		t.Fatalf("--renew changed the NodeId: %q, was %s (%s)", r.Stdout, ids["a"], r.Stderr)
	}
	testutil.Eventually(t, 30*time.Second, "the renewed certificate picked up", func() bool {
		return gauge(t, obs, "numax_tls_cert_expiry_seconds") > 360*86400
	})
	if v := gauge(t, obs, "numax_peers_connected"); v != 1 {
		t.Fatalf("the link dropped on a reload that kept the peer allowed (%v peers)", v)
	}
	// SIGHUP with b dropped from the allowlist: b's link closes.
	os.WriteFile(cfg, tlsFile("00000000000000000000000000000001"), 0o644)
	_ = pa.Cmd.Process.Signal(syscall.SIGHUP)
	testutil.Eventually(t, 30*time.Second, "b's link closed", func() bool {
		return gauge(t, obs, "numax_peers_connected") == 0
	})
	waitLog(t, pa, "peer no longer in allowed_peers")
	// a still serves (scrape fails the test otherwise).
	gauge(t, obs, "numax_peers_connected")
	_ = pb.Cmd.Process.Signal(syscall.SIGTERM)
	_ = pa.Cmd.Process.Signal(syscall.SIGTERM)
	exitOK(t, pa, "a")
}
