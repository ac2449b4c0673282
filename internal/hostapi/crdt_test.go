package hostapi

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/numax/numax/internal/abi"
	"github.com/numax/numax/internal/replica"
)

// withReplica turns sync on for the harness, backed by a real replica on
// the harness's store.
func withReplica(t *testing.T, hs *harness) {
	t.Helper()
	r, err := replica.Open(replica.Config{Store: hs.h.Store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	hs.h.Sync = fakeSync{r}
}

func TestCRDT_Functions(t *testing.T) {
	hs := newHarness(t)
	withReplica(t, hs)
	out := hs.buf(512)
	k := func(s string) (uint64, uint64) { return hs.str(s) }
	kp, kn := k("votes")

	t.Run("gcounter", func(t *testing.T) {
		if got := hs.call("crdt_gcounter_value", kp, kn, out, 8); got != 8 || binary.LittleEndian.Uint64(hs.read(out, 8)) != 0 {
			t.Fatalf("unknown key = %d", got)
		}
		for _, d := range []uint64{3, 4, 1<<64 - 1} {
			if got := hs.call("crdt_gcounter_inc", kp, kn, d); got != 0 {
				t.Fatalf("inc = %d", got)
			}
		}
		if got := hs.call("crdt_gcounter_value", kp, kn, out, 7); got != abi.ErrBufferTooSmall {
			t.Fatalf("7-byte buffer = %d", got)
		}
		if got := hs.call("crdt_gcounter_value", kp, kn, out, 8); got != 8 || binary.LittleEndian.Uint64(hs.read(out, 8)) != 1<<64-1 {
			t.Fatalf("saturated value = %d %d", got, binary.LittleEndian.Uint64(hs.read(out, 8)))
		}
	})
	t.Run("pncounter", func(t *testing.T) {
		pp, pn := k("stock")
		hs.call("crdt_pncounter_inc", pp, pn, 5)
		hs.call("crdt_pncounter_dec", pp, pn, 7)
		if got := hs.call("crdt_pncounter_value", pp, pn, out, 8); got != 8 || int64(binary.LittleEndian.Uint64(hs.read(out, 8))) != -2 {
			t.Fatalf("value = %d", int64(binary.LittleEndian.Uint64(hs.read(out, 8))))
		}
	})
	t.Run("lww_register", func(t *testing.T) {
		rp, rn := k("status")
		if got := hs.call("crdt_lww_get", rp, rn, out, 64); got != abi.ErrNotFound {
			t.Fatalf("never set = %d", got)
		}
		vp, vn := k("online")
		hs.call("crdt_lww_set", rp, rn, vp, vn)
		if got := hs.call("crdt_lww_get", rp, rn, out, 3); got != abi.ErrBufferTooSmall {
			t.Fatalf("small = %d", got)
		}
		if got := hs.call("crdt_lww_get", rp, rn, out, 64); got != 6 || string(hs.read(out, 6)) != "online" {
			t.Fatalf("get = %d", got)
		}
	})
	t.Run("lww_map", func(t *testing.T) {
		mp, mn := k("settings")
		fa, fan := k("theme")
		fb, fbn := k("lang")
		va, van := k("dark")
		vb, vbn := k("en")
		hs.call("crdt_lww_map_set", mp, mn, fa, fan, va, van)
		hs.call("crdt_lww_map_set", mp, mn, fb, fbn, vb, vbn)
		if got := hs.call("crdt_lww_map_contains", mp, mn, fa, fan); got != 1 {
			t.Fatalf("contains = %d", got)
		}
		hs.call("crdt_lww_map_remove", mp, mn, fa, fan)
		if got := hs.call("crdt_lww_map_get", mp, mn, fa, fan, out, 64); got != abi.ErrNotFound {
			t.Fatalf("removed field = %d", got)
		}
		n := hs.call("crdt_lww_map_entries", mp, mn, out, 512)
		pairs, err := abi.DecodePairs(hs.read(out, int(n)))
		if err != nil || len(pairs) != 1 || string(pairs[0].Key) != "lang" || string(pairs[0].Value) != "en" {
			t.Fatalf("entries = %v %v", pairs, err)
		}
	})
	t.Run("orset", func(t *testing.T) {
		sp, sn := k("tags")
		ep, en := k("go")
		xp, xn := k("never-added")
		if got := hs.call("crdt_orset_remove", sp, sn, xp, xn); got != 0 {
			t.Fatalf("remove of unseen = %d", got)
		}
		hs.call("crdt_orset_add", sp, sn, ep, en)
		if got := hs.call("crdt_orset_contains", sp, sn, ep, en); got != 1 {
			t.Fatalf("contains = %d", got)
		}
		hs.call("crdt_orset_remove", sp, sn, ep, en)
		if got := hs.call("crdt_orset_contains", sp, sn, ep, en); got != 0 {
			t.Fatalf("after remove = %d", got)
		}
		n := hs.call("crdt_orset_elements", sp, sn, out, 512)
		if items, err := abi.DecodeList(hs.read(out, int(n))); err != nil || len(items) != 0 {
			t.Fatalf("elements = %q", items)
		}
	})
	t.Run("pages", func(t *testing.T) {
		mp, mn := k("big-map")
		sp, sn := k("big-set")
		lp, ln := k("big-list")
		for i := range 30 {
			f := fmt.Sprintf("f%02d", i)
			fp, fn := k(f)
			vp, vn := k("v" + f)
			hs.call("crdt_lww_map_set", mp, mn, fp, fn, vp, vn)
			hs.call("crdt_orset_add", sp, sn, fp, fn)
			id := hs.buf(64)
			hs.call("crdt_rga_insert", lp, ln, 0, 0, vp, vn, id, 64)
		}
		for i := 10; i < 20; i++ { // a gap of removed ones in the middle
			fp, fn := k(fmt.Sprintf("f%02d", i))
			hs.call("crdt_lww_map_remove", mp, mn, fp, fn)
			hs.call("crdt_orset_remove", sp, sn, fp, fn)
		}
		page := func(fn string, kp, kn uint64, after string, limit uint64) []string {
			t.Helper()
			ap, an := k(after)
			n := hs.call(fn, kp, kn, ap, an, limit, out, 512)
			if n < 0 {
				t.Fatalf("%s after %q = %d", fn, after, n)
			}
			var got []string
			if fn == "crdt_lww_map_scan" {
				rows, err := abi.DecodePairs(hs.read(out, int(n)))
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					got = append(got, string(r.Key)+"="+string(r.Value))
				}
				return got
			}
			items, err := abi.DecodeList(hs.read(out, int(n)))
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				got = append(got, string(it))
			}
			return got
		}
		for _, c := range []struct {
			fn, after string
			limit     uint64
			want      string
		}{
			{"crdt_lww_map_scan", "", 3, "f00=vf00 f01=vf01 f02=vf02"},
			{"crdt_lww_map_scan", "f08", 3, "f09=vf09 f20=vf20 f21=vf21"},
			{"crdt_lww_map_scan", "f28", 5, "f29=vf29"},
			{"crdt_lww_map_scan", "f29", 5, ""},
			{"crdt_orset_scan", "f09", 2, "f20 f21"},
			{"crdt_orset_scan", "", 1, "f00"},
		} {
			kp, kn := mp, mn
			if c.fn == "crdt_orset_scan" {
				kp, kn = sp, sn
			}
			if got := strings.Join(page(c.fn, kp, kn, c.after, c.limit), " "); got != c.want {
				t.Fatalf("%s after %q limit %d = %q, want %q", c.fn, c.after, c.limit, got, c.want)
			}
		}
		if got := hs.call("crdt_lww_map_scan", mp, mn, 0, 0, 0, out, 512); got != abi.ErrInternal {
			t.Fatalf("limit 0 = %d", got)
		}
		if got := hs.call("crdt_lww_map_scan", mp, mn, 0, 0, 30, out, 20); got != abi.ErrBufferTooSmall {
			t.Fatalf("page into 20 bytes = %d", got)
		}
		n := hs.call("crdt_rga_slice", lp, ln, 28, 5, out, 512)
		items, err := abi.DecodeList(hs.read(out, int(max(n, 0))))
		if err != nil || len(items) != 2 || string(items[0]) != "vf01" || string(items[1]) != "vf00" {
			t.Fatalf("rga slice [28, 33) = %d %q %v", n, items, err)
		}
	})
	t.Run("text", func(t *testing.T) {
		tp, tn := k("note")
		text := func() string {
			t.Helper()
			n := hs.call("crdt_text_read", tp, tn, 0, 1000, out, 512)
			if n < 0 {
				t.Fatalf("read = %d", n)
			}
			return string(hs.read(out, int(n)))
		}
		for _, c := range []struct {
			fn   string
			args func() []uint64
			code int32
			want string
		}{
			{"crdt_text_insert", func() []uint64 { p, n := k("héllo"); return []uint64{tp, tn, 0, p, n} }, 0, "héllo"},
			{"crdt_text_insert", func() []uint64 { p, n := k(" wörld"); return []uint64{tp, tn, 5, p, n} }, 0, "héllo wörld"},
			{"crdt_text_insert", func() []uint64 { p, n := k("X"); return []uint64{tp, tn, 12, p, n} }, abi.ErrInternal, "héllo wörld"},
			{"crdt_text_insert", func() []uint64 { p, n := k(""); return []uint64{tp, tn, 3, p, n} }, 0, "héllo wörld"},
			{"crdt_text_insert", func() []uint64 { p, n := k("\xff"); return []uint64{tp, tn, 0, p, n} }, abi.ErrInternal, "héllo wörld"},
			{"crdt_text_insert", func() []uint64 { p, n := k("x"); return []uint64{tp, tn, 1 << 63, p, n} }, abi.ErrInternal, "héllo wörld"},
			{"crdt_text_delete", func() []uint64 { return []uint64{tp, tn, 1, 4} }, 0, "h wörld"},
			{"crdt_text_delete", func() []uint64 { return []uint64{tp, tn, 5, 3} }, abi.ErrInternal, "h wörld"},
			{"crdt_text_delete", func() []uint64 { return []uint64{tp, tn, 1, 1<<64 - 1} }, abi.ErrInternal, "h wörld"},
			{"crdt_text_delete", func() []uint64 { return []uint64{tp, tn, 7, 0} }, 0, "h wörld"},
		} {
			if got := hs.call(c.fn, c.args()...); got != c.code {
				t.Fatalf("%s%v = %d, want %d", c.fn, c.args(), got, c.code)
			}
			if got := text(); got != c.want {
				t.Fatalf("after %s: %q, want %q", c.fn, got, c.want)
			}
		}
		if got := hs.call("crdt_text_len", tp, tn); got != 7 {
			t.Fatalf("len = %d, want 7", got)
		}
		if got := hs.call("crdt_text_read", tp, tn, 2, 2, out, 512); got != 3 || string(hs.read(out, 3)) != "wö" {
			t.Fatalf("read [2, 4) = %d %q", got, hs.read(out, int(max(got, 0))))
		}
		if got := hs.call("crdt_text_read", tp, tn, 8, 1, out, 512); got != abi.ErrInternal {
			t.Fatalf("read from past the end = %d", got)
		}
		if got := hs.call("crdt_text_read", tp, tn, 0, 7, out, 3); got != abi.ErrBufferTooSmall {
			t.Fatalf("read into 3 bytes = %d", got)
		}
		np, nn := k("never")
		if got := hs.call("crdt_text_len", np, nn); got != 0 {
			t.Fatalf("len of an unwritten text = %d", got)
		}
	})
	t.Run("rga", func(t *testing.T) {
		lp, ln := k("doc")
		vp, vn := k("H")
		before := hs.h.Sync.(fakeSync).VV()
		if got := hs.call("crdt_rga_insert", lp, ln, 0, 0, vp, vn, out, 10); got != abi.ErrBufferTooSmall {
			t.Fatalf("id into 10 bytes = %d", got)
		}
		if after := hs.h.Sync.(fakeSync).VV(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("-2 emitted an op: %v -> %v", before, after)
		}
		n := hs.call("crdt_rga_insert", lp, ln, 0, 0, vp, vn, out, 64)
		if n <= 0 {
			t.Fatalf("insert = %d", n)
		}
		first := string(hs.read(out, int(n)))
		if !strings.HasSuffix(first, "@0123456789abcdef0123456789abcdef") && !strings.Contains(first, "@") {
			t.Fatalf("id %q", first)
		}
		fp, fn := hs.str(first)
		ip, in := k("i")
		if got := hs.call("crdt_rga_insert", lp, ln, fp, fn, ip, in, out, 64); got <= 0 {
			t.Fatalf("insert after = %d", got)
		}
		unknown, un := k("7@ffffffffffffffffffffffffffffffff")
		if got := hs.call("crdt_rga_insert", lp, ln, unknown, un, ip, in, out, 64); got != abi.ErrNotFound {
			t.Fatalf("unknown parent = %d", got)
		}
		if got := hs.call("crdt_rga_delete", lp, ln, unknown, un); got != abi.ErrNotFound {
			t.Fatalf("delete unknown = %d", got)
		}
		n = hs.call("crdt_rga_values", lp, ln, out, 512)
		vals, _ := abi.DecodeList(hs.read(out, int(n)))
		if len(vals) != 2 || string(vals[0])+string(vals[1]) != "Hi" {
			t.Fatalf("values %q", vals)
		}
		if got := hs.call("crdt_rga_delete", lp, ln, fp, fn); got != 0 {
			t.Fatalf("delete = %d", got)
		}
		n = hs.call("crdt_rga_elements", lp, ln, out, 512)
		pairs, _ := abi.DecodePairs(hs.read(out, int(n)))
		if len(pairs) != 1 || string(pairs[0].Value) != "i" {
			t.Fatalf("elements %v", pairs)
		}
	})
}
