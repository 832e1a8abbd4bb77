package state

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/bwmon/bwmon/aggregator"
	"github.com/bwmon/bwmon/model"
)

// The store's layout. Every bucket is at the top level except the days,
// which are nested in bucketDaily under their local date "2006-01-02".
// Keys of counts are an app's name prefixed with "app/", an unattributed
// reason prefixed with "unattributed/", or forwarded bytes (forwarded.go);
// values are two big-endian uint64s,
// bytes in then bytes out.
var (
	bucketMeta   = []byte("meta")
	bucketTotals = []byte("totals")
	bucketDaily  = []byte("daily")

	keyVersion = []byte("version") // schemaVersion, in decimal
	keyCreated = []byte("created") // RFC 3339 time the store began
	keyFlushed = []byte("flushed") // RFC 3339 time of the last flush
)

const schemaVersion = "1"

const (
	appPrefix   = "app/"
	unattPrefix = "unattributed/"
	dateLayout  = "2006-01-02"
)

// FileName is the store's file in the state directory.
const FileName = "bwmon.db"

// LockName is the lock file a running agent holds in the state directory.
const LockName = "bwmon.lock"

// DefaultKeepDays is how many days of daily totals a store keeps.
const DefaultKeepDays = 90

func appKey(name string) string                     { return appPrefix + name }
func unattKey(r model.Reason) string                { return unattPrefix + string(r) }
func dateOf(t time.Time, loc *time.Location) string { return t.In(loc).Format(dateLayout) }

func encodeCounts(t aggregator.Totals) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[:8], t.In)
	binary.BigEndian.PutUint64(b[8:], t.Out)
	return b
}

func decodeCounts(b []byte) (aggregator.Totals, error) {
	if len(b) != 16 {
		return aggregator.Totals{}, fmt.Errorf("counts of %d bytes, want 16", len(b))
	}
	return aggregator.Totals{In: binary.BigEndian.Uint64(b[:8]), Out: binary.BigEndian.Uint64(b[8:])}, nil
}

// counts is a set of byte counts keyed as in the store.
type counts map[string]aggregator.Totals

func (c counts) add(key string, in, out uint64) {
	t := c[key]
	t.In += in
	t.Out += out
	c[key] = t
}

func (c counts) clone() counts {
	out := make(counts, len(c))
	for k, t := range c {
		out[k] = t
	}
	return out
}

func totalsOf(in, out uint64) aggregator.Totals { return aggregator.Totals{In: in, Out: out} }

// split sorts the keys of c into apps and unattributed reasons; keys of
// other kinds (forwarded bytes, or from a later schema) are skipped.
func (c counts) split() (map[string]aggregator.Totals, map[model.Reason]model.UnattributedSum) {
	apps := make(map[string]aggregator.Totals)
	unatt := make(map[model.Reason]model.UnattributedSum)
	for k, t := range c {
		switch {
		case strings.HasPrefix(k, appPrefix):
			apps[strings.TrimPrefix(k, appPrefix)] = t
		case strings.HasPrefix(k, unattPrefix):
			unatt[model.Reason(strings.TrimPrefix(k, unattPrefix))] = model.UnattributedSum{BytesIn: t.In, BytesOut: t.Out}
		}
	}
	return apps, unatt
}
