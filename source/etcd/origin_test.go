package etcd

import (
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

func TestOriginCheck(t *testing.T) {
	listed := &etcdserverpb.ResponseHeader{ClusterId: 7, MemberId: 1, Revision: 100, RaftTerm: 5}
	for _, tt := range []struct {
		name    string
		probe   *etcdserverpb.ResponseHeader
		applied int64
		want    string // "" for no error
	}{
		{"same etcd, later revision", &etcdserverpb.ResponseHeader{ClusterId: 7, MemberId: 1, Revision: 120, RaftTerm: 5}, 110, ""},
		{"another member of the cluster, new term", &etcdserverpb.ResponseHeader{ClusterId: 7, MemberId: 2, Revision: 110, RaftTerm: 6}, 110, ""},
		{"another cluster", &etcdserverpb.ResponseHeader{ClusterId: 8, MemberId: 1, Revision: 500, RaftTerm: 9}, 110, "cluster id changed"},
		{"revision went back", &etcdserverpb.ResponseHeader{ClusterId: 7, MemberId: 1, Revision: 12, RaftTerm: 5}, 110, "revision went back from 110 to 12"},
		{"term went back", &etcdserverpb.ResponseHeader{ClusterId: 7, MemberId: 1, Revision: 150, RaftTerm: 2}, 110, "raft term went back from 5 to 2"},
		{"no header", nil, 110, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(listed)
			err := o.check(tt.probe, tt.applied)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("check: %v, want %q", err, tt.want)
			}
		})
	}
	// The highest term seen is kept: a later lower one is a loss.
	o := newOrigin(listed)
	_ = o.check(&etcdserverpb.ResponseHeader{ClusterId: 7, Revision: 100, RaftTerm: 8}, 100)
	if err := o.check(&etcdserverpb.ResponseHeader{ClusterId: 7, Revision: 100, RaftTerm: 6}, 100); err == nil {
		t.Error("term 8 then 6 not reported")
	}
}
