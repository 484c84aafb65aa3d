package source

// Summaries returns every source's snapshot with its counts per domain and
// project, ordered by source name: exactly what the dump API shows, for the
// status page, so that both read the same snapshot through one function.
func (m *Manager) Summaries() []SourceDump {
	snaps := m.Snapshots()
	out := make([]SourceDump, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, SourceDump{Snapshot: s, Domains: summarize(s.Counts)})
	}
	return out
}
