package edit

import "testing"

// apply is what an edit does to a text.
func apply(s string, e Edit) string {
	r := []rune(s)
	return string(r[:e.Pos]) + e.Ins + string(r[e.Pos+e.Del:])
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"", ""}, {"", "abc"}, {"abc", ""}, {"hello", "help"}, {"aaa", "aaaa"}, {"héllo", "hállo"},
		{"one two", "one 2 two"}, {"xyz", "xyz"},
	} {
		e := Diff([]rune(tc.a), []rune(tc.b))
		if got := apply(tc.a, e); got != tc.b {
			t.Errorf("Diff(%q, %q) = %+v gives %q", tc.a, tc.b, e, got)
		}
	}
}

func TestRebase(t *testing.T) {
	for _, tc := range []struct {
		base, mine, theirs, want string
	}{
		{"middle", "middle!", "¡middle", "¡middle!"},
		{"middle", "Xmiddle", "middleY", "XmiddleY"},
		{"middle", "middle", "mid dle", "mid dle"},
		{"abc", "aXbc", "aYbc", "aYXbc"},                             // same place: mine after theirs
		{"hello world", "hello", "hello brave world", "hellobrave "}, // mine deleted " world"; theirs inserted inside it
		{"abcdef", "af", "abXYef", "aXYf"},                           // overlapping deletions keep theirs' insert
		{"abc", "abc", "abc", "abc"},
	} {
		mine := Diff([]rune(tc.base), []rune(tc.mine))
		theirs := Diff([]rune(tc.base), []rune(tc.theirs))
		got := tc.theirs
		for _, e := range Rebase(mine, theirs) {
			got = apply(got, e)
		}
		if got != tc.want {
			t.Errorf("base %q, mine %q, theirs %q: %q, want %q", tc.base, tc.mine, tc.theirs, got, tc.want)
		}
	}
}
