package model

import (
	"errors"
	"fmt"
)

// FieldError is a configuration value a package's Validate refuses. Field
// names it as the configuration file does, relative to the table the
// package's Config stands for ("window", "notify.2.app"; "" for the table
// itself), so that internal/config can say on which line it stands; Err
// says what is wrong and how to fix it.
type FieldError struct {
	Field string
	Err   error
}

// Error returns "FIELD: what is wrong", or only what is wrong when the
// error is about the table itself.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

// Unwrap returns what is wrong.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrorf returns a *FieldError for field whose message format makes.
func FieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// InField puts the field of err under prefix: a Config that holds another
// (aggregator.Config's Limits, under "limits") names the fields of the one
// it holds by their full name. An error that is no *FieldError is blamed
// on prefix itself; nil stays nil.
func InField(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		return &FieldError{Field: prefix, Err: err}
	}
	field := fe.Field
	switch {
	case prefix == "":
	case field == "":
		field = prefix
	default:
		field = prefix + "." + field
	}
	return &FieldError{Field: field, Err: fe.Err}
}

// ErrEmptyRegex is an empty regex in a filter or a rule: it would match
// every name, which no one who writes one means.
var ErrEmptyRegex = errors.New("empty regex matches everything; remove it or write what to match")
