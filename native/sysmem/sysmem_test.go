package sysmem

import (
	"runtime"
	"testing"
)

func TestReadings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	total, rss, peak := TotalMB(-1), RSSMB(), PeakRSSMB()
	if total <= 0 || rss <= 0 || peak < rss || rss > total {
		t.Fatalf("total %d MiB, rss %d, peak %d", total, rss, peak)
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = 1
	}
	if p := PeakRSSMB(); p < 64 {
		t.Errorf("peak %d MiB after touching 64 MiB", p)
	}
	if f := FractionMB(0.5); f != total/2 && f != total/2-1 && f != total/2+1 {
		t.Errorf("half of %d is %d", total, f)
	}
	runtime.KeepAlive(buf)
}
