package servicecenter

import (
	"cmp"
	"hash/maphash"
	"slices"

	"github.com/servicecomb/servicecomb_exporter/registry"
)

// instanceID is one instance of a poll: a 64-bit hash of its key and the
// index of its domain and project. 16 bytes an instance: the compact id set
// issue #11 allows the REST source, which serves registries small enough to
// dump (the etcd source keeps nothing per instance and counts from its
// watch instead).
type instanceID struct {
	hash uint64
	dp   uint32 // index into instanceSet.dps
}

// instanceSet is what the source remembers of the last successful poll's
// instances, to count registrations and deregistrations as the difference
// between two polls. It belongs to the poll goroutine.
type instanceSet struct {
	layout  registry.Layout
	seed    maphash.Seed
	dps     []registry.DomainProject
	dpIndex map[registry.DomainProject]uint32
	last    []instanceID // sorted by hash; nil before the first poll
	polled  bool
}

func newInstanceSet(layout registry.Layout) instanceSet {
	return instanceSet{layout: layout, seed: maphash.MakeSeed(), dpIndex: map[registry.DomainProject]uint32{}}
}

// id returns the id of an instance key; false for a key that does not fit
// the layout (it is no instance, and a decode error already).
func (s *instanceSet) id(key []byte) (instanceID, bool) {
	k, err := s.layout.Parse(key)
	if err != nil || k.Kind != registry.KindInstance {
		return instanceID{}, false
	}
	dp := registry.DomainProject{Domain: k.Domain, Project: k.Project}
	i, ok := s.dpIndex[dp]
	if !ok {
		i = uint32(len(s.dps))
		s.dps = append(s.dps, dp)
		s.dpIndex[dp] = i
	}
	return instanceID{hash: maphash.Bytes(s.seed, key), dp: i}, true
}

// replace makes ids the last poll's instances and counts the difference
// with the previous poll in churn. The first poll counts nothing: the
// registry as found is no registration.
func (s *instanceSet) replace(ids []instanceID, churn *registry.ChurnCounter) {
	slices.SortFunc(ids, func(a, b instanceID) int { return cmp.Compare(a.hash, b.hash) })
	ids = slices.CompactFunc(ids, func(a, b instanceID) bool { return a.hash == b.hash })
	if s.polled {
		added, removed := map[uint32]uint64{}, map[uint32]uint64{}
		old := s.last
		i, j := 0, 0
		for i < len(old) || j < len(ids) {
			switch {
			case j == len(ids) || (i < len(old) && old[i].hash < ids[j].hash):
				removed[old[i].dp]++
				i++
			case i == len(old) || ids[j].hash < old[i].hash:
				added[ids[j].dp]++
				j++
			default: // in both polls
				i++
				j++
			}
		}
		for dp, n := range added {
			churn.Add(s.dps[dp], n, 0)
		}
		for dp, n := range removed {
			churn.Add(s.dps[dp], 0, n)
		}
	}
	s.last, s.polled = slices.Clip(ids), true
}
