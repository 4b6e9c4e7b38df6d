package config

import (
	"errors"

	"github.com/signet-b24/signet/internal/i18n"
)

// Problem is a setting's value that the configuration refuses (Validate, a value of the wrong type),
// worded for people: its Error is the English it always was, for the log and --json, and In words
// it in another language from the catalogue (key "config."+code), which `signet config check` and
// the CLI's refusal to start print (issue 18, must 3). TestProblemsAreInTheCatalogue holds each
// code's catalogue English to the code's own.
type Problem struct {
	i18n.Message
	wrapped error
}

// problem is the Problem code whose English is the format en (verbs %[n]s and %[n]q) with args;
// an error among args is wrapped (errors.Is and errors.As reach it), and a Problem among them is
// worded in the reader's language too.
func problem(code, en string, args ...any) error {
	p := &Problem{}
	for k, a := range args {
		if err, ok := a.(error); ok {
			p.wrapped = err
			var inner *Problem
			if errors.As(err, &inner) && inner == err {
				args[k] = inner.Message
			}
		}
	}
	p.Message = i18n.Say("config."+code, en, args...)
	return p
}

func (p *Problem) Error() string { return p.String() }
func (p *Problem) Unwrap() error { return p.wrapped }

// say is the sentence code of the configuration (i18n.Say, key "config."+code), for a part of a
// Problem.
func say(code, en string, args ...any) i18n.Message { return i18n.Say("config."+code, en, args...) }
