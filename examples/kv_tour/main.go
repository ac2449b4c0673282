//go:build wasip1

// Command kv_tour walks the local host API with the Go SDK: set, get,
// exists, delete, scans and key paging, hashes, random bytes, environment,
// events, and what the errors look like.
package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	nx "github.com/numax/numax/sdk/go"
)

func must(what string, err error) {
	if err != nil {
		nx.Abort(what + ": " + err.Error())
	}
}

//go:wasmexport run
func run() {
	for _, kv := range [][2]string{{"user/1", "alice"}, {"user/2", "bob"}, {"user/3", "carol"}, {"zeta", "last"}} {
		must("set", nx.Set([]byte(kv[0]), []byte(kv[1])))
	}
	v, err := nx.Get([]byte("user/2"))
	must("get", err)
	fmt.Printf("get user/2 = %s\n", v)
	ok, err := nx.Exists([]byte("user/2"))
	must("exists", err)
	fmt.Printf("exists user/2 = %v\n", ok)
	must("delete", nx.Delete([]byte("user/2")))
	ok, _ = nx.Exists([]byte("user/2"))
	fmt.Printf("after delete, exists user/2 = %v\n", ok)

	var rows []string
	for kv, err := range nx.Scan([]byte("user/")) {
		must("scan", err)
		rows = append(rows, string(kv.Key)+"="+string(kv.Value))
	}
	fmt.Printf("scan user/ = %s\n", strings.Join(rows, ", "))
	keys, err := nx.KeysAfterPage([]byte("user/"), []byte("user/1"), 10)
	must("keys after", err)
	fmt.Printf("keys after user/1 = %s\n", bytes.Join(keys, []byte(", ")))
	page, err := nx.KeysPage(nil, 1, 2)
	must("keys page", err)
	fmt.Printf("keys page (offset 1, limit 2) = %s\n", bytes.Join(page, []byte(", ")))

	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16*10) // 640 KiB
	must("set big", nx.Set([]byte("big"), big))
	got, err := nx.Get([]byte("big"))
	must("get big", err)
	fmt.Printf("big value round-trip = %v (%d bytes)\n", bytes.Equal(got, big), len(got))

	s, err := nx.SHA256([]byte("numax"))
	must("sha256", err)
	b, err := nx.BLAKE3([]byte("numax"))
	must("blake3", err)
	fmt.Printf("sha256(numax) = %s\nblake3(numax) = %s\n", hex.EncodeToString(s[:]), hex.EncodeToString(b[:]))
	r, err := nx.RandomBytes(16)
	must("random", err)
	fmt.Printf("random bytes = %d\n", len(r))

	greeting, err := nx.Env("NX_GREETING")
	fmt.Printf("env NX_GREETING = %q (%v)\n", greeting, err)
	_, err = nx.Env("PATH")
	fmt.Printf("env PATH: %v\n", err)

	fmt.Printf("event tour.done: %v\n", nx.Emit("tour.done", []byte(`{"rows":2}`)))
	fmt.Printf("reserved key: %v\n", nx.Set([]byte("__nx/mine"), []byte("x")))
	_, err = nx.Get([]byte("missing"))
	fmt.Printf("missing key: %v, is ErrNotFound: %v\n", err, errors.Is(err, nx.ErrNotFound))
	_, err = nx.NodeID()
	fmt.Printf("node id without sync: %v\n", err)
}

func main() {}
