// Command pause is the Go twin of bench/pause.c: the stop-the-world pauses of
// full collections with a large live heap, while small objects churn and many
// goroutines are parked.
//
// Setup: 10,000 goroutines block on a channel receive (BENCH_PAUSE_PARKED);
// the main goroutine builds BENCH_PAUSE_MB (default 512) MB of 32-byte nodes
// (two pointers and two words) as one balanced binary tree reachable from a
// global; then a churner goroutine starts allocating 32-byte objects into a
// ring of 4096 (one pointer each, to a sentinel) as fast as it can. After one
// warm-up runtime.GC(), the main goroutine forces BENCH_PAUSE_CYCLES (default
// 5) more, timing each call; before each it spins for BENCH_PAUSE_GAP_MS
// (default 50) calling runtime.Gosched(), as the C twins do, so that the
// churner runs between cycles. Every cycle that completed meanwhile, forced or
// not, gives its pause from MemStats.PauseNs (the sum of the cycle's two
// stop-the-world phases, each including its time to stop). The churner is
// stopped, the parked goroutines released, and the tree walked again: its
// node count and key sum must be intact.
//
//	name=pause impl=go metric=<us> unit=us stat=pause_max procs=<n> live_mb=512 parked=10000 cycles=<k> forced=5 collect_p50_ms=<ms> churn_mb=<MB>
//	name=pause impl=go metric=<us> unit=us stat=pause_p50 ...
//
// collect_p50_ms= is the median wall time of one runtime.GC() call (mark and
// sweep of the whole heap, mostly concurrent); churn_mb= what the churner
// allocated during the measurement (the gaps and the forced cycles). GOMAXPROCS comes from the environment
// (bench/run.sh sets 2).
//
// Exit 1 when the tree is damaged, or more cycles ran than the PauseNs ring
// holds.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type node struct {
	left, right *node
	key, pad    int64
}

type churnObj struct {
	p         *churnObj
	seq, a, b int64
}

const churnRing = 4096

var (
	root       *node
	churnSlots []*churnObj
	stopChurn  int32
	churned    int64
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

// build makes a balanced tree of n nodes whose keys are *next, *next+1, ...
// in preorder.
func build(n int64, next *int64) *node {
	if n == 0 {
		return nil
	}
	nd := &node{key: *next}
	*next++
	l := (n - 1) / 2
	nd.left = build(l, next)
	nd.right = build(n-1-l, next)
	return nd
}

func walk(nd *node, count, sum *int64) {
	for nd != nil {
		*count++
		*sum += nd.key
		walk(nd.left, count, sum)
		nd = nd.right
	}
}

func churn(done *sync.WaitGroup) {
	defer done.Done()
	sentinel := new(churnObj)
	var i int64
	for atomic.LoadInt32(&stopChurn) == 0 {
		for j := 0; j < 1024; j++ {
			o := new(churnObj)
			o.p = sentinel
			o.seq = i
			churnSlots[i&(churnRing-1)] = o
			i++
		}
		atomic.StoreInt64(&churned, i)
	}
}

func main() {
	liveMB := envInt("BENCH_PAUSE_MB", 512)
	nparked := int(envInt("BENCH_PAUSE_PARKED", 10000))
	forced := int(envInt("BENCH_PAUSE_CYCLES", 5))
	gap := time.Duration(envInt("BENCH_PAUSE_GAP_MS", 50)) * time.Millisecond
	nodes := liveMB << 20 / 32

	var parked, finished sync.WaitGroup
	parked.Add(nparked)
	finished.Add(nparked)
	gate := make(chan struct{})
	for i := 0; i < nparked; i++ {
		go func() {
			parked.Done()
			<-gate
			finished.Done()
		}()
	}
	parked.Wait()

	var next int64
	root = build(nodes, &next)

	churnSlots = make([]*churnObj, churnRing)
	var churnDone sync.WaitGroup
	churnDone.Add(1)
	go churn(&churnDone)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n0 := ms.NumGC
	c0 := atomic.LoadInt64(&churned)
	walls := make([]time.Duration, forced)
	for k := 0; k < forced; k++ {
		for until := time.Now().Add(gap); time.Now().Before(until); {
			runtime.Gosched()
		}
		t0 := time.Now()
		runtime.GC()
		walls[k] = time.Since(t0)
	}
	runtime.ReadMemStats(&ms)
	n1 := ms.NumGC
	c1 := atomic.LoadInt64(&churned)
	atomic.StoreInt32(&stopChurn, 1)
	churnDone.Wait()
	close(gate)
	finished.Wait()

	var count, sum int64
	walk(root, &count, &sum)
	if count != nodes || sum != nodes*(nodes-1)/2 {
		fmt.Fprintf(os.Stderr, "pause: the tree has %d nodes with key sum %d, expected %d and %d\n",
			count, sum, nodes, nodes*(nodes-1)/2)
		os.Exit(1)
	}
	if n1-n0 > 256 || n1 == n0 {
		fmt.Fprintf(os.Stderr, "pause: %d cycles ran during the measurement: cannot read their pauses\n", n1-n0)
		os.Exit(1)
	}
	pauses := make([]uint64, 0, n1-n0)
	for k := n0 + 1; k <= n1; k++ {
		pauses = append(pauses, ms.PauseNs[(k+255)%256])
	}
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	p50 := pauses[(len(pauses)-1)/2]
	max := pauses[len(pauses)-1]
	wall50 := walls[(len(walls)-1)/2]

	procs := runtime.GOMAXPROCS(0)
	rest := fmt.Sprintf("procs=%d live_mb=%d parked=%d cycles=%d forced=%d collect_p50_ms=%.1f churn_mb=%d",
		procs, liveMB, nparked, n1-n0, forced, float64(wall50.Nanoseconds())/1e6, (c1-c0)*32>>20)
	fmt.Printf("name=pause impl=go metric=%.1f unit=us stat=pause_max %s\n", float64(max)/1e3, rest)
	fmt.Printf("name=pause impl=go metric=%.1f unit=us stat=pause_p50 %s\n", float64(p50)/1e3, rest)
}
