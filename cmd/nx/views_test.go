package main

import (
	"strings"
	"testing"
	"time"

	"github.com/numax/numax/internal/crdt"
	"github.com/numax/numax/internal/replica"
	"github.com/numax/numax/internal/store"
	"github.com/numax/numax/internal/testutil"
)

// TestViews_LargeTextAcrossRestarts seeds a 30,000-character Text and a
// 30,000-element RGA with their views (as a node leaves them at close),
// then runs real nodes on the datastore twice: each types 300 characters at
// the start of the text and inserts 300 values at the head of the RGA
// through the views (the scalewriter guest), closes, and leaves views the
// next run writes through. nx inspect, which reads the records, shows every
// edit in its place after each run.
func TestViews_LargeTextAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	origin := strings.Repeat("a", 32)
	var want = map[crdt.Type]string{}
	for i, ty := range []crdt.Type{crdt.TypeText, crdt.TypeRGA} {
		obj := crdt.New(ty)
		var prev crdt.OpID
		for j := range 30000 {
			seq := uint64(i*30000 + j + 1)
			op := &crdt.Op{Kind: crdt.TextInsert, Key: "big", Origin: origin, Seq: seq, HLC: 1<<40 + seq, Ref: prev, Value: []byte{byte('a' + j%26)}}
			if ty == crdt.TypeRGA {
				op.Kind = crdt.RGAInsert
			}
			prev = op.ID()
			obj.Apply(op)
		}
		if err := replica.Seed(st, crdt.ObjKey{Type: ty, Key: "big"}, obj, origin, uint64((i+1)*30000)); err != nil {
			t.Fatal(err)
		}
		want[ty] = crdt.Format(ty, "big", obj)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	wasm := testutil.GoGuest(t, "testdata/guests/scalewriter")
	for run := 1; run <= 2; run++ {
		for _, w := range []struct{ typ, name string }{{"text", "text"}, {"rga", "rga"}} {
			r := testutil.RunNX(t, 2*time.Minute, []string{"NX_TYPE=" + w.typ, "NX_KEY=big", "NX_OPS=300"},
				nodeRun(wasm, dir, testutil.FreePort(t), "--tls-insecure", "--settle-for", "0s", "--log-level", "warn")...)
			if r.Code != 0 {
				t.Fatalf("run %d, %s: exit %d\nstdout: %s\nstderr: %s", run, w.typ, r.Code, r.Stdout, tail(r.Stderr))
			}
		}
		want[crdt.TypeText] = strings.Replace(want[crdt.TypeText], `big = "`, `big = "`+strings.Repeat("x", 300), 1)
		want[crdt.TypeRGA] = strings.Replace(want[crdt.TypeRGA], "big = [", "big = ["+strings.Repeat("x, ", 300), 1)
		for ty, name := range map[crdt.Type]string{crdt.TypeText: "text", crdt.TypeRGA: "rga"} {
			got := testutil.RunNX(t, time.Minute, nil, "inspect", "--datastore-path", dir, "crdt", "get", name, "big")
			if got.Code != 0 || strings.TrimSpace(got.Stdout) != want[ty] {
				t.Fatalf("run %d: nx inspect crdt get %s big: exit %d, %d bytes, want %d\n%.200s\nwant\n%.200s", run, name, got.Code,
					len(strings.TrimSpace(got.Stdout)), len(want[ty]), got.Stdout, want[ty])
			}
		}
	}
}
