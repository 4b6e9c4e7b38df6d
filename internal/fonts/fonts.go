// Package fonts holds the one font Signet draws text with: DejaVu Sans (Debian fonts-dejavu-core,
// licence in LICENSE-DejaVu.txt), which covers Latin, Cyrillic and Greek, so every signer name
// renders. It is embedded once for the binary; the packages that draw text take it from here.
package fonts

import _ "embed"

// DejaVuSans is the TrueType file. Callers must not modify it.
//
//go:embed DejaVuSans.ttf
var DejaVuSans []byte
