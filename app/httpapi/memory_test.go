package httpapi_test

import (
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/anb/risingstars/app/store/storetest"
)

// TestLargeUploadKeepsTheHeapSmall uploads a valid MP4 of almost 100 MB and
// samples the heap while it streams: the API must not hold the file.
func TestLargeUploadKeepsTheHeapSmall(t *testing.T) {
	big := padded(t, hd(t), 100<<20-4096)
	e := newEnv(t, storetest.Open(t, "sqlite"), envOptions{noWorker: true})
	token := e.user("ana@example.com", "Ana", "Cali")

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	r := e.upload(token, [2]string{"title", "Grande"}, [2]string{"video_file", big})
	close(stop)
	wg.Wait()
	if r.status != http.StatusCreated {
		t.Fatalf("upload of a 100 MB video: %d %s", r.status, r.body)
	}
	growth := int64(peak) - int64(base.HeapAlloc)
	t.Logf("100 MB upload: heap %.1f MB before, peak %.1f MB, growth %.1f MB (client and server in this process)",
		float64(base.HeapAlloc)/1e6, float64(peak)/1e6, float64(growth)/1e6)
	if growth > 32<<20 {
		t.Fatalf("heap grew by %.1f MB during a 100 MB upload, limit 32 MB", float64(growth)/(1<<20))
	}
}
