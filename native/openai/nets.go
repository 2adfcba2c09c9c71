package openai

import (
	"sync"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/session"
)

// netCache keeps the last max nets built, by recipe (the same plan under
// two ids — a trial and RUN/best — is one net), least recently used
// evicted. Building is cheap when the family's layer cache holds the
// layers (merged ones included); the bound keeps a server that is asked
// for many trials from holding a net per trial.
type netCache struct {
	fam  *session.Family
	max  int
	mu   sync.Mutex
	nets map[string]*engine.Net
	use  []string // least recently used first
	// built counts nets built (for tests and diagnostics).
	built int
}

func newNetCache(f *session.Family, max int) *netCache {
	return &netCache{fam: f, max: max, nets: map[string]*engine.Net{}}
}

// get returns the target's net, building it if needed.
func (c *netCache) get(t session.Target) (*engine.Net, error) {
	key := session.JobID(t, 0, 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nets[key]; ok {
		c.touch(key)
		return n, nil
	}
	n, err := c.fam.Net(t)
	if err != nil {
		return nil, err
	}
	c.built++
	for len(c.use) >= c.max {
		delete(c.nets, c.use[0])
		c.use = c.use[1:]
	}
	c.nets[key] = n
	c.use = append(c.use, key)
	return n, nil
}

func (c *netCache) touch(key string) {
	for i, k := range c.use {
		if k == key {
			c.use = append(append(c.use[:i:i], c.use[i+1:]...), key)
			return
		}
	}
}
