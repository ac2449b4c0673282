//go:build wasip1

// textreplay replays an editing trace into the Text NX_KEY through
// crdt_text_insert and crdt_text_delete, then prints "elapsed_ms N" (the
// edits alone, by the host's monotonic clock) and "edits N". The trace is
// in the node's own datastore, put there by `nx bench text`: guest keys
// "trace/0", "trace/1", ... each a run of patches (uvarint position,
// uvarint delete count, uvarint insert length, insert bytes), and
// "trace/chunks", their number in decimal. With NX_REPLAY=0 it does
// nothing (the followers of the three-node run). With NX_CLAMP=1 each
// patch is clamped to the text as it is (a stream of a trace split across
// nodes edits a text others change too). A write the node refuses for now
// (its send queue full while peers catch up) is tried again.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/text"
)

type patch struct {
	pos, del int
	ins      string
}

func must(err error, what string) {
	if err != nil {
		nx.Abort(what + ": " + err.Error())
	}
}

// load reads the trace's chunks and checks that each decodes; it returns
// them and the number of patches. The patches are decoded as they are
// replayed: the guest holds the trace's bytes (about 2 MB for seph-blog1),
// not a patch struct and a string per patch (about 20 MB of guest memory,
// which is the node's memory too).
func load() (chunks [][]byte, n int) {
	v, err := nx.Get([]byte("trace/chunks"))
	must(err, "trace/chunks")
	k, err := strconv.Atoi(string(v))
	must(err, "trace/chunks")
	for i := range k {
		b, err := nx.Get([]byte("trace/" + strconv.Itoa(i)))
		must(err, "trace chunk")
		for rest := b; len(rest) > 0; n++ {
			if _, rest = next(rest); rest == nil {
				nx.Abort(fmt.Sprintf("trace chunk %d: bad patch", i))
			}
		}
		chunks = append(chunks, b)
	}
	return chunks, n
}

// next decodes the patch b starts with (uvarint position, uvarint delete
// count, uvarint insert length, insert bytes) and returns it and the bytes
// after it: nil if b does not hold a whole patch. The insert is b's own
// bytes, not a copy.
func next(b []byte) (patch, []byte) {
	var f [3]uint64
	for j := range f {
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return patch{}, nil
		}
		f[j], b = x, b[k:]
	}
	if f[2] > uint64(len(b)) {
		return patch{}, nil
	}
	p := patch{pos: int(f[0]), del: int(f[1])}
	if f[2] > 0 {
		p.ins = unsafe.String(&b[0], int(f[2]))
	}
	return p, b[f[2]:] // not nil: b was not
}

//go:wasmexport run
func run() {
	if r, _ := nx.Env("NX_REPLAY"); r == "0" {
		return
	}
	key, _ := nx.Env("NX_KEY")
	if key == "" {
		key = "doc"
	}
	chunks, n := load()
	clamp, _ := nx.Env("NX_CLAMP")
	start := nx.Monotonic()
	i := 0
	for _, b := range chunks {
		for len(b) > 0 {
			var p patch
			p, b = next(b)
			if clamp == "1" {
				l, err := text.Len(key)
				must(err, "len")
				p.pos = min(p.pos, l)
				p.del = min(p.del, l-p.pos)
			}
			if p.del > 0 {
				if err := deleteAt(key, p.pos, p.del); err != nil {
					nx.Abort(fmt.Sprintf("patch %d: delete %d at %d: %v", i, p.del, p.pos, err))
				}
			}
			if p.ins != "" {
				if err := insertAt(key, p.pos, p.ins); err != nil {
					nx.Abort(fmt.Sprintf("patch %d: insert at %d: %v", i, p.pos, err))
				}
			}
			i++
		}
	}
	fmt.Printf("elapsed_ms %d\nedits %d\n", (nx.Monotonic() - start).Milliseconds(), n)
}

// insertAt and deleteAt write, and while the node refuses the write for
// now (-3: its outbound queue is full while peers catch up or one is cut
// off) try again, for up to 30 s: what an editor does with a refused
// keystroke. (A write that succeeds makes no other host call, and no
// closure: the replay's loop allocates nothing per patch.)
func insertAt(key string, pos int, s string) error {
	err := text.Insert(key, pos, s)
	if err == nil {
		return nil
	}
	for start := nx.Monotonic(); refused(err, start); {
		err = text.Insert(key, pos, s)
	}
	return err
}

func deleteAt(key string, pos, n int) error {
	err := text.Delete(key, pos, n)
	if err == nil {
		return nil
	}
	for start := nx.Monotonic(); refused(err, start); {
		err = text.Delete(key, pos, n)
	}
	return err
}

func refused(err error, since time.Duration) bool {
	return errors.Is(err, nx.ErrInternal) && nx.Monotonic()-since < 30*time.Second
}

func main() {}
