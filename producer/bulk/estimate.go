package bulk

import (
	"math"
	"time"
)

// Mode is where the signed PDFs go.
type Mode string

const (
	// ModeReplace puts each signed PDF back into its item (crm.item.update or disk.file.uploadversion):
	// one REST request per document, as uploads cannot go inside `batch` (reference §7).
	ModeReplace Mode = "replace"
	// ModeLink keeps the signed PDFs in Signet's storage and writes only a link and the status into
	// the items, 50 items per `batch` request (reference §7).
	ModeLink Mode = "link"
)

// writeBack is the mode as a job carries it (contracts.WriteBack): empty replaces.
func (m Mode) writeBack() string {
	if m == ModeLink {
		return string(ModeLink)
	}
	return ""
}

// batchSize is the most commands one `batch` request carries (reference §7).
const batchSize = 50

// Budget is what a bulk run costs the portal's REST budget.
type Budget struct {
	Documents int
	Mode      Mode
	Requests  int           // REST requests that write the results back
	Duration  time.Duration // Requests at the plan's drain rate
}

// Estimate is the portal-budget cost of writing n signed documents back in mode at ratePerSec (the
// plan's drain rate, reference §8.1: 2/s for most plans, 5/s for Enterprise). 10,000 documents at
// 2/s in ModeReplace are 10,000 requests, about 83 minutes, whatever Signet's own speed.
func Estimate(n int, mode Mode, ratePerSec float64) Budget {
	if ratePerSec <= 0 {
		ratePerSec = 2
	}
	b := Budget{Documents: n, Mode: mode, Requests: n}
	if mode == ModeLink {
		b.Requests = (n + batchSize - 1) / batchSize
	}
	b.Duration = time.Duration(math.Ceil(float64(b.Requests)/ratePerSec)) * time.Second
	return b
}
