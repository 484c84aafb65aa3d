package simulator

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Kinds of generated ids: each has its own sequence.
const (
	idService uint64 = iota + 1
	idInstance
	idGlobal
)

const golden = 0x9e3779b97f4a7c15

// mix64 is SplitMix64's finalizer: a bijection on uint64 that scrambles well.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// makeID returns the n-th id of a kind as nbytes (≤ 24) of hex. Ids depend
// only on (seed, kind, n), not on the order in which they are made, and the
// first 8 bytes are a bijection of n, so that ids of a kind never collide
// within a seed.
func makeID(seed int64, kind, n uint64, nbytes int) string {
	var buf [24]byte
	base := mix64(uint64(seed) + kind*golden)
	word := mix64(base ^ (n * golden))
	for i := 0; i < nbytes; i += 8 {
		binary.BigEndian.PutUint64(buf[i:], word)
		word = mix64(word + golden)
	}
	return hex.EncodeToString(buf[:nbytes])
}

// serviceID is 40 hex digits, like the ids in a recorded registry.
func serviceID(seed int64, kind, n uint64) string { return makeID(seed, kind, n, 20) }

// instanceID is 32 hex digits: a UUID without dashes, as Service Center
// makes them.
func instanceID(seed int64, n uint64) string { return makeID(seed, idInstance, n, 16) }

func domainName(i int) string {
	if i == 0 {
		return "default"
	}
	return "tenant-" + strconv.Itoa(i)
}

func projectName(i int) string {
	if i == 0 {
		return "default"
	}
	return "proj-" + strconv.Itoa(i)
}

// serviceName is unique within a project for each ordinal: the first dozen
// read like a shop ("order-svc"), later ones get a round suffix.
func serviceName(ordinal int) string {
	bases := [...]string{
		"order", "payment", "user", "inventory", "shipping", "catalog",
		"cart", "review", "search", "auth", "notification", "gateway",
	}
	base := bases[ordinal%len(bases)] + "-svc"
	if round := ordinal / len(bases); round > 0 {
		return base + "-" + strconv.Itoa(round+1)
	}
	return base
}

// endpoint gives every instance serial its own address (unique up to 2^24).
func endpoint(serial uint64) string {
	return fmt.Sprintf("rest://10.%d.%d.%d:8080", (serial>>16)&0xff, (serial>>8)&0xff, serial&0xff)
}
