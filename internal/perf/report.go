// Package perf runs Numax's load scenarios (`nx bench`) and writes their
// reports: schema-versioned JSON with the machine, Go version, revision,
// profile and exact command, a Markdown summary, and a regression check
// against a committed baseline.
//
// Scenarios measure; they never assert. Targets are recorded with each
// figure and reported as met or missed.
package perf

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// SchemaVersion is the report format version.
const SchemaVersion = 1

// Kind says which direction is better for a metric.
type Kind string

const (
	// Throughput: higher is better (regression if below 90% of baseline).
	Throughput Kind = "throughput"
	// Latency: lower is better (regression if above 120% of baseline).
	Latency Kind = "latency"
	// Info: reported, never compared.
	Info Kind = "info"
)

// Metric is one figure of a report.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Kind  Kind    `json:"kind"`
	// Target, if set, is what the spec asks: ">= 300000", "<= 20".
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
}

// Machine describes where a report was made.
type Machine struct {
	Cores       int    `json:"cores"`
	MemoryBytes uint64 `json:"memory_bytes"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	GoVersion   string `json:"go_version"`
	GitRevision string `json:"git_revision"`
}

// Report is one scenario run.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Scenario      string    `json:"scenario"`
	Profile       string    `json:"profile"`
	Command       string    `json:"command"`
	StartedAt     time.Time `json:"started_at"`
	Seconds       float64   `json:"seconds"`
	Machine       Machine   `json:"machine"`
	Metrics       []Metric  `json:"metrics"`
	Notes         []string  `json:"notes,omitempty"`
}

// Add records a metric; target is "" or "OP VALUE" with OP >= or <=.
func (r *Report) Add(name string, value float64, unit string, kind Kind, target string) {
	m := Metric{Name: name, Value: value, Unit: unit, Kind: kind, Target: target}
	if target != "" {
		var op string
		var want float64
		if _, err := fmt.Sscanf(target, "%s %g", &op, &want); err == nil {
			met := (op == ">=" && value >= want) || (op == "<=" && value <= want)
			m.Met = &met
		}
	}
	r.Metrics = append(r.Metrics, m)
}

// Note adds a line of context.
func (r *Report) Note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// DescribeMachine reads this machine's facts.
func DescribeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb uint64
		for _, line := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				m.MemoryBytes = kb << 10
				break
			}
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.GitRevision = strings.TrimSpace(string(out))
	}
	return m
}

// WriteJSON writes the report.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadReport reads a report and refuses an unknown schema version.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s: report schema version %d, this nx reads %d", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// Markdown renders a summary table.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s (%s profile)\n\n", r.Scenario, r.Profile)
	fmt.Fprintf(&b, "`%s` on %d cores, %.1f GiB, %s, rev %s, %s\n\n", r.Command, r.Machine.Cores,
		float64(r.Machine.MemoryBytes)/(1<<30), r.Machine.GoVersion, r.Machine.GitRevision, r.StartedAt.UTC().Format(time.RFC3339))
	b.WriteString("| metric | value | target | met |\n|---|---:|---|---|\n")
	for _, m := range r.Metrics {
		met := ""
		if m.Met != nil {
			met = map[bool]string{true: "yes", false: "**missed**"}[*m.Met]
		}
		fmt.Fprintf(&b, "| %s | %.4g %s | %s | %s |\n", m.Name, m.Value, m.Unit, m.Target, met)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	return b.String()
}

// Regressions compares r with a baseline of the same scenario: throughput
// below 90% or latency above 120% of the baseline's value.
func Regressions(r, base *Report) []string {
	old := map[string]Metric{}
	for _, m := range base.Metrics {
		old[m.Name] = m
	}
	var out []string
	for _, m := range r.Metrics {
		b, ok := old[m.Name]
		if !ok || b.Value == 0 {
			continue
		}
		switch m.Kind {
		case Throughput:
			if m.Value < 0.9*b.Value {
				out = append(out, fmt.Sprintf("%s: %.4g %s, baseline %.4g (-%.0f%%, limit -10%%)", m.Name, m.Value, m.Unit, b.Value, 100*(1-m.Value/b.Value)))
			}
		case Latency:
			if m.Value > 1.2*b.Value {
				out = append(out, fmt.Sprintf("%s: %.4g %s, baseline %.4g (+%.0f%%, limit +20%%)", m.Name, m.Value, m.Unit, b.Value, 100*(m.Value/b.Value-1)))
			}
		}
	}
	return out
}
