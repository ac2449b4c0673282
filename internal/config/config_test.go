package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTemplateIsDefaultsAndValid(t *testing.T) {
	c, err := Load(write(t, Template))
	if err != nil {
		t.Fatalf("template does not validate: %v", err)
	}
	d := Default()
	a, _ := c.Encode()
	b, _ := d.Encode()
	if string(a) != string(b) {
		t.Fatalf("template values differ from defaults:\n%s\n---\n%s", a, b)
	}
}

func TestEncodeIsValidInput(t *testing.T) {
	c := Default()
	c.Network.Listen, c.TLS.Insecure, c.Network.Peers = "127.0.0.1:9000", true, []string{"127.0.0.1:9001"}
	c.Limits.MaxMessageSize = 3 << 20
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(write(t, string(b)))
	if err != nil {
		t.Fatalf("encoded config does not load: %v\n%s", err, b)
	}
	if got.Limits.MaxMessageSize != 3<<20 || got.Network.Peers[0] != "127.0.0.1:9001" {
		t.Fatalf("round trip lost values: %+v", got)
	}
}

func TestLoad_Values(t *testing.T) {
	c, err := Load(write(t, `
[storage]
sync = "always"
sync_interval = "5ms"
[limits]
max_message_size = 1048576
guest_memory = "64MiB"
guest_timeout = "0s"
anti_entropy_interval = "1m"
seen_ops_limit = 5
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage.Sync != "always" || time.Duration(c.Storage.SyncInterval) != 5*time.Millisecond ||
		c.Limits.MaxMessageSize != 1<<20 || c.Limits.GuestMemory != 64<<20 || c.Limits.GuestTimeout != 0 ||
		time.Duration(c.Limits.AntiEntropyInterval) != time.Minute {
		t.Fatalf("%+v", c)
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // substring, after the file path
	}{
		{"malformed", "[storage\nsync = 1", ":1: "},
		{"unknown_section", "[storag]\nsync = \"always\"", ":1: storag: unknown key"},
		{"unknown_key", "[limits]\nmax_peers = 3\nmax_peerz = 4", ":3: limits.max_peerz: unknown key"},
		{"wrong_type", "[limits]\n\nmax_peers = \"many\"", ":3: limits.max_peers:"},
		{"bad_size", "[limits]\nmax_message_size = \"lots\"", ":2: limits.max_message_size:"},
		{"duration_as_number", "[storage]\nsync_interval = 10", ":2: storage.sync_interval:"},
		{"zero_limit", "[limits]\nop_log_limit = 0", ":2: limits.op_log_limit: must be greater than zero"},
		{"negative_limit", "[limits]\n\n\nmax_peers = -1", ":4: limits.max_peers: must be greater than zero, got -1"},
		{"small_memory_budget", "[limits]\nmemory_budget = \"10MiB\"", ":2: limits.memory_budget: must be \"0\" (no budget) or at least 64MiB, got 10MiB"},
		{"bad_sync", "[storage]\nsync = \"sometimes\"", ":2: storage.sync: must be \"always\" or \"interval\""},
		{"cert_without_key", "[tls]\ncert = \"a.crt\"", "tls.key: tls.cert and tls.key go together"},
		{"insecure_with_ca", "[tls]\ninsecure = true\nca = \"ca.crt\"", ":2: tls.insecure: insecure (plain TCP) excludes"},
		{"allowlist_without_ca", "[tls]\nallowed_peers = [\"0123456789abcdef0123456789abcdef\"]", "tls.allowed_peers: an allowlist needs tls.ca"},
		{"peers_without_listen", "[network]\npeers = [\"127.0.0.1:1\"]", ":2: network.peers: peers need network.listen"},
		{"listen_without_tls", "[network]\nlisten = \"127.0.0.1:1\"", ":2: network.listen: sync needs tls.cert"},
		{"bad_node_id", "[tls]\nca = \"c\"\nallowed_peers = [\"zz\"]", ":3: tls.allowed_peers: \"zz\" is not a NodeId"},
		{"unknown_discovery_mode", "[discovery]\nmode = \"dns\"", ":2: discovery.mode: must be \"static\""},
		{"gossip_without_listen", "[discovery]\nmode = \"gossip\"", "discovery.listen: mode \"gossip\" needs a gossip address"},
		{"gossip_without_link_listen", "[discovery]\nmode = \"gossip\"\nlisten = \"127.0.0.1:7947\"", "discovery.mode: mode \"gossip\" needs network.listen"},
		{"file_without_file", "[network]\nlisten = \"127.0.0.1:7000\"\n[tls]\ninsecure = true\n[discovery]\nmode = \"file\"", "discovery.peers_file: mode \"file\" needs a peers file"},
		{"seeds_in_static", "[discovery]\nseeds = [\"127.0.0.1:7947\"]", "discovery.listen: discovery.listen and discovery.seeds are for mode \"gossip\""},
		{"negative_fanout", "[discovery]\nfanout = -1", "discovery.fanout: fanout and links must not be negative"},
		{"zero_probe", "[discovery]\nprobe_interval = \"0s\"", "discovery.probe_interval: must be a positive duration"},
		{"status_page_open_without_token", "[observability]\nlisten = \"0.0.0.0:9090\"", ":2: observability.listen: \"0.0.0.0:9090\" is not a loopback address: set observability.token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.body)
			_, err := Load(p)
			var ce *Error
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %s...%s", err, p, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestApplyEnv(t *testing.T) {
	c := Default()
	env := map[string]string{"NX_DATASTORE_PATH": "/env", "NX_PEERS": "a:1, b:2", "NX_TLS_INSECURE": "true", "NX_LOG_LEVEL": "debug"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.Storage.DatastorePath != "/env" || len(c.Network.Peers) != 2 || c.Network.Peers[1] != "b:2" || !c.TLS.Insecure || c.Observability.LogLevel != "debug" {
		t.Fatalf("%+v", c)
	}
	bad := Default()
	if err := bad.ApplyEnv(func(k string) (string, bool) { return "maybe", k == "NX_TLS_INSECURE" }); err == nil {
		t.Fatal("NX_TLS_INSECURE=maybe accepted")
	}
}
