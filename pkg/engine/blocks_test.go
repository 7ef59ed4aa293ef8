package engine_test

import (
	"testing"
	"time"
)

// columnarQueries are the segmentQueries that the column index answers from its columns (not
// the tables it reads rows back for: denied, slowest requests, history, events, detections).
var columnarQueries = []int{0, 1, 2, 3, 5, 6, 7, 8, 10}

// TestCutSegmentsFromBlockPartials: a range that moves at each refresh, as a dashboard over
// "the last N hours" does, cuts its first and last segments anew each time. Every query type
// answers as a raw scan does; the columnar ones decode only the index blocks the range cuts,
// and answer the blocks it holds whole from the partials the refreshes before kept of them.
func TestCutSegmentsFromBlockPartials(t *testing.T) {
	r := indexedRunner(t)
	r.index.BlockRows = 64 // many blocks per segment of the small generated log
	r.check("building", segStart.Add(-time.Minute), segStart.Add(4*time.Hour))

	var first map[string]int64 // index bytes decoded at the first cut, by query
	for step := 1; step <= 4; step++ {
		shift := 10*time.Minute + time.Duration(step)*time.Minute
		from, to := segStart.Add(shift), segStart.Add(2*time.Hour+45*time.Minute+shift)
		stats := r.check("moved", from, to)
		if step == 1 {
			first = map[string]int64{}
		}
		for _, i := range columnarQueries {
			raw := segmentQueries[i]
			st := stats[raw].Segments
			if st.Indexed == 0 {
				t.Errorf("step %d, %s: no segment answered from the index: %+v", step, raw, st)
				continue
			}
			if step == 1 {
				first[raw] = st.IndexBytes
				if st.BlocksCached != 0 {
					t.Errorf("step 1, %s: %d blocks from the cache before any cut was kept", raw, st.BlocksCached)
				}
				continue
			}
			if st.BlocksCached == 0 || st.IndexBytes*2 > first[raw] {
				t.Errorf("step %d, %s: %d blocks from the cache, %d index bytes decoded (%d at the first cut)", step, raw, st.BlocksCached, st.IndexBytes, first[raw])
			}
		}
	}
}
