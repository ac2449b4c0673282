package serve

import (
	"bytes"
	"testing"
)

func TestRing(t *testing.T) {
	r := newRing(3)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		r.publish(n, []byte(n))
	}
	for _, tt := range []struct {
		name     string
		since    uint64
		wantIDs  []uint64
		wantGone bool
	}{
		{"held", 3, []uint64{4, 5}, false},
		{"oldest_held", 2, []uint64{3, 4, 5}, false},
		{"gone", 1, []uint64{3, 4, 5}, true},
		{"up_to_date", 5, nil, false},
		{"from_a_previous_run", 99, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			evs, gone, last, _ := r.since(tt.since)
			var ids []uint64
			for _, e := range evs {
				ids = append(ids, e.id)
			}
			if gone != tt.wantGone || last != 5 || len(ids) != len(tt.wantIDs) {
				t.Fatalf("since(%d) = %v gone=%v last=%d", tt.since, ids, gone, last)
			}
			for i := range ids {
				if ids[i] != tt.wantIDs[i] {
					t.Fatalf("since(%d) = %v", tt.since, ids)
				}
			}
		})
	}
	// A publish wakes waiters.
	_, _, _, wake := r.since(5)
	r.publish("f", nil)
	select {
	case <-wake:
	default:
		t.Fatal("publish did not wake")
	}
}

func TestWriteEvent(t *testing.T) {
	var b bytes.Buffer
	writeEvent(&b, 7, "chat.msg", []byte("line one\nline two\r\nthree"))
	want := "id: 7\nevent: chat.msg\ndata: line one\ndata: line two\ndata: three\n\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
