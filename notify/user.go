package notify

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"

	"github.com/bwmon/bwmon/model"
)

// User is whom the alert commands run as ([notify_settings] command_user),
// as ResolveUser finds it.
type User struct {
	// Name is the user's name, or "uid N" when it has none; for the log.
	Name string
	// Switch: the agent runs as root and the commands as the user below.
	// False: they keep the agent's user.
	Switch   bool
	UID, GID int
	// Groups are the user's groups, its primary one included.
	Groups []int
	Home   string
}

// DefaultCommandUser is whom the commands run as when bwmon runs as root
// and command_user is not set.
const DefaultCommandUser = "nobody"

// UserDB looks users up: the system's (SystemUsers) or a test's.
type UserDB struct {
	// Lookup finds a user by name (user.Lookup).
	Lookup func(name string) (*user.User, error)
	// LookupID finds a user by uid (user.LookupId).
	LookupID func(uid string) (*user.User, error)
	// GroupIDs lists a user's groups (user.User.GroupIds).
	GroupIDs func(*user.User) ([]string, error)
}

// SystemUsers is the system's user database (os/user).
var SystemUsers = UserDB{Lookup: user.Lookup, LookupID: user.LookupId, GroupIDs: (*user.User).GroupIds}

// commandUserField is the key of command_user in the configuration file.
const commandUserField = "notify_settings.command_user"

func userErrorf(format string, args ...any) error {
	return &model.FieldError{Field: commandUserField, Err: fmt.Errorf(format, args...)}
}

// ResolveUser decides whom the alert commands run as, for an agent running
// with effective uid euid and command_user set to *want (nil: not set),
// looking users up in db. As root: the user named (default
// DefaultCommandUser), which must exist; "root" keeps root. Not root:
// bwmon cannot switch users, so the commands keep its own user, which
// command_user may name (or "root", meaning: the agent's user); another
// user is an error. Errors are *model.FieldError naming command_user.
func ResolveUser(want *string, euid int, db UserDB) (User, error) {
	self := User{Name: "uid " + strconv.Itoa(euid)}
	if u, err := db.LookupID(strconv.Itoa(euid)); err == nil {
		self.Name = u.Username
	}
	name := DefaultCommandUser
	switch {
	case want != nil && *want == "":
		return User{}, userErrorf(`command_user is empty: name the user the alert commands run as (default %q when bwmon runs as root)`, DefaultCommandUser)
	case want != nil:
		name = *want
	case euid != 0:
		return self, nil
	}
	if name == "root" {
		return self, nil
	}
	u, err := db.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return User{}, userErrorf("command_user = %q: no such user: create it, or set command_user to an existing unprivileged user", name)
		}
		return User{}, userErrorf("command_user = %q: looking the user up: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return User{}, userErrorf("command_user = %q: uid %q, gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if uid == euid {
		return self, nil
	}
	if euid != 0 {
		return User{}, userErrorf("command_user = %q: bwmon runs as %s, not root, and cannot switch users: remove command_user (the commands then run as %s, without its capabilities) or run bwmon as root", name, self.Name, self.Name)
	}
	ru := User{Name: u.Username, Switch: true, UID: uid, GID: gid, Home: u.HomeDir, Groups: []int{gid}}
	ids, err := db.GroupIDs(u)
	if err != nil {
		return User{}, userErrorf("command_user = %q: listing the user's groups: %w", name, err)
	}
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err != nil {
			return User{}, userErrorf("command_user = %q: group id %q is not a number", name, s)
		}
		if !slices.Contains(ru.Groups, g) {
			ru.Groups = append(ru.Groups, g)
		}
	}
	return ru, nil
}
