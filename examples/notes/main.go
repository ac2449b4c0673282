//go:build wasip1

// Command notes is a shared plain-text note served by every node of a
// cluster: the page (static/) edits it in a textarea; each batch of
// keystrokes goes to the node as one Text edit (crdt_text_insert and
// crdt_text_delete), and edits from other nodes arrive on /_nx/events and
// are merged into the textarea without moving the cursor.
//
// API (README.md): GET /api/note gives {"text"}; POST /api/note takes
// {"base", "text"}: the text the page last had from the node and the text
// it has now. The node turns the difference into a Text edit, moved past
// whatever changed on the node since base (another page, another node), and
// answers with the note as it now is.
package main

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"unicode/utf8"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/serve"
	"github.com/numax/numax/sdk/go/text"

	"github.com/numax/numax/examples/notes/edit"
)

//go:embed static
var static embed.FS

const noteKey = "note"

// maxNote bounds the note (bytes of UTF-8).
const maxNote = 64 << 10

func init() {
	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /api/note", func(w http.ResponseWriter, _ *http.Request) {
		s, err := text.String(noteKey)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, map[string]string{"text": s})
	})
	mux.HandleFunc("POST /api/note", editNote)
	serve.Serve(mux)
	serve.OnChange(func(cs []serve.Change) {
		for _, c := range cs {
			if c.Key == noteKey {
				if err := nx.Emit("note.changed", nil); err != nil {
					panic(err) // the trigger is retried with the same changes
				}
				return
			}
		}
	})
}

func editNote(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Base *string `json:"base"`
		Text *string `json:"text"`
	}
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 3*maxNote)).Decode(&in)
	switch {
	case err != nil || in.Base == nil || in.Text == nil:
		http.Error(w, `want {"base": "...", "text": "..."}`, http.StatusBadRequest)
		return
	case !utf8.ValidString(*in.Base) || !utf8.ValidString(*in.Text):
		http.Error(w, "base and text must be UTF-8", http.StatusBadRequest)
		return
	case len(*in.Text) > maxNote:
		http.Error(w, "a note holds at most 65,536 bytes", http.StatusRequestEntityTooLarge)
		return
	}
	cur, err := text.String(noteKey)
	if err != nil {
		fail(w, err)
		return
	}
	mine := edit.Diff([]rune(*in.Base), []rune(*in.Text))
	for _, e := range edit.Rebase(mine, edit.Diff([]rune(*in.Base), []rune(cur))) {
		if e.Del > 0 {
			if err := text.Delete(noteKey, e.Pos, e.Del); err != nil {
				fail(w, err)
				return
			}
		}
		if e.Ins != "" {
			if err := text.Insert(noteKey, e.Pos, e.Ins); err != nil {
				fail(w, err)
				return
			}
		}
	}
	if cur, err = text.String(noteKey); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]string{"text": cur})
}

func fail(w http.ResponseWriter, err error) {
	http.Error(w, "the node could not do it: "+err.Error(), http.StatusServiceUnavailable)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func main() {}
