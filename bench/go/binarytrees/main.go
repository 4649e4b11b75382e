// Command binarytrees is the Go twin of bench/binarytrees.c: the Computer
// Language Benchmarks Game's binary-trees program, on one goroutine.
//
// With max = BENCH_BINARYTREES_DEPTH (default 18, at least 6): a stretch tree
// of depth max+1 is built, checked and dropped; a long-lived tree of depth max
// is built and kept; then for d = 4, 6, ..., max, 2^(max-d+4) trees of depth d
// are built, checked and dropped one after the other; finally the long-lived
// tree is checked. A tree of depth d has 2^(d+1)-1 nodes of two pointers
// (16 bytes) and its check is its node count. The usual lines
//
//	stretch tree of depth 19	 check: 1048575
//	262144	 trees of depth 4	 check: 8126464
//	...
//	long lived tree of depth 18	 check: 524287
//
// go to stdout (bench/run.sh keeps only the name= lines), then
//
//	name=binarytrees impl=go metric=<ms> unit=ms stat=time procs=<n> depth=<max> gcs=<k>
//	name=binarytrees impl=go metric=<KiB> unit=KiB stat=peak_rss procs=<n> depth=<max> gcs=<k>
//
// The time runs from the first allocation to the last check line; the peak
// RSS is getrusage's ru_maxrss at the end; gcs= counts the collections. GOMAXPROCS comes from the
// environment (bench/run.sh sets 2): the program is one goroutine, the
// collector's background workers may use the other processors.
//
// Exit 1 when a check differs from the node count it must have.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

const minDepth = 4

type node struct {
	left, right *node
}

func bottomUp(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	return &node{left: bottomUp(depth - 1), right: bottomUp(depth - 1)}
}

func (n *node) check() int64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

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

var failed bool

// verify says on stderr when got is not the expected check.
func verify(what string, got, want int64) {
	if got != want {
		fmt.Fprintf(os.Stderr, "binarytrees: %s: check %d, expected %d\n", what, got, want)
		failed = true
	}
}

func nodes(depth int) int64 { return int64(1)<<uint(depth+1) - 1 }

func main() {
	maxDepth := int(envInt("BENCH_BINARYTREES_DEPTH", 18))
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}
	if maxDepth > 30 {
		fmt.Fprintf(os.Stderr, "binarytrees: depth %d is too large (at most 30)\n", maxDepth)
		os.Exit(2)
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	t0 := time.Now()
	stretch := maxDepth + 1
	c := bottomUp(stretch).check()
	fmt.Printf("stretch tree of depth %d\t check: %d\n", stretch, c)
	verify("stretch tree", c, nodes(stretch))

	longLived := bottomUp(maxDepth)

	for d := minDepth; d <= maxDepth; d += 2 {
		iterations := 1 << uint(maxDepth-d+minDepth)
		var sum int64
		for i := 0; i < iterations; i++ {
			sum += bottomUp(d).check()
		}
		fmt.Printf("%d\t trees of depth %d\t check: %d\n", iterations, d, sum)
		verify(fmt.Sprintf("trees of depth %d", d), sum, int64(iterations)*nodes(d))
	}

	c = longLived.check()
	fmt.Printf("long lived tree of depth %d\t check: %d\n", maxDepth, c)
	verify("long lived tree", c, nodes(maxDepth))
	elapsed := time.Since(t0)

	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	runtime.ReadMemStats(&ms)
	gcs := ms.NumGC - gc0
	procs := runtime.GOMAXPROCS(0)
	fmt.Printf("name=binarytrees impl=go metric=%.1f unit=ms stat=time procs=%d depth=%d gcs=%d\n",
		float64(elapsed.Nanoseconds())/1e6, procs, maxDepth, gcs)
	fmt.Printf("name=binarytrees impl=go metric=%d unit=KiB stat=peak_rss procs=%d depth=%d gcs=%d\n",
		ru.Maxrss, procs, maxDepth, gcs)
	if failed {
		os.Exit(1)
	}
}
