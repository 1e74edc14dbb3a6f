package bench

import (
	"fmt"
	"sort"
	"strings"
)

// requestReport lists the counts of a buckettest.Counting per item, most
// frequent first.
func requestReport(counts map[string]int, items int) string {
	type kv struct {
		k string
		n int
	}
	var all []kv
	total := 0
	for k, n := range counts {
		all = append(all, kv{k, n})
		total += n
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var b strings.Builder
	fmt.Fprintf(&b, "bucket requests per item: %.1f in all\n", float64(total)/float64(items))
	for _, e := range all {
		fmt.Fprintf(&b, "  %-36s %5.2f\n", e.k, float64(e.n)/float64(items))
	}
	return b.String()
}
