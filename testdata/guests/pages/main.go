//go:build wasip1

// pages checks the Go SDK's paged readers against the whole-object ones on
// objects larger than a page: LWW-Map All and ScanPage, ORSet All and
// ScanPage, RGA All and Slice, Text Pages, Read and Len. It prints "pages
// ok" and what it checked, or aborts naming the first difference.
package main

import (
	"bytes"
	"fmt"
	"strings"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/lwwmap"
	"github.com/numax/numax/sdk/go/orset"
	"github.com/numax/numax/sdk/go/rga"
	"github.com/numax/numax/sdk/go/text"
)

func must(err error) {
	if err != nil {
		nx.Abort(err.Error())
	}
}

func fail(format string, args ...any) { nx.Abort(fmt.Sprintf(format, args...)) }

const n = 700 // more than two pages of 256

//go:wasmexport run
func run() {
	for i := range n {
		must(lwwmap.Set("m", fmt.Sprintf("f%04d", i), []byte(fmt.Sprint(i))))
		must(orset.Add("s", []byte(fmt.Sprintf("e%04d", i))))
	}
	for i := 0; i < n; i += 3 { // gaps: removed fields and elements are skipped
		must(lwwmap.Remove("m", fmt.Sprintf("f%04d", i)))
		must(orset.Remove("s", []byte(fmt.Sprintf("e%04d", i))))
	}
	parent := rga.Head
	for i := range n {
		id, err := rga.Insert("l", parent, []byte(fmt.Sprint("v", i)))
		must(err)
		parent = id
	}

	whole, err := lwwmap.Entries("m")
	must(err)
	var paged []nx.KV
	for kv, err := range lwwmap.All("m") {
		must(err)
		paged = append(paged, kv)
	}
	if len(paged) != len(whole) {
		fail("lwwmap.All: %d fields, Entries %d", len(paged), len(whole))
	}
	for i := range whole {
		if !bytes.Equal(paged[i].Key, whole[i].Key) || !bytes.Equal(paged[i].Value, whole[i].Value) {
			fail("lwwmap.All differs at %d", i)
		}
	}
	page, err := lwwmap.ScanPage("m", "f0100", 5)
	must(err)
	if len(page) != 5 || string(page[0].Key) != "f0101" || string(page[1].Key) != "f0103" {
		fail("lwwmap.ScanPage after f0100: %q", page)
	}

	elems, err := orset.Elements("s")
	must(err)
	var pagedSet [][]byte
	for e, err := range orset.All("s") {
		must(err)
		pagedSet = append(pagedSet, e)
	}
	if len(pagedSet) != len(elems) {
		fail("orset.All: %d elements, Elements %d", len(pagedSet), len(elems))
	}
	for i := range elems {
		if !bytes.Equal(pagedSet[i], elems[i]) {
			fail("orset.All differs at %d", i)
		}
	}

	vals, err := rga.Values("l")
	must(err)
	i := 0
	for v, err := range rga.All("l") {
		must(err)
		if i >= len(vals) || !bytes.Equal(v, vals[i]) {
			fail("rga.All differs at %d", i)
		}
		i++
	}
	if i != len(vals) {
		fail("rga.All: %d values, Values %d", i, len(vals))
	}
	sl, err := rga.Slice("l", n-2, 10)
	must(err)
	if len(sl) != 2 || string(sl[1]) != fmt.Sprint("v", n-1) {
		fail("rga.Slice past the end: %q", sl)
	}

	// A text of 150,000 characters: three pages of 65,536.
	chunk := strings.Repeat("é0123456789", 1000) // 11,000 code points
	want := ""
	for range 14 {
		l, err := text.Len("t")
		must(err)
		must(text.Insert("t", l, chunk))
		want += chunk
	}
	got, err := text.String("t")
	must(err)
	if got != want {
		fail("text.String: %d bytes, want %d", len(got), len(want))
	}
	mid, err := text.Read("t", 70_000, 12)
	must(err)
	if r := []rune(want); mid != string(r[70_000:70_012]) {
		fail("text.Read(70000, 12) = %q", mid)
	}
	fmt.Printf("pages ok: %d fields, %d elements, %d values, %d characters\n", len(whole), len(elems), len(vals), len([]rune(got)))
}

func main() {}
