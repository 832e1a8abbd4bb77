package state

import (
	"math"
	"strings"

	"github.com/bwmon/bwmon/model"
)

// The store's layout. Every bucket is at the top level except the days,
// which are nested in bucketDaily under their local date "2006-01-02".
// Keys of counts are an app's name prefixed with "app/", an unattributed
// reason prefixed with "unattributed/", or forwarded bytes (forwarded.go),
// the names in them clean (keys.go); values are two big-endian uint64s,
// bytes in then bytes out. Each day holds at most Options.DayApps apps by
// name, plus OtherApp.
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

// counts is a set of byte counts keyed as in the store.
type counts map[string]model.Totals

// add adds in and out to key's counts, saturating: a damaged file's
// counts never wrap around to small ones.
func (c counts) add(key string, in, out uint64) {
	c[key] = plus(c[key], totalsOf(in, out))
}

// plus is a+b, each direction saturating (see counts.add).
func plus(a, b model.Totals) model.Totals {
	return model.Totals{In: satAdd(a.In, b.In), Out: satAdd(a.Out, b.Out)}
}

func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

// satSub is a-b, or 0 when b is larger.
func satSub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

func (c counts) clone() counts {
	out := make(counts, len(c))
	for k, t := range c {
		out[k] = t
	}
	return out
}

func totalsOf(in, out uint64) model.Totals { return model.Totals{In: in, Out: out} }

// split sorts the keys of c into apps and unattributed reasons; keys of
// other kinds (forwarded bytes, or from a later schema) are skipped.
func (c counts) split() (map[string]model.Totals, map[model.Reason]model.UnattributedSum) {
	apps := make(map[string]model.Totals)
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
