package crdt

import (
	"strconv"
	"strings"
)

// Format renders an object as `nx run --print-*` and `nx inspect` print it
// (docs/configuration.md): "K = 3", "K = -2", "K = text" or "K = <unset>",
// "K = {a=1, b=2}", "K = [a, b]", "K = [x, y]". obj may be nil (never
// written): counters print 0, a register <unset>, collections empty.
func Format(t Type, key string, obj Object) string {
	var v string
	switch t {
	case TypeGCounter:
		g, _ := obj.(*GCounter)
		if g == nil {
			g = &GCounter{}
		}
		v = strconv.FormatUint(g.Value(), 10)
	case TypePNCounter:
		p, _ := obj.(*PNCounter)
		if p == nil {
			p = &PNCounter{}
		}
		v = strconv.FormatInt(p.Value(), 10)
	case TypeLWWRegister:
		r, _ := obj.(*LWWRegister)
		if r == nil || !r.Set {
			v = "<unset>"
		} else {
			v = string(r.Value)
		}
	case TypeLWWMap:
		var parts []string
		if m, _ := obj.(*LWWMap); m != nil {
			fields, values := m.Entries()
			for i := range fields {
				parts = append(parts, string(fields[i])+"="+string(values[i]))
			}
		}
		v = "{" + strings.Join(parts, ", ") + "}"
	case TypeORSet:
		var parts []string
		if s, _ := obj.(*ORSet); s != nil {
			for _, e := range s.Elements() {
				parts = append(parts, string(e))
			}
		}
		v = "[" + strings.Join(parts, ", ") + "]"
	case TypeRGA:
		var parts []string
		if r, _ := obj.(*RGA); r != nil {
			for _, e := range r.Visible() {
				parts = append(parts, string(e.Value))
			}
		}
		v = "[" + strings.Join(parts, ", ") + "]"
	case TypeText:
		if t, _ := obj.(*Text); t != nil {
			v = strconv.Quote(t.String())
		} else {
			v = `""`
		}
	}
	return key + " = " + v
}

// Items is obj's value for a reader (the node status page): a scalar for
// counters and registers, or the items of a collection in order (a map's
// "field=value" entries, a set's elements, a sequence's values).
func Items(t Type, obj Object) (scalar string, items []string, collection bool) {
	switch t {
	case TypeLWWMap:
		if m, _ := obj.(*LWWMap); m != nil {
			fields, values := m.Entries()
			for i := range fields {
				items = append(items, string(fields[i])+"="+string(values[i]))
			}
		}
		return "", items, true
	case TypeORSet:
		if s, _ := obj.(*ORSet); s != nil {
			for _, e := range s.Elements() {
				items = append(items, string(e))
			}
		}
		return "", items, true
	case TypeRGA:
		if r, _ := obj.(*RGA); r != nil {
			for _, e := range r.Visible() {
				items = append(items, string(e.Value))
			}
		}
		return "", items, true
	case TypeText:
		if x, _ := obj.(*Text); x != nil {
			return x.String(), nil, false
		}
		return "", nil, false
	}
	s := Format(t, "", obj)
	return strings.TrimPrefix(s, " = "), nil, false
}
