package pades

// The cache of finished font subsets. Subsetting and compressing the signet's font cost more than
// the rest of a visible signature, yet a signer's signets differ only in the digits of the date and
// time, which are always in the subset (stampRunes). So the subset of one set of characters is
// built once and reused, keyed by the exact characters: a cached font always holds every glyph the
// signet uses.

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// fontCacheSize bounds the cache: a few hundred signers at about 15 KB per subset.
const fontCacheSize = 256

// subsetCache is a mutex-guarded LRU cache; signatures are made in many goroutines at once.
type subsetCache struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element // key → element whose Value is a *fontSubset
	lru   list.List                // front: the most recently used
}

var (
	signetFonts  = newSubsetCache(fontCacheSize)
	subsetBuilds atomic.Int64 // subsets built, i.e. cache misses (for tests)
)

func newSubsetCache(max int) *subsetCache {
	return &subsetCache{max: max, items: map[string]*list.Element{}}
}

// signetSubset returns the font subset for the lines of a signet, from the cache if it can.
func signetSubset(lines []string) (*fontSubset, error) {
	key := signetFontKey(lines)
	fs := signetFonts.get(key)
	if fs == nil {
		t, err := loadFont()
		if err != nil {
			return nil, err
		}
		// Built outside the lock: two goroutines may build the same subset at once; both results
		// are identical and the cache keeps the first.
		if fs, err = newFontSubset(t, key); err != nil {
			return nil, err
		}
		subsetBuilds.Add(1)
		fs = signetFonts.add(fs)
	}
	fs.uses.Add(1)
	return fs, nil
}

// get returns the subset of key, or nil, and marks it as recently used.
func (c *subsetCache) get(key string) *fontSubset {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(e)
	return e.Value.(*fontSubset)
}

// add stores fs unless its key is already there, evicting the least recently used subset when
// full; it returns the subset the cache holds for the key.
func (c *subsetCache) add(fs *fontSubset) *fontSubset {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[fs.key]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*fontSubset)
	}
	c.items[fs.key] = c.lru.PushFront(fs)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.items, old.Value.(*fontSubset).key)
	}
	return fs
}

// peek returns the subset of key without marking it used (for tests).
func (c *subsetCache) peek(key string) *fontSubset {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		return e.Value.(*fontSubset)
	}
	return nil
}
