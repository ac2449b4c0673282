//go:build wasip1

// scalewriter makes NX_OPS writes, each adding one new element, to the
// object NX_KEY of type NX_TYPE (orset: an element; lww-map: a field;
// rga: a value at the head; text: a character at index 0; text-spread: a
// character at a place far from the last), then prints "first_us N", the time
// the first write took (it reads an RGA's or a Text's view, or the sequence whole), and
// "elapsed_ms N", the time all the writes took, by the host's monotonic clock. It is the guest
// of `nx bench crdt-scale`.
package main

import (
	"fmt"
	"strconv"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/lwwmap"
	"github.com/numax/numax/sdk/go/orset"
	"github.com/numax/numax/sdk/go/rga"
	"github.com/numax/numax/sdk/go/text"
)

//go:wasmexport run
func run() {
	typ, _ := nx.Env("NX_TYPE")
	key, _ := nx.Env("NX_KEY")
	s, _ := nx.Env("NX_OPS")
	n, _ := strconv.Atoi(s)
	write := map[string]func(i int) error{
		"orset":   func(i int) error { return orset.Add(key, []byte("new-"+strconv.Itoa(i))) },
		"lww-map": func(i int) error { return lwwmap.Set(key, "new-"+strconv.Itoa(i), []byte("v")) },
		"rga":     func(int) error { _, err := rga.Insert(key, "", []byte("x")); return err },
		"text":    func(int) error { return text.Insert(key, 0, "x") },
		// text-spread: a character at a place far from the last one each
		// time (a position stepped by a large prime through the text).
		"text-spread": func(i int) error {
			n, err := text.Len(key)
			if err != nil {
				return err
			}
			return text.Insert(key, (i*7919+13)%(n+1), "x")
		},
	}[typ]
	if write == nil {
		nx.Abort("NX_TYPE must be orset, lww-map, rga, text or text-spread, got " + strconv.Quote(typ))
	}
	start := nx.Monotonic()
	var first int64
	for i := range n {
		if err := write(i); err != nil {
			nx.Abort(fmt.Sprintf("write %d: %v", i, err))
		}
		if i == 0 {
			first = (nx.Monotonic() - start).Microseconds()
		}
	}
	fmt.Printf("first_us %d\nelapsed_ms %d\n", first, (nx.Monotonic() - start).Milliseconds())
}

func main() {}
