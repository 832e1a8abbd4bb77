package state

import (
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MaxCorruptCopies is how many stores that could not be read a state
// directory keeps (bwmon.db.corrupt-TIME), the newest: a file that keeps
// getting damaged must not fill the disk with copies.
const MaxCorruptCopies = 3

const (
	corruptInfix  = ".corrupt-"
	corruptLayout = "20060102T150405.000Z" // written without the "."
)

// moveAside renames the store to bwmon.db.corrupt-TIME, deletes the
// copies beyond the newest MaxCorruptCopies, and returns the new path.
func (s *Store) moveAside() (string, error) {
	stamp := strings.ReplaceAll(s.opts.Now().UTC().Format(corruptLayout), ".", "")
	name := FileName + corruptInfix + stamp
	if err := s.dir.rename(FileName, name); err != nil {
		return "", err
	}
	s.pruneCorrupt()
	return filepath.Join(s.opts.Dir, name), nil
}

// pruneCorrupt deletes the corrupt copies beyond the newest
// MaxCorruptCopies, and says so. Files whose names only look like copies
// are left alone.
func (s *Store) pruneCorrupt() {
	names, err := s.dir.names()
	if err != nil {
		s.log.Warn("listing the state directory for old corrupt copies", "dir", s.opts.Dir, "err", err)
		return
	}
	var copies []string
	for _, n := range names {
		if isCorruptCopy(n) {
			copies = append(copies, n)
		}
	}
	if len(copies) <= MaxCorruptCopies {
		return
	}
	// The stamps have a fixed width: names sort as times.
	slices.Sort(copies)
	old := copies[:len(copies)-MaxCorruptCopies]
	var deleted []string
	for _, n := range old {
		if err := s.dir.remove(n); err != nil {
			s.log.Warn("deleting an old corrupt state copy", "path", filepath.Join(s.opts.Dir, n), "err", err)
			continue
		}
		deleted = append(deleted, n)
	}
	if len(deleted) > 0 {
		s.log.Warn("deleted older corrupt state copies: a state directory keeps the newest ones",
			"dir", s.opts.Dir, "kept", MaxCorruptCopies, "deleted", strings.Join(deleted, " "))
	}
}

// isCorruptCopy reports whether name is bwmon.db.corrupt-TIME as
// moveAside writes it.
func isCorruptCopy(name string) bool {
	stamp, ok := strings.CutPrefix(name, FileName+corruptInfix)
	if !ok || len(stamp) != len(corruptLayout)-1 {
		return false
	}
	_, err := time.Parse(corruptLayout, stamp[:15]+"."+stamp[15:])
	return err == nil
}
