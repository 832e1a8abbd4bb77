package state

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/bwmon/bwmon/internal/safename"
	"github.com/bwmon/bwmon/model"
)

// Keys and values of counts, as the store writes them and as it reads
// them back from a file it cannot trust: an older bwmon saved names as the
// kernel gave them (invalid UTF-8, controls, 200 KB), and a file may be
// damaged or edited. Reading makes every key clean or drops it; it never
// fails on one record.

func appKey(name string) string      { return appPrefix + safename.Clean(name) }
func unattKey(r model.Reason) string { return unattPrefix + safename.Clean(string(r)) }

// fwdKey is the key of a pair of forwarding hosts. Addresses hold no "/"
// and neither does a clean inside host, so the first "/" after the prefix
// ends it.
func fwdKey(inside, remote string) string {
	return fwdPrefix + cleanHost(inside) + "/" + safename.Clean(remote)
}

// cleanHost is an inside host as a key holds it: clean, without "/".
func cleanHost(s string) string {
	return strings.ReplaceAll(safename.Clean(s), "/", `\x2f`)
}

func isAppKey(k string) bool { return strings.HasPrefix(k, appPrefix) }

func dateOf(t time.Time, loc *time.Location) string { return t.In(loc).Format(dateLayout) }

// validDate reports whether k names a day: "2006-01-02".
func validDate(k []byte) bool {
	if len(k) != len(dateLayout) {
		return false
	}
	t, err := time.Parse(dateLayout, string(k))
	return err == nil && t.Format(dateLayout) == string(k)
}

// cleanKey returns key as this bwmon writes it: the name of an app or a
// reason, or the hosts of a forwarded pair, passed through
// safename.Clean. ok is false for a key of no known kind, or a forwarded
// or unattributed key without its parts: such a record cannot be served.
func cleanKey(key string) (clean string, ok bool) {
	switch {
	case strings.HasPrefix(key, appPrefix):
		return appKey(key[len(appPrefix):]), true
	case strings.HasPrefix(key, unattPrefix):
		r := key[len(unattPrefix):]
		if r == "" {
			return "", false
		}
		return unattKey(model.Reason(r)), true
	case key == fwdTotalKey:
		return key, true
	case strings.HasPrefix(key, classPrefix):
		class, app, ok := splitClassKey(key)
		if !ok {
			return "", false
		}
		return classKey(class, app), true
	case strings.HasPrefix(key, fwdPrefix):
		inside, remote, ok := strings.Cut(key[len(fwdPrefix):], "/")
		if !ok || inside == "" || remote == "" {
			return "", false
		}
		return fwdKey(inside, remote), true
	}
	return "", false
}

// recordState says what reading one record found.
type recordState int

const (
	recordOK       recordState = iota
	recordRepaired             // its key was not clean: read under the clean one
	recordDropped              // it cannot be decoded: skipped
)

// decodeRecord reads one record of counts: its clean key and its bytes.
func decodeRecord(k, v []byte) (string, model.Totals, recordState) {
	t, err := decodeCounts(v)
	if err != nil {
		return "", t, recordDropped
	}
	key, ok := cleanKey(string(k))
	switch {
	case !ok:
		return "", t, recordDropped
	case key != string(k):
		return key, t, recordRepaired
	}
	return key, t, recordOK
}

// repairs counts what reading a store found wrong.
type repairs struct {
	Repaired int // names made clean (merged with the clean name's counts)
	Dropped  int // records, days or times that could not be decoded
	Folded   int // apps of a day beyond DayApps, folded into OtherApp
}

func (r *repairs) add(s recordState) {
	switch s {
	case recordRepaired:
		r.Repaired++
	case recordDropped:
		r.Dropped++
	}
}

func encodeCounts(t model.Totals) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[:8], t.In)
	binary.BigEndian.PutUint64(b[8:], t.Out)
	return b
}

func decodeCounts(b []byte) (model.Totals, error) {
	if len(b) != 16 {
		return model.Totals{}, fmt.Errorf("counts of %d bytes, want 16", len(b))
	}
	return model.Totals{In: binary.BigEndian.Uint64(b[:8]), Out: binary.BigEndian.Uint64(b[8:])}, nil
}
