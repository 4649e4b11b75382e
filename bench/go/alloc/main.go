// Command alloc is the Go twin of bench/alloc.c: allocation throughput for
// 16-, 64- and 256-byte objects, collections included.
//
// For each size, one goroutine allocates N objects (BENCH_ALLOC_N for all
// three; default 40,000,000 of 16 bytes, 16,000,000 of 64 bytes and 5,000,000
// of 256 bytes, about a second each for Go here), each a struct whose
// first word is a pointer (so the object is scanned, as gort's typed objects
// are) and whose second word is its sequence number. Each object's pointer is
// set to one long-lived sentinel object, and the object is stored into a ring
// of 1024 slots (a heap slice) that keeps the last 1024 alive, so the
// collector has something to mark and runs as the heap grows. A warm-up of
// N/10 objects precedes the timed loop. The metric is the elapsed time of the
// timed loop divided by N; gcs= is the number of cycles that ran meanwhile.
//
//	name=alloc impl=go metric=<ns> unit=ns/object procs=<n> size=16 objects=<N> gcs=<k>
//
// GOMAXPROCS comes from the environment (bench/run.sh sets 2).
//
// Exit 1 when the ring does not hold the last 1024 objects with their
// sentinel pointer afterwards.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

const ringSize = 1024

type obj16 struct {
	p   *obj16
	seq int64
}

type obj64 struct {
	p   *obj64
	seq int64
	_   [6]int64
}

type obj256 struct {
	p   *obj256
	seq int64
	_   [30]int64
}

var (
	ring16  []*obj16
	ring64  []*obj64
	ring256 []*obj256
)

func envInt(name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "bench: ignoring %s=%s (want a positive integer)\n", name, s)
		return def
	}
	return v
}

func numGC() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

// The three loops are the same but for the type (the sizes must be
// constants of the types, so no generic function would do).

func loop16(n int64, sentinel *obj16) {
	for i := int64(0); i < n; i++ {
		o := new(obj16)
		o.p = sentinel
		o.seq = i
		ring16[i&(ringSize-1)] = o
	}
}

func loop64(n int64, sentinel *obj64) {
	for i := int64(0); i < n; i++ {
		o := new(obj64)
		o.p = sentinel
		o.seq = i
		ring64[i&(ringSize-1)] = o
	}
}

func loop256(n int64, sentinel *obj256) {
	for i := int64(0); i < n; i++ {
		o := new(obj256)
		o.p = sentinel
		o.seq = i
		ring256[i&(ringSize-1)] = o
	}
}

// verify checks that slot k holds, with its sentinel pointer, the one of the
// last 1024 objects whose seq is k mod 1024.
func verify(size int, n int64, p func(k int) (bool, int64)) bool {
	for k := 0; k < ringSize && int64(k) < n; k++ {
		ok, seq := p(k)
		if !ok || seq&(ringSize-1) != int64(k) || seq < n-ringSize || seq >= n {
			fmt.Fprintf(os.Stderr, "alloc: size %d: ring slot %d holds seq %d (sentinel ok: %v), expected one of the last %d of %d\n",
				size, k, seq, ok, ringSize, n)
			return false
		}
	}
	return true
}

func report(size int, n int64, elapsed time.Duration, gcs uint32) {
	fmt.Printf("name=alloc impl=go metric=%.2f unit=ns/object procs=%d size=%d objects=%d gcs=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), runtime.GOMAXPROCS(0), size, n, gcs)
}

func main() {
	n16 := envInt("BENCH_ALLOC_N", 40000000)
	n64 := envInt("BENCH_ALLOC_N", 16000000)
	n256 := envInt("BENCH_ALLOC_N", 5000000)
	ok := true

	{
		ring16 = make([]*obj16, ringSize)
		s := new(obj16)
		loop16(n16/10, s)
		g0 := numGC()
		t0 := time.Now()
		loop16(n16, s)
		el := time.Since(t0)
		report(16, n16, el, numGC()-g0)
		ok = verify(16, n16, func(k int) (bool, int64) { return ring16[k].p == s, ring16[k].seq }) && ok
		ring16 = nil
	}
	{
		ring64 = make([]*obj64, ringSize)
		s := new(obj64)
		loop64(n64/10, s)
		g0 := numGC()
		t0 := time.Now()
		loop64(n64, s)
		el := time.Since(t0)
		report(64, n64, el, numGC()-g0)
		ok = verify(64, n64, func(k int) (bool, int64) { return ring64[k].p == s, ring64[k].seq }) && ok
		ring64 = nil
	}
	{
		ring256 = make([]*obj256, ringSize)
		s := new(obj256)
		loop256(n256/10, s)
		g0 := numGC()
		t0 := time.Now()
		loop256(n256, s)
		el := time.Since(t0)
		report(256, n256, el, numGC()-g0)
		ok = verify(256, n256, func(k int) (bool, int64) { return ring256[k].p == s, ring256[k].seq }) && ok
		ring256 = nil
	}
	if !ok {
		os.Exit(1)
	}
}
