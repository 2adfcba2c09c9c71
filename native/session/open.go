package session

import (
	"fmt"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/sysmem"
	"github.com/gptailor/gptailor/native/task"
)

// The caches' one default, for every entry point (search, serve, eval,
// plan, prune, workers): the packed-layer cache gets 40 % of the
// machine's memory and the prefix cache a quarter (on a 135M-shaped
// model's 60-trial trace the prefix cache gave 1.23× of a possible 1.26×
// with 6 GiB, 1.07× with 1 GiB).
const (
	defaultCacheFraction  = 0.4
	defaultPrefixFraction = 0.25
)

// DefaultCacheMB is the packed-layer cache's default size in MiB.
func DefaultCacheMB() int { return sysmem.FractionMB(defaultCacheFraction) }

// DefaultPrefixMB is the prefix cache's default size in MiB.
func DefaultPrefixMB() int { return sysmem.FractionMB(defaultPrefixFraction) }

// CacheSizes turns the --cache-mb and --prefix-cache-mb values (< 0: the
// default; prefix 0: off) into FamilyOptions.
func CacheSizes(cacheMB, prefixMB int) FamilyOptions {
	if cacheMB < 0 {
		cacheMB = DefaultCacheMB()
	}
	if prefixMB < 0 {
		prefixMB = DefaultPrefixMB()
	}
	return FamilyOptions{CacheBytes: int64(cacheMB) << 20, PrefixBytes: int64(prefixMB) << 20}
}

// Open opens a family (canonical paths, fingerprint, the caches o sizes,
// refused when the layer cache cannot hold one layer) and the task list
// at tasksPath ("" for none): the session the CLI, the server and eval
// all evaluate through.
func Open(members []model.Member, tasksPath string, o FamilyOptions) (*Session, error) {
	f, err := OpenFamily(members, o)
	if err != nil {
		return nil, err
	}
	if err := CacheFits(f.opts.CacheBytes, f.Base()); err != nil {
		f.Close()
		return nil, err
	}
	var specs []task.Spec
	if tasksPath != "" {
		list, err := task.ReadList(tasksPath)
		if err != nil {
			f.Close()
			return nil, err
		}
		specs = list.Tasks
	}
	return New(f, specs), nil
}

// CacheFits refuses a layer cache that cannot hold one packed layer of the
// base (16-bit when the kernel keeps BF16 weights so and the base is
// BF16); a cache of 0 or less is unbounded.
func CacheFits(cacheBytes int64, base *model.Model) error {
	per := int64(4)
	if dt := base.Tensors.DTypes(); kernel.HalfWeights() && dt[safetensors.BF16]+dt[safetensors.F16] > 0 && dt[safetensors.F32] == 0 {
		per = 2
	}
	layer := base.LayerParams() * per
	if cacheBytes > 0 && cacheBytes < layer {
		return fmt.Errorf("--cache-mb %d cannot hold one packed layer of %s (%d MiB): raise it", cacheBytes>>20, base.Name, (layer+1<<20-1)>>20)
	}
	return nil
}

// LimitMemory sets the collector's soft limit to what a search or an
// evaluation over the session works in (Family.HeapLimit at its tasks'
// longest window): the same for the CLI and the server.
func (s *Session) LimitMemory() {
	seq := 2048
	for _, t := range s.Specs {
		seq = max(seq, t.Seq)
	}
	sysmem.SoftLimit(s.Family.HeapLimit(seq))
}
