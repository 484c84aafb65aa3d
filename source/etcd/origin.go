package etcd

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

// origin identifies the etcd the counts were listed from, so that a probe
// can tell when the source is talking to another etcd — typically the same
// one restarted on an empty data directory, which the watch cannot notice:
// it waits, silently, for revisions the new etcd will only reach later, if
// ever, while the old counts stay.
//
// Member ids are not compared: they change on every fail-over between the
// members of a healthy cluster. A wiped etcd started with the same flags
// keeps its cluster and member ids (both are hashes of the configured peer
// URLs and cluster token), so the revision and the raft term, which never
// go backwards in one cluster's life, are what give it away.
type origin struct {
	clusterID uint64
	raftTerm  uint64 // the highest seen
}

func newOrigin(h *etcdserverpb.ResponseHeader) origin {
	return origin{clusterID: h.GetClusterId(), raftTerm: h.GetRaftTerm()}
}

// check compares a probe's response header with the origin. applied is the
// revision the counts had reached before the probe was sent: a
// linearizable read answers at that revision or later.
func (o *origin) check(h *etcdserverpb.ResponseHeader, applied int64) error {
	switch {
	case h == nil:
		return nil
	case h.ClusterId != o.clusterID:
		return fmt.Errorf("etcd cluster id changed from %x to %x", o.clusterID, h.ClusterId)
	case h.Revision < applied:
		return fmt.Errorf("etcd revision went back from %d to %d: etcd lost its data (restarted empty?)", applied, h.Revision)
	case h.RaftTerm < o.raftTerm:
		return fmt.Errorf("etcd raft term went back from %d to %d: etcd lost its data (restarted empty?)", o.raftTerm, h.RaftTerm)
	}
	o.raftTerm = h.RaftTerm
	return nil
}
