//go:build wasip1

// Command board is a shared task board served by every node of a cluster:
// tasks with a title, a done flag and a position; add, edit, toggle,
// delete and reorder from any node's page, changes pushed live to every
// page over /_nx/events, and a header that shows the node, its peers and
// whether it is cut off from them. The page (static/) is embedded: nothing
// is fetched from outside the node.
//
// Data model (README.md): the ORSet "board" holds the task ids; the LWW-Map
// "task/ID" holds the task's fields. Every edit adds the id to the set
// again, so an edit concurrent with a delete keeps the task (add wins).
package main

import (
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	nx "github.com/numax/numax/sdk/go"
	"github.com/numax/numax/sdk/go/gcounter"
	"github.com/numax/numax/sdk/go/lwwmap"
	"github.com/numax/numax/sdk/go/orset"
	"github.com/numax/numax/sdk/go/serve"
)

//go:embed static
var static embed.FS

const setKey = "board"

// Task is one task as the API shows it.
type Task struct {
	ID    string  `json:"id"`
	Title string  `json:"title"`
	Done  bool    `json:"done"`
	Pos   float64 `json:"pos"`
}

func init() {
	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /api/tasks", func(w http.ResponseWriter, _ *http.Request) {
		tasks, err := list()
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, tasks)
	})
	mux.HandleFunc("POST /api/tasks", create)
	mux.HandleFunc("PATCH /api/tasks/{id}", update)
	mux.HandleFunc("DELETE /api/tasks/{id}", remove)
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, status()) })
	serve.Serve(mux)
	serve.OnChange(func(cs []serve.Change) {
		for _, c := range cs {
			if c.Key == setKey || strings.HasPrefix(c.Key, "task/") {
				mustEmit("board.tasks", nil)
				return
			}
		}
	})
	serve.OnPeer(func(e serve.PeerEvent) {
		// Peers seen once are remembered here, so the header can show
		// one that is unreachable now.
		if e.Up {
			if err := nx.Set([]byte("peer/"+e.NodeID), []byte(e.Addr)); err != nil {
				panic(err)
			}
		}
		b, _ := json.Marshal(status())
		mustEmit("board.peers", b)
	})
}

// mustEmit publishes an event; a failure panics, so that the trigger is
// retried with the same changes.
func mustEmit(name string, payload []byte) {
	if err := nx.Emit(name, payload); err != nil {
		panic(err)
	}
}

func list() ([]Task, error) {
	ids, err := orset.Elements(setKey)
	if err != nil {
		return nil, err
	}
	tasks := make([]Task, 0, len(ids))
	for _, id := range ids {
		t := Task{ID: string(id)}
		kvs, err := lwwmap.Entries("task/" + t.ID)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			switch string(kv.Key) {
			case "title":
				t.Title = string(kv.Value)
			case "done":
				t.Done = string(kv.Value) == "1"
			case "pos":
				t.Pos, _ = strconv.ParseFloat(string(kv.Value), 64)
			}
		}
		tasks = append(tasks, t)
	}
	slices.SortFunc(tasks, func(a, b Task) int {
		if a.Pos != b.Pos {
			if a.Pos < b.Pos {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return tasks, nil
}

// maxTitle bounds a title (bytes).
const maxTitle = 500

func create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title string `json:"title"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || strings.TrimSpace(in.Title) == "" || len(in.Title) > maxTitle {
		http.Error(w, "want {\"title\": \"...\"} with a title of 1 to 500 bytes", http.StatusBadRequest)
		return
	}
	tasks, err := list()
	if err != nil {
		fail(w, err)
		return
	}
	pos := 1.0
	if n := len(tasks); n > 0 {
		pos = math.Floor(tasks[n-1].Pos) + 1
	}
	rnd, err := nx.RandomBytes(8)
	if err != nil {
		fail(w, err)
		return
	}
	t := Task{ID: hex.EncodeToString(rnd), Title: strings.TrimSpace(in.Title), Pos: pos}
	if err := save(t.ID, map[string]string{"title": t.Title, "done": "0", "pos": fmtPos(pos)}); err != nil {
		fail(w, err)
		return
	}
	// Tasks ever created, cluster-wide (the node status page shows it).
	if err := gcounter.Inc("created", 1); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, t)
}

func update(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var in struct {
		Title *string  `json:"title"`
		Done  *bool    `json:"done"`
		Pos   *float64 `json:"pos"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
		http.Error(w, "want {\"title\"?, \"done\"?, \"pos\"?}", http.StatusBadRequest)
		return
	}
	if ok, err := exists(id); err != nil || !ok {
		http.Error(w, "no task "+strconv.Quote(id), http.StatusNotFound)
		return
	}
	fields := map[string]string{}
	if in.Title != nil {
		if t := strings.TrimSpace(*in.Title); t == "" || len(t) > maxTitle {
			http.Error(w, "a title is 1 to 500 bytes", http.StatusBadRequest)
			return
		}
		fields["title"] = strings.TrimSpace(*in.Title)
	}
	if in.Done != nil {
		fields["done"] = map[bool]string{true: "1", false: "0"}[*in.Done]
	}
	if in.Pos != nil {
		if math.IsNaN(*in.Pos) || math.IsInf(*in.Pos, 0) {
			http.Error(w, "pos must be a number", http.StatusBadRequest)
			return
		}
		fields["pos"] = fmtPos(*in.Pos)
	}
	if err := save(id, fields); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func remove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if ok, err := exists(id); err != nil || !ok {
		http.Error(w, "no task "+strconv.Quote(id), http.StatusNotFound)
		return
	}
	if err := orset.Remove(setKey, []byte(id)); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// save writes the fields and adds the id to the board again (an edit
// concurrent with a delete keeps the task).
func save(id string, fields map[string]string) error {
	for _, f := range []string{"title", "done", "pos"} {
		if v, ok := fields[f]; ok {
			if err := lwwmap.Set("task/"+id, f, []byte(v)); err != nil {
				return err
			}
		}
	}
	return orset.Add(setKey, []byte(id))
}

func exists(id string) (bool, error) {
	if len(id) != 16 {
		return false, nil
	}
	return orset.Contains(setKey, []byte(id))
}

func fmtPos(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) }

// Status is the header's data: this node, every peer it has linked to and
// whether it is linked now, and whether it is cut off from all of them.
type Status struct {
	Node    string `json:"node"`
	Peers   []Peer `json:"peers"`
	Offline bool   `json:"offline"`
}

// Peer is one peer in Status.
type Peer struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
	Up   bool   `json:"up"`
}

func status() Status {
	s := Status{Peers: []Peer{}}
	s.Node, _ = nx.NodeID()
	up := map[string]string{}
	if peers, err := nx.Peers(); err == nil {
		for _, p := range peers {
			up[p.NodeID] = p.Addr
		}
	}
	for kv, err := range nx.Scan([]byte("peer/")) {
		if err != nil {
			break
		}
		id := strings.TrimPrefix(string(kv.Key), "peer/")
		_, linked := up[id]
		s.Peers = append(s.Peers, Peer{ID: id, Addr: string(kv.Value), Up: linked})
		delete(up, id)
	}
	for id, addr := range up {
		s.Peers = append(s.Peers, Peer{ID: id, Addr: addr, Up: true})
	}
	s.Offline = true
	for _, p := range s.Peers {
		s.Offline = s.Offline && !p.Up
	}
	return s
}

func fail(w http.ResponseWriter, err error) {
	// -3 when the node cannot take the write now (a full disk, a full
	// send queue): the page says so and the user tries again.
	http.Error(w, "the node could not do it: "+err.Error(), http.StatusServiceUnavailable)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func main() {}
