// Package i18n is Signet's one message catalogue (issue 18, must 1): a file of messages per language
// in locales/ (embedded), a Localizer that formats them for one language with that language's plural
// rules, and the helpers that decide which language a reader gets (issue 18, must 2): an HTTP request
// (the `lang` cookie, then Accept-Language), a Bitrix24 portal (LANG of a placement or application
// request, LANGUAGE_ID at install) and the environment of the CLI (LC_ALL, LC_MESSAGES, LANG). English
// is the fallback everywhere.
//
// It is built on golang.org/x/text/message and its catalog: x/text is already in the module, carries
// the CLDR plural rules (Russian one/few/many) and the BCP 47 matcher, and needs no code generation.
// The package knows no domain: keys are plain strings, and the callers (producer, worker, cmd) own
// what they say. How to add a string or a language: docs/i18n.md.
package i18n
