package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/numax/numax/internal/membudget"
	"iter"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/defaults"
	"github.com/numax/numax/internal/obs"
)

// Size is a byte size: "16MiB", "512KiB" or a plain integer.
type Size uint64

// UnmarshalTOML accepts a quoted size with units or an integer.
func (s *Size) UnmarshalTOML(data []byte) error {
	text := string(bytes.TrimSpace(data))
	if strings.HasPrefix(text, `"`) || strings.HasPrefix(text, `'`) {
		u, err := strconv.Unquote(strings.ReplaceAll(text, `'`, `"`))
		if err != nil {
			return fmt.Errorf("bad string %s", text)
		}
		text = u
	}
	v, err := ParseSize(text)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// MarshalText renders the size with units.
func (s Size) MarshalText() ([]byte, error) { return []byte(FormatSize(uint64(s))), nil }

// Duration is a Go duration string: "500ms", "30s", "1h30m".
type Duration time.Duration

// UnmarshalTOML accepts a quoted Go duration.
func (d *Duration) UnmarshalTOML(data []byte) error {
	text := string(bytes.TrimSpace(data))
	u, err := strconv.Unquote(strings.ReplaceAll(text, `'`, `"`))
	if err != nil {
		return fmt.Errorf("want a duration string such as \"30s\", got %s", text)
	}
	v, err := ParseDuration(u)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText renders the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Config is the whole node configuration.
type Config struct {
	Storage       Storage       `toml:"storage"`
	Network       Network       `toml:"network"`
	TLS           TLS           `toml:"tls"`
	Limits        Limits        `toml:"limits"`
	Observability Observability `toml:"observability"`
	Discovery     Discovery     `toml:"discovery"`
	Serve         Serve         `toml:"serve"`
}

// Serve is [serve]: serving a service module (docs/serving.md).
type Serve struct {
	// HTTPListen is the HTTP listener's address ("" = none; --http).
	HTTPListen string `toml:"http_listen"`
	// TLSCert and TLSKey make the listener HTTPS.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Instances is the pool size (0 = the number of CPUs).
	Instances int `toml:"instances"`
	// Queue bounds requests waiting for an instance (then 503).
	Queue int `toml:"queue"`
	// TickInterval calls on_tick this often ("0s" = never).
	TickInterval Duration `toml:"tick_interval"`
	// MaxBody bounds a request body (then 413).
	MaxBody Size `toml:"max_body"`
	// EventRing is how many events /_nx/events keeps for reconnects.
	EventRing int `toml:"event_ring"`
	// FetchAllow lists the hosts http_fetch may reach.
	FetchAllow []string `toml:"fetch_allow"`
}

// Storage is [storage].
type Storage struct {
	DatastorePath string   `toml:"datastore_path"`
	Sync          string   `toml:"sync"`
	SyncInterval  Duration `toml:"sync_interval"`
	CompileCache  string   `toml:"compile_cache"`
	MinFreeSpace  Size     `toml:"min_free_space"`
	CRDTCache     Size     `toml:"crdt_cache"`
}

// Network is [network].
type Network struct {
	Listen              string   `toml:"listen"`
	Peers               []string `toml:"peers"`
	SerializationFormat string   `toml:"serialization_format"`
}

// TLS is [tls].
type TLS struct {
	Cert          string   `toml:"cert"`
	Key           string   `toml:"key"`
	CA            string   `toml:"ca"`
	AllowedPeers  []string `toml:"allowed_peers"`
	Insecure      bool     `toml:"insecure"`
	AdoptIdentity bool     `toml:"adopt_identity"`
}

// Limits is [limits]: the network limits of docs/wire-protocol.md and the guest limits of
// docs/host-abi.md.
type Limits struct {
	MaxPeers              int      `toml:"max_peers"`
	QueuedOpsLimit        int      `toml:"queued_ops_limit"`
	OpLogLimit            int      `toml:"op_log_limit"`
	SeenOpsLimit          int      `toml:"seen_ops_limit"`
	MaxMessageSize        Size     `toml:"max_message_size"`
	SocketTimeoutSecs     int      `toml:"socket_timeout_secs"`
	ReconnectInitialDelay Duration `toml:"reconnect_initial_delay"`
	ReconnectMaxDelay     Duration `toml:"reconnect_max_delay"`
	PeerDeadAfterFailures int      `toml:"peer_dead_after_failures"`
	AntiEntropyInterval   Duration `toml:"anti_entropy_interval"`
	MaxClockOffset        Duration `toml:"max_clock_offset"`
	MemberExpiry          Duration `toml:"member_expiry"`
	MemoryBudget          Size     `toml:"memory_budget"`
	PullAnswerRate        Size     `toml:"pull_answer_rate"`

	GuestMemory         Size     `toml:"guest_memory"`
	GuestTimeout        Duration `toml:"guest_timeout"`
	MaxKeySize          Size     `toml:"max_key_size"`
	MaxValueSize        Size     `toml:"max_value_size"`
	MaxOutputSize       Size     `toml:"max_output_size"`
	MaxScanLimit        int      `toml:"max_scan_limit"`
	MaxLogMessageSize   Size     `toml:"max_log_message_size"`
	MaxRandomSize       Size     `toml:"max_random_size"`
	MaxEventNameSize    int      `toml:"max_event_name_size"`
	MaxEventPayloadSize Size     `toml:"max_event_payload_size"`
}

// Observability is [observability].
type Observability struct {
	Listen             string `toml:"listen"`
	LogLevel           string `toml:"log_level"`
	LogFormat          string `toml:"log_format"`
	RequestTimeoutSecs int    `toml:"request_timeout_secs"`
	// Token, if set, is required by the node status page and its API
	// (NX_OBSERVABILITY_TOKEN); without it listen must be a loopback
	// address.
	Token string `toml:"token"`
}

// Discovery is [discovery].
type Discovery struct {
	// Mode is "static" (network.peers), "gossip" (memberlist) or "file"
	// (peers_file, re-read on change).
	Mode string `toml:"mode"`
	// Listen is the gossip address (mode gossip).
	Listen string `toml:"listen"`
	// Seeds are gossip addresses to join through (mode gossip; any one is
	// enough; none for the first node).
	Seeds []string `toml:"seeds"`
	// PeersFile lists op-link addresses, one per line (mode file).
	PeersFile string `toml:"peers_file"`
	// Fanout is K, the members gossip mode dials when Links is 0 (0 =
	// ceil(log2 N) + 1 for N known nodes); relays follow the relay tree.
	Fanout int `toml:"fanout"`
	// Links is how many members a node dials in gossip mode (0 = the
	// fanout; others dial it too).
	Links int `toml:"links"`
	// ProbeInterval is SWIM's failure-detection period.
	ProbeInterval Duration `toml:"probe_interval"`
	// PullInterval is how often one random peer is asked for what this
	// node lacks (0 = only every limits.anti_entropy_interval).
	PullInterval Duration `toml:"pull_interval"`
}

// Default returns every default of the spec.
func Default() Config {
	return Config{
		Storage: Storage{DatastorePath: defaults.DatastorePath, Sync: "interval", SyncInterval: Duration(defaults.SyncInterval),
			MinFreeSpace: defaults.MinFreeSpace, CRDTCache: defaults.CRDTCache},
		Network: Network{SerializationFormat: defaults.SerializationFormat},
		Limits: Limits{
			MaxPeers: defaults.MaxPeers, QueuedOpsLimit: defaults.QueuedOpsLimit, OpLogLimit: defaults.OpLogLimit,
			SeenOpsLimit: defaults.SeenOpsLimit, MaxMessageSize: defaults.MaxMessageSize,
			SocketTimeoutSecs:     int(defaults.SocketTimeout / time.Second),
			ReconnectInitialDelay: Duration(defaults.ReconnectInitial), ReconnectMaxDelay: Duration(defaults.ReconnectMax),
			PeerDeadAfterFailures: defaults.PeerDeadAfter, AntiEntropyInterval: Duration(defaults.AntiEntropyInterval),
			MaxClockOffset: Duration(defaults.MaxClockOffset), MemberExpiry: Duration(defaults.MemberExpiry), PullAnswerRate: defaults.PullAnswerRate,
			MemoryBudget: defaults.MemoryBudget,
			GuestMemory:  defaults.GuestMemory, GuestTimeout: Duration(defaults.GuestTimeout),
			MaxKeySize: abi.DefaultMaxKey, MaxValueSize: abi.DefaultMaxValue, MaxOutputSize: abi.DefaultMaxOutput, MaxScanLimit: abi.DefaultMaxScanLimit,
			MaxLogMessageSize: abi.DefaultMaxLogMessage, MaxRandomSize: abi.DefaultMaxRandom, MaxEventNameSize: abi.DefaultMaxEventName, MaxEventPayloadSize: abi.DefaultMaxEventPayload,
		},
		Observability: Observability{LogLevel: defaults.LogLevel, LogFormat: defaults.LogFormat,
			RequestTimeoutSecs: int(defaults.RequestTimeout / time.Second)},
		Discovery: Discovery{Mode: defaults.DiscoveryMode, ProbeInterval: Duration(defaults.ProbeInterval),
			PullInterval: Duration(defaults.PullInterval)},
		Serve: Serve{Queue: defaults.ServeQueue, MaxBody: defaults.ServeMaxBody, EventRing: defaults.ServeEventRing},
	}
}

// Error is a configuration error: where it is and what to do.
type Error struct {
	File string // "" for the environment or the command line
	Line int    // 0 if unknown
	Key  string // "limits.max_peers"
	Msg  string
}

func (e *Error) Error() string {
	var where string
	switch {
	case e.File != "" && e.Line > 0:
		where = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.File != "":
		where = e.File + ": "
	}
	if e.Key != "" {
		return where + e.Key + ": " + e.Msg
	}
	return where + e.Msg
}

// Load reads path over the defaults. Unknown sections or keys and values of
// the wrong type are errors naming the file, line and key.
func Load(path string) (Config, error) {
	c := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return c, &Error{File: path, Msg: fmt.Sprintf("cannot read the configuration: %v", err)}
	}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().EnableUnmarshalerInterface()
	if err := dec.Decode(&c); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) && len(sm.Errors) > 0 {
			e := sm.Errors[0]
			row, _ := e.Position()
			return c, &Error{File: path, Line: row, Key: strings.Join(e.Key(), "."),
				Msg: "unknown key (sections are storage, network, tls, limits, observability, discovery; `nx config init` writes every key)"}
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return c, &Error{File: path, Line: row, Key: strings.Join(de.Key(), "."), Msg: de.Error()}
		}
		// A value our own decoders refused (a size or a duration): find
		// the line by decoding each key alone.
		line, key := locate(data)
		return c, &Error{File: path, Line: line, Key: key, Msg: err.Error()}
	}
	if err := c.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File, ce.Line = path, lineOf(data, ce.Key)
		}
		return c, err
	}
	return c, nil
}

// keyLine is a `key = value` line of a TOML text.
type keyLine struct {
	section, key, text string // text is the trimmed line
}

// keyLines yields each `key = value` line with its 1-based number and the
// [section] it is in; comments and section headers are skipped.
func keyLines(data []byte) iter.Seq2[int, keyLine] {
	return func(yield func(int, keyLine) bool) {
		section := ""
		for i, line := range strings.Split(string(data), "\n") {
			l := strings.TrimSpace(line)
			if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
				section = strings.TrimSpace(strings.Trim(l, "[]"))
				continue
			}
			k, _, ok := strings.Cut(l, "=")
			if !ok || strings.HasPrefix(l, "#") {
				continue
			}
			if !yield(i+1, keyLine{section: section, key: strings.TrimSpace(k), text: l}) {
				return
			}
		}
	}
}

// locate returns the first line (and its section.key) whose value alone does
// not decode.
func locate(data []byte) (int, string) {
	for n, kl := range keyLines(data) {
		var c Config
		doc := "[" + kl.section + "]\n" + kl.text + "\n"
		if err := toml.NewDecoder(strings.NewReader(doc)).EnableUnmarshalerInterface().Decode(&c); err != nil {
			return n, kl.section + "." + kl.key
		}
	}
	return 0, ""
}

// lineOf finds the line of section.key in a TOML text (0 if absent).
func lineOf(data []byte, dotted string) int {
	section, key, ok := strings.Cut(dotted, ".")
	if !ok {
		return 0
	}
	for n, kl := range keyLines(data) {
		if kl.section == section && kl.key == key {
			return n
		}
	}
	return 0
}

// Validate checks ranges and cross-field rules, with messages that say what
// to do.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	switch c.Storage.Sync {
	case "always", "interval":
	default:
		return bad("storage.sync", "must be \"always\" or \"interval\", got %q", c.Storage.Sync)
	}
	if c.Storage.DatastorePath == "" {
		return bad("storage.datastore_path", "must not be empty")
	}
	if c.Storage.SyncInterval <= 0 {
		return bad("storage.sync_interval", "must be a positive duration such as \"10ms\"")
	}
	switch c.Network.SerializationFormat {
	case "binary", "bincode", "json":
	default:
		return bad("network.serialization_format", "must be \"binary\" or \"json\" (\"bincode\" is read as binary), got %q", c.Network.SerializationFormat)
	}
	l := &c.Limits
	for _, p := range []struct {
		key string
		v   int64
	}{
		{"limits.max_peers", int64(l.MaxPeers)}, {"limits.queued_ops_limit", int64(l.QueuedOpsLimit)},
		{"limits.op_log_limit", int64(l.OpLogLimit)}, {"limits.max_message_size", int64(l.MaxMessageSize)},
		{"limits.socket_timeout_secs", int64(l.SocketTimeoutSecs)}, {"limits.reconnect_initial_delay", int64(l.ReconnectInitialDelay)},
		{"limits.reconnect_max_delay", int64(l.ReconnectMaxDelay)}, {"limits.peer_dead_after_failures", int64(l.PeerDeadAfterFailures)},
		{"limits.anti_entropy_interval", int64(l.AntiEntropyInterval)}, {"limits.max_clock_offset", int64(l.MaxClockOffset)},
		{"limits.member_expiry", int64(l.MemberExpiry)},
		{"limits.pull_answer_rate", int64(l.PullAnswerRate)},
		{"limits.max_key_size", int64(l.MaxKeySize)}, {"limits.max_value_size", int64(l.MaxValueSize)},
		{"limits.max_output_size", int64(l.MaxOutputSize)}, {"limits.max_scan_limit", int64(l.MaxScanLimit)},
		{"limits.max_log_message_size", int64(l.MaxLogMessageSize)}, {"limits.max_random_size", int64(l.MaxRandomSize)},
		{"limits.max_event_name_size", int64(l.MaxEventNameSize)}, {"limits.max_event_payload_size", int64(l.MaxEventPayloadSize)},
		{"observability.request_timeout_secs", int64(c.Observability.RequestTimeoutSecs)},
	} {
		if p.v <= 0 {
			return bad(p.key, "must be greater than zero, got %d", p.v)
		}
	}
	if l.MemoryBudget != 0 && l.MemoryBudget < membudget.Min {
		return bad("limits.memory_budget", "must be \"0\" (no budget) or at least %s, got %s", FormatSize(membudget.Min), FormatSize(uint64(l.MemoryBudget)))
	}
	if l.SeenOpsLimit < 0 {
		return bad("limits.seen_ops_limit", "must not be negative (it is accepted for compatibility and has no effect)")
	}
	if l.ReconnectMaxDelay < l.ReconnectInitialDelay {
		return bad("limits.reconnect_max_delay", "must be at least limits.reconnect_initial_delay")
	}
	if l.GuestMemory < 64<<10 || l.GuestMemory > 4<<30-64<<10 {
		return bad("limits.guest_memory", "must be between 64KiB and 4GiB minus 64KiB, got %s", FormatSize(uint64(l.GuestMemory)))
	}
	if l.GuestTimeout < 0 {
		return bad("limits.guest_timeout", "must not be negative (0 turns the limit off)")
	}
	if l.MaxKeySize > 1<<31 || l.MaxValueSize > 1<<31 || l.MaxOutputSize > 1<<31 || l.MaxLogMessageSize > 1<<31 ||
		l.MaxRandomSize > 1<<31 || l.MaxEventPayloadSize > 1<<31 {
		return bad("limits", "guest size limits must stay below 2GiB")
	}
	if c.Observability.Listen != "" && c.Observability.Token == "" && !obs.Loopback(c.Observability.Listen) {
		return bad("observability.listen", "%q is not a loopback address: set observability.token (the status page and its API show the node's data), or listen on 127.0.0.1", c.Observability.Listen)
	}
	switch c.Observability.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		return bad("observability.log_level", "must be trace, debug, info, warn or error, got %q", c.Observability.LogLevel)
	}
	switch c.Observability.LogFormat {
	case "text", "json":
	default:
		return bad("observability.log_format", "must be text or json, got %q", c.Observability.LogFormat)
	}
	d := &c.Discovery
	switch d.Mode {
	case "static":
	case "gossip":
		if d.Listen == "" {
			return bad("discovery.listen", "mode \"gossip\" needs a gossip address such as \"127.0.0.1:7947\" (--gossip-listen)")
		}
		if c.Network.Listen == "" {
			return bad("discovery.mode", "mode \"gossip\" needs network.listen: members link to each other there")
		}
	case "file":
		if d.PeersFile == "" {
			return bad("discovery.peers_file", "mode \"file\" needs a peers file (one address per line; --peers-file)")
		}
		if c.Network.Listen == "" {
			return bad("discovery.mode", "mode \"file\" needs network.listen: sync is enabled by listening")
		}
	default:
		return bad("discovery.mode", "must be \"static\" (configured peers), \"gossip\" (memberlist) or \"file\" (peers file), got %q", d.Mode)
	}
	if d.Mode != "gossip" && (d.Listen != "" || len(d.Seeds) > 0) {
		return bad("discovery.listen", "discovery.listen and discovery.seeds are for mode \"gossip\"; mode is %q", d.Mode)
	}
	if d.Fanout < 0 || d.Links < 0 {
		return bad("discovery.fanout", "fanout and links must not be negative (0 = automatic)")
	}
	if d.ProbeInterval <= 0 {
		return bad("discovery.probe_interval", "must be a positive duration such as \"500ms\"")
	}
	if d.PullInterval < 0 {
		return bad("discovery.pull_interval", "must not be negative (0 turns random pulls off)")
	}
	sv := &c.Serve
	switch {
	case sv.Instances < 0 || sv.Instances > 4096:
		return bad("serve.instances", "must be between 0 (one per CPU) and 4096, got %d", sv.Instances)
	case sv.Queue <= 0:
		return bad("serve.queue", "must be greater than zero, got %d", sv.Queue)
	case sv.TickInterval < 0:
		return bad("serve.tick_interval", "must not be negative (\"0s\" = no on_tick)")
	case sv.MaxBody <= 0 || sv.MaxBody > 1<<31:
		return bad("serve.max_body", "must be between 1 byte and 2GiB, got %d", sv.MaxBody)
	case sv.EventRing <= 0:
		return bad("serve.event_ring", "must be greater than zero, got %d", sv.EventRing)
	case (sv.TLSCert == "") != (sv.TLSKey == ""):
		return bad("serve.tls_key", "serve.tls_cert and serve.tls_key go together: set both or neither")
	}
	for _, a := range sv.FetchAllow {
		if a == "" || strings.ContainsAny(a, "/ ") {
			return bad("serve.fetch_allow", "%q is not a host or host:port", a)
		}
	}
	t := &c.TLS
	switch {
	case (t.Cert == "") != (t.Key == ""):
		return bad("tls.key", "tls.cert and tls.key go together: set both or neither")
	case t.Insecure && (t.CA != "" || len(t.AllowedPeers) > 0 || t.Cert != ""):
		return bad("tls.insecure", "insecure (plain TCP) excludes tls.cert, tls.key, tls.ca and tls.allowed_peers: remove them or set insecure = false")
	case len(t.AllowedPeers) > 0 && t.CA == "":
		return bad("tls.allowed_peers", "an allowlist needs tls.ca: NodeIds are only trusted from certificates the CA signed")
	case len(c.Network.Peers) > 0 && c.Network.Listen == "":
		return bad("network.peers", "peers need network.listen: sync is enabled by listening")
	case c.Network.Listen != "" && !t.Insecure && (t.Cert == "" || t.CA == ""):
		return bad("network.listen", "sync needs tls.cert, tls.key and tls.ca (make them with `nx cert`), or tls.insecure = true for local development")
	}
	for _, id := range t.AllowedPeers {
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			return bad("tls.allowed_peers", "%q is not a NodeId (32 lowercase hex characters; `nx cert id CERT` prints one)", id)
		}
	}
	return nil
}

// Env names the NX_* variables that override the file.
var Env = []string{"NX_DATASTORE_PATH", "NX_LISTEN", "NX_PEERS", "NX_TLS_CERT", "NX_TLS_KEY", "NX_TLS_CA",
	"NX_ALLOWED_PEERS", "NX_TLS_INSECURE", "NX_OBSERVABILITY_LISTEN", "NX_OBSERVABILITY_TOKEN", "NX_LOG_LEVEL", "NX_LOG_FORMAT", "NX_SERIALIZATION_FORMAT",
	"NX_HTTP_LISTEN", "NX_SERVE_TLS_CERT", "NX_SERVE_TLS_KEY", "NX_SERVE_INSTANCES", "NX_SERVE_QUEUE", "NX_SERVE_TICK_INTERVAL",
	"NX_SERVE_MAX_BODY", "NX_SERVE_EVENT_RING", "NX_SERVE_FETCH_ALLOW"}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ApplyEnv applies the NX_* variables found by lookup.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	set := func(name string, dst *string) {
		if v, ok := lookup(name); ok {
			*dst = v
		}
	}
	set("NX_DATASTORE_PATH", &c.Storage.DatastorePath)
	set("NX_LISTEN", &c.Network.Listen)
	set("NX_TLS_CERT", &c.TLS.Cert)
	set("NX_TLS_KEY", &c.TLS.Key)
	set("NX_TLS_CA", &c.TLS.CA)
	set("NX_OBSERVABILITY_LISTEN", &c.Observability.Listen)
	set("NX_OBSERVABILITY_TOKEN", &c.Observability.Token)
	set("NX_LOG_LEVEL", &c.Observability.LogLevel)
	set("NX_LOG_FORMAT", &c.Observability.LogFormat)
	set("NX_SERIALIZATION_FORMAT", &c.Network.SerializationFormat)
	if v, ok := lookup("NX_PEERS"); ok {
		c.Network.Peers = splitList(v)
	}
	if v, ok := lookup("NX_ALLOWED_PEERS"); ok {
		c.TLS.AllowedPeers = splitList(v)
	}
	set("NX_HTTP_LISTEN", &c.Serve.HTTPListen)
	set("NX_SERVE_TLS_CERT", &c.Serve.TLSCert)
	set("NX_SERVE_TLS_KEY", &c.Serve.TLSKey)
	if v, ok := lookup("NX_SERVE_FETCH_ALLOW"); ok {
		c.Serve.FetchAllow = splitList(v)
	}
	for _, iv := range []struct {
		name string
		dst  *int
	}{{"NX_SERVE_INSTANCES", &c.Serve.Instances}, {"NX_SERVE_QUEUE", &c.Serve.Queue}, {"NX_SERVE_EVENT_RING", &c.Serve.EventRing}} {
		if v, ok := lookup(iv.name); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return &Error{Key: iv.name, Msg: fmt.Sprintf("must be an integer, got %q", v)}
			}
			*iv.dst = n
		}
	}
	if v, ok := lookup("NX_SERVE_TICK_INTERVAL"); ok {
		d, err := ParseDuration(v)
		if err != nil {
			return &Error{Key: "NX_SERVE_TICK_INTERVAL", Msg: err.Error()}
		}
		c.Serve.TickInterval = Duration(d)
	}
	if v, ok := lookup("NX_SERVE_MAX_BODY"); ok {
		n, err := ParseSize(v)
		if err != nil {
			return &Error{Key: "NX_SERVE_MAX_BODY", Msg: err.Error()}
		}
		c.Serve.MaxBody = Size(n)
	}
	if v, ok := lookup("NX_TLS_INSECURE"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &Error{Key: "NX_TLS_INSECURE", Msg: fmt.Sprintf("must be true or false, got %q", v)}
		}
		c.TLS.Insecure = b
	}
	return nil
}

// Encode renders c as TOML that Load accepts.
func (c Config) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
